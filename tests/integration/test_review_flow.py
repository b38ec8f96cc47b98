"""Many pending reviews, which one :ZekeApply picks, and its refusals, in a real Neovim.

Every pending change shares one review window (a split below the answer, a float when
there is no room), the cursor stays where the user was, and `]r` / `[r` reach every
pending change. :ZekeApply / :ZekeReject act on the change of the current window (its
review buffer, or the newest one for the current buffer), else the newest, and say
which. A buffer that cannot take the change gets a plain message; a closed source
buffer is read again from its file.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import pynvim
import pytest

import kit
from fakes import omen as fo
from nvimharness import STABLE, every_build, wait_for

SOURCE = """\
import os


def total(xs):
    s = 0
    for x in xs:
        s += x
    return s


def other():
    return 1
"""
# lines 4-8 (1-based) are total(), lines 11-12 other()
TOTAL_ANSWER = "```python\ndef total(xs):\n    return sum(xs)\n```"
OTHER_ANSWER = "```python\ndef other():\n    return 2\n```"

DEFAULT_BUILDS = [STABLE]  # the key tests run on every build (@every_build)

ERROR = 4  # vim.log.levels.ERROR


start = functools.partial(kit.start, text=SOURCE, filetype="python", notes=True)
SMALL = (24, 80)  # lines, columns: no room for many splits


def with_total_replaced() -> list[str]:
    """SOURCE's lines with total() replaced by the answer's: computed here, by hand."""
    lines = SOURCE.splitlines()
    return [*lines[:3], "def total(xs):", "    return sum(xs)", *lines[8:]]


def with_other_replaced() -> list[str]:
    lines = SOURCE.splitlines()
    return [*lines[:11], "    return 2"]


def ask(nv, command: str) -> dict[str, Any]:
    nv.cmd(command)
    last = nv.wait_done()
    assert last["state"] == "done", last
    return last


def run(nv, command: str) -> dict[str, Any]:
    """Run a command and wait for its outcome: the first message it gives."""
    before = len(nv.notes())
    # an error message given at once reaches the RPC caller as an error: it is in the notes
    with contextlib.suppress(pynvim.NvimError):
        nv.cmd(command)
    return wait_for(
        lambda: (nv.notes()[before:] or [None])[0], message=f"the outcome of :{command}"
    )


def pending_ids(nv) -> list[str]:
    return sorted(nv.lua("return vim.tbl_keys(require('zeke.review').pending)"))


def review_windows(nv) -> list[dict[str, Any]]:
    """Every window of this tab showing a review buffer: which change, its text, float?"""
    return nv.lua(
        """
        local out = {}
        for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
          local b = vim.api.nvim_win_get_buf(w)
          local id = not vim.b[b].zeke_consent and vim.b[b].zeke_review
          if id then
            table.insert(out, {
              win = w,
              id = id,
              lines = vim.api.nvim_buf_get_lines(b, 0, -1, false),
              float = vim.api.nvim_win_get_config(w).relative ~= '',
            })
          end
        end
        return out
        """
    )


def the_review_window(nv) -> dict[str, Any]:
    wins = review_windows(nv)
    assert len(wins) == 1, wins
    return wins[0]


def current_win(nv) -> int:
    return nv.lua("return vim.api.nvim_get_current_win()")


def no_errors(nv) -> None:
    assert "E36" not in nv.messages()
    errors = [n for n in nv.notes() if n["level"] >= ERROR]
    assert errors == [], errors


# Item 9: reviews share one window --------------------------------------------------


@every_build
def test_fifteen_pending_reviews_share_one_window_and_each_is_reachable(make_nvim, omen, project):
    count = 15
    omen.queue(
        *[
            fo.stream(f"```python\ndef total(xs):\n    return sum(xs) + {i}\n```")
            for i in range(count)
        ]
    )
    nv = start(make_nvim, omen, project, size=SMALL)
    here = current_win(nv)
    ids = []
    for i in range(count):
        ids.append(ask(nv, "4,8ZekeRefactor")["id"])
        # the newest is shown, in the one review window; the cursor did not move
        shown = the_review_window(nv)
        assert shown["id"] == ids[-1]
        assert f"+    return sum(xs) + {i}" in shown["lines"]
        if i > 0:
            assert f"change {i + 1} of {i + 1} pending" in shown["lines"][0], shown["lines"]
        assert current_win(nv) == here
    assert len(pending_ids(nv)) == count
    no_errors(nv)

    # from the review window, [r goes back through every one of them, ]r forward
    nv.lua("vim.api.nvim_set_current_win(...)", the_review_window(nv)["win"])
    seen = [the_review_window(nv)["id"]]
    for _ in range(count - 1):
        nv.cmd("normal [r")
        seen.append(the_review_window(nv)["id"])
    assert seen == ids[::-1]
    shown = the_review_window(nv)
    assert "+    return sum(xs) + 0" in shown["lines"]
    assert f"change 1 of {count} pending" in shown["lines"][0]
    nv.cmd("normal [r")  # round again: the newest
    assert the_review_window(nv)["id"] == ids[-1]
    nv.cmd("normal ]r")
    assert the_review_window(nv)["id"] == ids[0]
    no_errors(nv)


def test_no_room_for_a_split_the_review_floats(make_nvim, omen, project):
    omen.queue(fo.stream(TOTAL_ANSWER), fo.stream(OTHER_ANSWER))
    nv = start(make_nvim, omen, project, size=SMALL)
    here = current_win(nv)
    ask(nv, "4,8ZekeRefactor")
    # close the review window, then fill the answer window's column with splits
    nv.lua("vim.api.nvim_win_close(..., true)", the_review_window(nv)["win"])
    nv.lua(
        """
        local here = vim.api.nvim_get_current_win()
        vim.api.nvim_set_current_win(require('zeke.scratch').find_window())
        while pcall(vim.cmd, 'split') do end
        vim.api.nvim_set_current_win(here)
        """
    )
    nv.cmd("messages clear")
    last = ask(nv, "11,12ZekeRefactor")
    shown = the_review_window(nv)
    assert shown["id"] == last["id"] and shown["float"] is True
    assert "+    return 2" in shown["lines"]
    assert current_win(nv) == here
    no_errors(nv)
    # and it works from there
    nv.lua("vim.api.nvim_set_current_win(...)", shown["win"])
    outcome = run(nv, "ZekeApply")
    assert "applied 1 of 1 hunk to calc.py (lines 11–12)" in outcome["msg"], outcome
    assert nv.buf_lines(project / "calc.py") == with_other_replaced()


def test_q_closes_the_review_window_and_zekereview_shows_it_again(make_nvim, omen, project):
    omen.queue(fo.stream(TOTAL_ANSWER), fo.stream(OTHER_ANSWER))
    nv = start(make_nvim, omen, project)
    first = ask(nv, "4,8ZekeRefactor")["id"]
    second = ask(nv, "11,12ZekeRefactor")["id"]
    nv.lua("vim.api.nvim_set_current_win(...)", the_review_window(nv)["win"])
    nv.cmd("normal q")
    assert review_windows(nv) == []
    assert pending_ids(nv) == sorted([first, second])  # closing drops nothing

    nv.cmd("wincmd t")  # the source window
    nv.cmd("ZekeReview")
    shown = the_review_window(nv)
    assert shown["id"] == second and current_win(nv) == shown["win"]
    assert "change 2 of 2 pending" in shown["lines"][0]
    nv.cmd("normal ]r")
    assert the_review_window(nv)["id"] == first
    no_errors(nv)


# Item 10: which change :ZekeApply / :ZekeReject act on ------------------------------


def test_apply_after_rejecting_the_newest_applies_the_older_one(make_nvim, omen, project):
    omen.queue(fo.stream(TOTAL_ANSWER), fo.stream(OTHER_ANSWER))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    first = ask(nv, "4,8ZekeRefactor")["id"]
    ask(nv, "11,12ZekeRefactor")

    outcome = run(nv, "ZekeReject")  # from the source window: its newest change
    assert "rejected the change to calc.py (lines 11–12)" in outcome["msg"], outcome
    assert "1 more pending" in outcome["msg"]
    assert pending_ids(nv) == [first]
    # the review window moved on to the change still pending
    assert the_review_window(nv)["id"] == first

    outcome = run(nv, "ZekeApply")
    assert "applied 1 of 1 hunk to calc.py (lines 4–8)" in outcome["msg"], outcome
    assert nv.buf_lines(path) == with_total_replaced()
    assert pending_ids(nv) == []
    assert review_windows(nv) == []


def test_apply_in_the_review_window_applies_the_change_shown_there(make_nvim, omen, project):
    omen.queue(fo.stream(TOTAL_ANSWER), fo.stream(OTHER_ANSWER))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    first = ask(nv, "4,8ZekeRefactor")["id"]
    second = ask(nv, "11,12ZekeRefactor")["id"]
    nv.lua("vim.api.nvim_set_current_win(...)", the_review_window(nv)["win"])
    nv.cmd("normal [r")  # the older one
    assert the_review_window(nv)["id"] == first

    outcome = run(nv, "ZekeApply")
    assert "applied 1 of 1 hunk to calc.py (lines 4–8)" in outcome["msg"], outcome
    assert nv.buf_lines(path) == with_total_replaced()
    assert pending_ids(nv) == [second]
    assert the_review_window(nv)["id"] == second


def test_apply_from_a_source_buffer_applies_its_own_change(make_nvim, omen, project):
    omen.queue(fo.stream(TOTAL_ANSWER), fo.stream("```python\nVALUE = 2\n```"))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    ask(nv, "4,8ZekeRefactor")
    nv.open_file(project / "util.py", "VALUE = 1\n")
    nv.cmd("setfiletype python")
    second = ask(nv, "1ZekeRefactor")["id"]  # the newest, for util.py

    nv.cmd(f"buffer {path}")
    outcome = run(nv, "ZekeApply")
    assert "applied 1 of 1 hunk to calc.py (lines 4–8)" in outcome["msg"], outcome
    assert nv.buf_lines(path) == with_total_replaced()
    assert nv.buf_lines(project / "util.py") == ["VALUE = 1"]
    assert pending_ids(nv) == [second]


# Item 11: refusals say what is true ---------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "said", "undo"),
    [
        ("nomodifiable", "not modifiable", "modifiable"),
        ("readonly", "read-only", "noreadonly"),
        ("buftype=prompt", "prompt buffer", "buftype="),
    ],
)
def test_a_buffer_that_cannot_take_the_change_is_refused_plainly(
    make_nvim, omen, project, setting, said, undo
):
    omen.queue(fo.stream(TOTAL_ANSWER))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    rid = ask(nv, "4,8ZekeRefactor")["id"]
    nv.cmd(f"setlocal {setting}")

    outcome = run(nv, "ZekeApply")
    assert outcome["level"] >= ERROR and said in outcome["msg"], outcome
    assert "nothing was changed" in outcome["msg"] and "stays pending" in outcome["msg"]
    assert "internal error" not in outcome["msg"] and "review.lua" not in outcome["msg"]
    assert nv.buf_lines(path) == SOURCE.splitlines()
    assert pending_ids(nv) == [rid]

    nv.cmd(f"setlocal {undo}")
    outcome = run(nv, "ZekeApply")
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    assert nv.buf_lines(path) == with_total_replaced()


@pytest.mark.parametrize("close", ["bdelete", "bwipeout"])
def test_apply_after_closing_the_source_buffer_reads_the_file_again(
    make_nvim, omen, project, close
):
    omen.queue(fo.stream(TOTAL_ANSWER))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    ask(nv, "4,8ZekeRefactor")
    nv.cmd(f"{close} {path}")

    outcome = run(nv, "ZekeApply")
    assert "applied 1 of 1 hunk to calc.py (lines 4–8)" in outcome["msg"], outcome
    assert "closed" in outcome["msg"] and "edited since" not in outcome["msg"]
    assert nv.buf_lines(path) == with_total_replaced()
    assert nv.lua("return vim.bo[vim.fn.bufnr(...)].modified", str(path)) is True
    assert path.read_text() == SOURCE  # in the buffer, not saved
    assert pending_ids(nv) == []


def test_apply_after_closing_when_the_file_no_longer_has_the_code(make_nvim, omen, project):
    omen.queue(fo.stream(TOTAL_ANSWER))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    rid = ask(nv, "4,8ZekeRefactor")["id"]
    nv.cmd(f"bdelete {path}")
    changed = SOURCE.replace("s += x", "s += 2 * x")
    path.write_text(changed)

    outcome = run(nv, "ZekeApply")
    assert outcome["level"] >= ERROR, outcome
    assert "had been closed" in outcome["msg"] and "not in the file" in outcome["msg"]
    assert "nothing was changed" in outcome["msg"] and "edited since" not in outcome["msg"]
    assert path.read_text() == changed
    # left as the user left it: closed
    assert nv.lua("return vim.api.nvim_buf_is_loaded(vim.fn.bufnr(...))", str(path)) is False
    assert pending_ids(nv) == [rid]


def test_apply_after_closing_an_unnamed_buffer_says_it_is_gone(make_nvim, omen, project):
    omen.queue(fo.stream(TOTAL_ANSWER))
    nv = start(make_nvim, omen, project)
    nv.cmd("enew")
    nv.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, ...)", SOURCE.splitlines())
    nv.cmd("setfiletype python")
    rid = ask(nv, "4,8ZekeRefactor")["id"]
    nv.cmd("bdelete!")

    outcome = run(nv, "ZekeApply")
    assert outcome["level"] >= ERROR, outcome
    assert "was closed" in outcome["msg"] and "no file" in outcome["msg"], outcome
    assert "nothing was changed" in outcome["msg"] and "edited since" not in outcome["msg"]
    assert pending_ids(nv) == [rid]


def test_a_new_change_waits_while_the_cursor_is_in_the_review_window(make_nvim, omen, project):
    omen.queue(fo.stream(TOTAL_ANSWER), fo.stream(OTHER_ANSWER, delay=0.05))
    nv = start(make_nvim, omen, project)
    first = ask(nv, "4,8ZekeRefactor")["id"]
    nv.cmd("11,12ZekeRefactor")
    win = the_review_window(nv)["win"]
    nv.lua("vim.api.nvim_set_current_win(...)", win)  # reviewing the first one
    second = nv.wait_done()["id"]

    shown = the_review_window(nv)
    assert shown["id"] == first and current_win(nv) == win
    assert "change 1 of 2 pending" in shown["lines"][0]
    nv.cmd("normal ]r")
    assert the_review_window(nv)["id"] == second
    no_errors(nv)


def test_a_buffer_edited_while_the_change_is_applied_keeps_the_change_pending(
    make_nvim, omen, project
):
    omen.queue(fo.stream(TOTAL_ANSWER))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    rid = ask(nv, "4,8ZekeRefactor")["id"]
    before = len(nv.notes())
    # the edit lands after the apply call left and before its answer comes back
    nv.lua(
        "require('zeke.review').apply(nil);"
        "vim.api.nvim_buf_set_lines(vim.fn.bufnr(...), 0, 0, false, { '# a new first line' })",
        str(path),
    )
    outcome = wait_for(lambda: (nv.notes()[before:] or [None])[0], message="the apply's outcome")
    assert "changed while zeke applied the change" in outcome["msg"], outcome
    assert "stays pending" in outcome["msg"]
    assert pending_ids(nv) == [rid]

    # a second try finds the code by content, below the new line
    outcome = run(nv, "ZekeApply")
    assert "applied 1 of 1 hunk to calc.py" in outcome["msg"], outcome
    assert nv.buf_lines(path) == ["# a new first line", *with_total_replaced()]
    assert pending_ids(nv) == []
