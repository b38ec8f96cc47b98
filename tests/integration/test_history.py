""":ZekeHistory on a real Neovim against the fake OMEN: every request is kept in the
cache with its messages as sent and its answer as received, listed newest first in
vim.ui.select, reopened in an answer buffer from which a follow-up sends the thread;
`!` lists every project; the outcome of a proposed change is shown; `history = false`
keeps nothing.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import kit
from fakes import omen as fo
from nvimharness import STABLE, wait_for, wait_rows

DEFAULT_BUILDS = [STABLE]

SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
FIRST = "Use sum:\n\n```python\ndef total(xs):\n    return sum(xs)\n```\n"
HISTORY_ROWS = (
    "SELECT request_id, project, command, outcome, title, messages FROM history ORDER BY id"
)

start = functools.partial(
    kit.start, text=SOURCE, filetype="python", notes=True, config={"alias": "code-smart"}
)

# vim.ui.select replaced: what it was shown, and pick the item _G.pick says (1-based)
PICKER = """
_G.shown, _G.prompt = nil, nil
vim.ui.select = function(items, opts, on_choice)
  _G.shown = vim.tbl_map(opts.format_item, items)
  _G.prompt = opts.prompt
  if _G.pick then on_choice(items[_G.pick]) end
end
"""


def ask(nv, command: str = "ZekeRefactor", args: str = "") -> dict[str, Any]:
    before = (nv.last() or {}).get("id")
    nv.cmd(f"1,5{command} {args}".rstrip())
    last = wait_for(
        lambda: (lambda r: r if r and r["id"] != before and r["state"] != "streaming" else None)(
            nv.last()
        ),
        timeout=20,
        message=f"{command} to finish",
    )
    assert last["state"] == "done", last
    return last


def shown(nv, command: str = "ZekeHistory", pick: int | None = None) -> list[str]:
    nv.lua("_G.pick = ...", pick)
    nv.lua(PICKER)
    nv.cmd(command)
    return wait_for(lambda: nv.lua("return _G.shown"), message=f"{command}'s list")


def note_with(nv, text: str) -> str:
    return wait_for(
        lambda: next((n["msg"] for n in nv.notes() if text in n["msg"]), None),
        message=f"a message with {text!r}",
    )


def test_the_list_is_newest_first_and_reopens_an_answer_to_follow_up(make_nvim, omen, project):
    omen.queue(fo.stream(FIRST))
    omen.queue(fo.stream("It adds the numbers."))
    omen.queue(fo.stream("A generator would do."))
    nv = start(make_nvim, omen, project)
    ask(nv, "ZekeRefactor", "use sum please")
    nv.cmd("ZekeReject")
    ask(nv, "ZekeExplain", "what does it do?")
    db = nv.db_path()
    wait_rows(db, 2, HISTORY_ROWS)

    lines = shown(nv)
    assert len(lines) == 2
    newest, oldest = lines
    assert "explain" in newest and "code-smart→gpt-5-codex" in newest
    assert "answered" in newest and newest.endswith("what does it do?")
    assert "refactor" in oldest and oldest.endswith("use sum please")
    assert nv.lua("return _G.prompt").startswith("zeke history")

    # reopen the refactor (the second item) and follow up from its answer buffer
    shown(nv, pick=2)
    buf = wait_for(
        lambda: nv.lua(
            "for _, b in ipairs(vim.api.nvim_list_bufs()) do"
            " local l = table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\\n')"
            " if l:find('use sum please', 1, true) and l:find('return sum', 1, true)"
            " then return b end end"
        ),
        message="the reopened answer buffer",
    )
    text = "\n".join(nv.nvim.api.buf_get_lines(buf, 0, -1, False))
    assert "> use sum please" in text and FIRST.strip() in text
    nv.lua("vim.api.nvim_set_current_win(vim.fn.win_findbuf(...)[1])", buf)
    before = nv.last()["id"]
    nv.cmd("ZekeFollowup now with a generator")
    follow = wait_for(
        lambda: (lambda r: r if r["id"] != before and r["state"] != "streaming" else None)(
            nv.last()
        ),
        timeout=20,
        message="the follow-up",
    )
    assert follow["state"] == "done", follow
    r1, _r2, r3 = omen.chat_requests()
    # the reopened thread: the first request's messages as sent, its answer, the new one
    assert [m["role"] for m in r3.body["messages"]] == ["system", "user", "assistant", "user"]
    assert r3.body["messages"][:2] == r1.body["messages"]
    assert r3.body["messages"][2]["content"] == FIRST
    assert r3.body["messages"][3] == {"role": "user", "content": "now with a generator"}
    assert r3.body["omen"]["stickiness"] == "session"
    assert "A generator would do." in "\n".join(nv.nvim.api.buf_get_lines(buf, 0, -1, False))

    rows = wait_rows(db, 3, HISTORY_ROWS)
    assert [r["command"] for r in rows] == ["ZekeRefactor", "ZekeExplain", "ZekeFollowup"]
    assert rows[0]["outcome"] == "rejected"
    assert json.loads(rows[0]["messages"]) == r1.body["messages"]  # as sent
    assert len(json.loads(rows[2]["messages"])) == 4  # the follow-up's whole thread


def test_applied_and_rejected_changes_are_shown(make_nvim, omen, project):
    omen.queue(fo.stream(FIRST))
    omen.queue(fo.stream(FIRST))
    nv = start(make_nvim, omen, project)
    ask(nv, "ZekeRefactor", "first")
    nv.cmd("ZekeReject")
    ask(nv, "ZekeRefactor", "second")
    nv.cmd("ZekeApply")
    note_with(nv, "applied")
    db = nv.db_path()
    wait_for(
        lambda: [r["outcome"] for r in wait_rows(db, 2, HISTORY_ROWS)] == ["rejected", "applied"],
        message="the outcomes recorded",
    )
    newest, oldest = shown(nv)
    assert "applied" in newest and newest.endswith("second")
    assert "rejected" in oldest and oldest.endswith("first")


def test_the_bang_lists_every_project(make_nvim, omen, project):
    omen.queue(fo.stream("One."))
    omen.queue(fo.stream("Two."))
    nv = start(make_nvim, omen, project, config={"alias": "code-smart", "project": "alpha"})
    ask(nv, "ZekeExplain", "in alpha")
    nv.lua("require('zeke').setup({ project = 'beta' })")
    wait_for(
        lambda: nv.lua("return require('zeke.config').get().project") == "beta",
        message="the new config",
    )
    ask(nv, "ZekeExplain", "in beta")
    wait_rows(nv.db_path(), 2, HISTORY_ROWS)
    here = shown(nv)
    assert len(here) == 1 and here[0].endswith("in beta")
    everywhere = shown(nv, "ZekeHistory!")
    assert len(everywhere) == 2
    assert everywhere[0].endswith("[beta] in beta")
    assert everywhere[1].endswith("[alpha] in alpha")
    assert nv.lua("return _G.prompt") == "zeke history — all projects"


def test_history_false_keeps_nothing(make_nvim, omen, project):
    omen.queue(fo.stream("One."))
    omen.queue(fo.stream("Two."))
    nv = start(make_nvim, omen, project, config={"alias": "code-smart", "history": False})
    ask(nv, "ZekeExplain", "anything")
    ask(nv, "ZekeExplain", "again")
    # cache writes run in order: the second stats row comes after the first one's history
    wait_rows(nv.db_path(), 2)
    assert nv.db_rows("SELECT count(*) AS n FROM history")[0]["n"] == 0
    nv.lua(PICKER)
    nv.cmd("ZekeHistory")
    assert "history is off" in note_with(nv, "history is off")
    assert nv.lua("return _G.shown") is None


def test_an_empty_history_says_so(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    nv.lua(PICKER)
    nv.cmd("ZekeHistory")
    assert "no history yet" in note_with(nv, "no history yet")
    assert nv.lua("return _G.shown") is None
