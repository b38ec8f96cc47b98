"""Conversations on a real Neovim against the designed OMEN (X-OMEN-* facts): a
follow-up sends the whole thread to the model that answered, sticky, with one
session id per thread, and streams into the same answer buffer; a retry sends the
same request to another alias beside it; the bad inputs say what happened.
"""

from __future__ import annotations

import functools
from typing import Any

import kit
from fakes import omen as fo
from nvimharness import STABLE, wait_for

DEFAULT_BUILDS = [STABLE]

SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
FIRST = "Use sum:\n\n```python\ndef total(xs):\n    return sum(xs)\n```\n"
SECOND = "Shorter still:\n\n```python\ntotal = sum\n```\n"

start = functools.partial(
    kit.start, text=SOURCE, filetype="python", notes=True, config={"alias": "code-smart"}
)


def ask(nv, command: str = "ZekeRefactor") -> dict[str, Any]:
    nv.cmd(f"1,5{command}")
    last = nv.wait_done()
    assert last["state"] == "done", last
    return last


def followup(nv, text: str, bang: str = "") -> dict[str, Any]:
    before = nv.last()["id"]
    nv.lua(
        "vim.cmd({ cmd = 'ZekeFollowup', bang = ... == '!', args = { select(2, ...) } })",
        bang,
        text,
    )
    last = wait_for(
        lambda: (lambda r: r if r["id"] != before and r["state"] != "streaming" else None)(
            nv.last()
        ),
        timeout=20,
        message="the follow-up to finish",
    )
    assert last["state"] == "done", last
    return last


def buffer_text(nv, buf: int) -> str:
    return "\n".join(nv.nvim.api.buf_get_lines(buf, 0, -1, False))


def winbar(nv, buf: int) -> str:
    return nv.lua("return vim.wo[vim.fn.win_findbuf(...)[1]].winbar", buf)


def headers(nv, buf: int) -> list[str]:
    """The follow-up headers drawn in the answer buffer (virtual text)."""
    return nv.lua(
        """
        local ns = vim.api.nvim_create_namespace("zeke.scratch")
        local out = {}
        for _, m in ipairs(vim.api.nvim_buf_get_extmarks(..., ns, 0, -1, { details = true })) do
          if m[4].virt_text then
            table.insert(out, m[4].virt_text[1][1])
          end
        end
        return out
        """,
        buf,
    )


def notes_with(nv, text: str) -> str:
    note = wait_for(
        lambda: next((n["msg"] for n in nv.notes() if text in n["msg"]), None),
        message=f"a message with {text!r}",
    )
    return note


def pending(nv) -> list[str]:
    return nv.lua("return vim.tbl_keys(require('zeke.review').pending)")


def apply(nv) -> str:
    before = len(nv.notes())
    nv.cmd("ZekeApply")
    return wait_for(
        lambda: next((n["msg"] for n in nv.notes()[before:] if "applied" in n["msg"]), None),
        message="the change applied",
    )


def test_a_follow_up_sends_the_thread_to_the_model_that_answered(make_nvim, omen, project):
    omen.queue(fo.stream(FIRST))
    omen.queue(fo.stream(SECOND))
    omen.queue(fo.stream("Done."))
    nv = start(make_nvim, omen, project)
    first = ask(nv)
    buf = first["buf"]
    assert first["model"] == "gpt-5-codex"  # code-smart, resolved by OMEN

    second = followup(nv, "make it shorter")
    third = followup(nv, "thanks")

    r1, r2, r3 = omen.chat_requests()
    assert r1.body["model"] == "code-smart" and "omen" not in r1.body
    # the thread so far, then the new message, to the concrete model, sticky
    assert [m["role"] for m in r2.body["messages"]] == ["system", "user", "assistant", "user"]
    assert r2.body["messages"][:2] == r1.body["messages"]
    assert r2.body["messages"][2]["content"] == FIRST
    assert r2.body["messages"][3] == {"role": "user", "content": "make it shorter"}
    assert r2.body["model"] == "gpt-5-codex"
    assert r2.body["omen"]["stickiness"] == "session"
    session = r2.body["omen"]["session_id"]
    assert session
    assert [m["content"] for m in r3.body["messages"][2:]] == [
        FIRST,
        "make it shorter",
        SECOND,
        "thanks",
    ]
    assert r3.body["model"] == "gpt-5-codex" and r3.body["omen"]["session_id"] == session

    # one buffer: both answers, a separator, the question; its own header, running totals
    assert second["buf"] == buf == third["buf"]
    text = buffer_text(nv, buf)
    assert (
        text.index("return sum(xs)")
        < text.index("---\n\n> make it shorter")
        < text.index("total = sum")
    )
    assert "> thanks" in text and text.rstrip().endswith("Done.")
    assert third["turn"] == 3
    total = first["cost_usd"] + second["cost_usd"] + third["cost_usd"]
    assert abs(third["thread_cost_usd"] - total) < 1e-6
    assert third["thread_tokens"] == sum(
        r["tokens_in"] + r["tokens_out"] for r in (first, second, third)
    )
    bar = winbar(nv, buf)
    assert "gpt-5-codex" in bar and "(thread $" in bar and f"{third['thread_tokens']} tok" in bar
    heads = headers(nv, buf)
    assert len(heads) == 2 and heads[0].startswith(" follow-up 1 · zeke ✓ code-smart→gpt-5-codex")
    assert "tok" in heads[0] and heads[1].startswith(" follow-up 2 ")
    assert "(thread $" in nv.badge()  # the badge

    # one pending change per thread: the latest answer's code replaced the first's
    # ("Done." has no code: the change stays the second answer's)
    wait_for(lambda: pending(nv) == [second["id"]], message="one pending change")


def test_the_follow_up_key_and_its_change_replacing_the_first(make_nvim, omen, project):
    omen.queue(fo.stream(FIRST))
    omen.queue(fo.stream(SECOND))
    nv = start(make_nvim, omen, project)
    first = ask(nv)
    wait_for(lambda: pending(nv) == [first["id"]], message="the first change")
    nv.lua("vim.ui.input = function(_, on_confirm) on_confirm('make it shorter') end")
    nv.lua("vim.api.nvim_set_current_win(vim.fn.win_findbuf(...)[1])", first["buf"])
    nv.nvim.input("f")
    second = wait_for(
        lambda: (lambda r: r if r["id"] != first["id"] and r["state"] == "done" else None)(
            nv.last()
        ),
        message="the follow-up",
    )
    assert omen.chat_requests()[1].body["messages"][-1]["content"] == "make it shorter"
    wait_for(lambda: pending(nv) == [second["id"]], message="the change replaced")
    nv.cmd("wincmd p")
    assert "applied 1 of 1 hunk" in apply(nv)
    assert nv.buf_lines(project / "calc.py") == ["total = sum"]


def test_a_retry_opens_a_second_answer_and_applying_one_drops_the_other(make_nvim, omen, project):
    omen.queue(fo.stream(FIRST))
    omen.queue(fo.stream(SECOND))
    nv = start(make_nvim, omen, project)
    first = ask(nv)
    nv.cmd("ZekeRetry code-fast")
    retry = nv.wait_done()
    assert retry["id"] != first["id"] and retry["state"] == "done"

    r1, r2 = omen.chat_requests()
    assert r2.body["model"] == "code-fast"  # routed as a fresh request to the alias
    assert r2.body["messages"] == r1.body["messages"]  # the same context
    # both answers on screen, each with who answered, latency, tokens and cost
    assert retry["buf"] != first["buf"]
    for req in (first, retry):
        assert nv.lua("return #vim.fn.win_findbuf(...)", req["buf"]) == 1
    assert "code-fast→deepseek-coder:14b" in winbar(nv, retry["buf"])
    assert "code-smart→gpt-5-codex" in winbar(nv, first["buf"])
    assert "return sum(xs)" in buffer_text(nv, first["buf"])
    assert "total = sum" in buffer_text(nv, retry["buf"])
    assert retry["tokens_in"] and retry["latency_ms"] is not None

    wait_for(lambda: sorted(pending(nv)) == sorted([first["id"], retry["id"]]), message="both")
    nv.lua("require('zeke.review').apply(...)", retry["id"])
    msg = notes_with(nv, "applied 1 of 1 hunk")
    assert "dropped the other answer's change" in msg
    assert pending(nv) == []
    assert nv.buf_lines(project / "calc.py") == ["total = sum"]


def test_a_retry_picker_lists_the_aliases_with_their_stats(make_nvim, omen, project):
    omen.queue(fo.stream(FIRST))
    omen.queue(fo.stream("Another view."))
    nv = start(make_nvim, omen, project)
    first = ask(nv, "ZekeExplain")
    nv.lua(
        """
        vim.ui.select = function(items, opts, on_choice)
          _G.shown = vim.tbl_map(opts.format_item, items)
          for _, item in ipairs(items) do
            if item.name == "reason-deep" then on_choice(item) end
          end
        end
        """
    )
    nv.cmd("ZekeRetry")
    retry = wait_for(
        lambda: (lambda r: r if r["id"] != first["id"] and r["state"] == "done" else None)(
            nv.last()
        ),
        message="the retry",
    )
    shown = nv.lua("return _G.shown")
    assert any(line.lstrip("● ").startswith("reason-deep") for line in shown)
    assert any("req" in line for line in shown if "code-smart" in line)  # local stats
    assert omen.chat_requests()[1].body["model"] == "reason-deep"
    assert retry["model"] == "claude-3-5-sonnet"


def test_bad_input_is_named(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    nv.cmd("ZekeFollowup shorter")
    assert "no answer to follow up or retry yet" in notes_with(nv, "no answer")
    nv.cmd("ZekeRetry code-fast")
    assert len([n for n in nv.notes() if "no answer to follow up" in n["msg"]]) == 2
    assert omen.chat_requests() == []

    omen.queue(fo.stream(FIRST))
    ask(nv)
    nv.cmd("ZekeFollowup! nope shorter")
    msg = notes_with(nv, "unknown alias 'nope'")
    assert "Known aliases: auto, code-fast, code-plus, code-smart, reason-deep" in msg
    nv.cmd("ZekeRetry nope")
    wait_for(lambda: len([n for n in nv.notes() if "unknown alias" in n["msg"]]) == 2, message="2")
    assert len(omen.chat_requests()) == 1  # nothing more was sent

    # a follow-up while the thread still streams is refused, and says so
    omen.queue(fo.stall_after([]))
    nv.cmd("ZekeFollowup! code-fast go on")
    wait_for(lambda: nv.last()["state"] == "streaming", message="streaming")
    nv.cmd("ZekeFollowup more")
    assert "still streaming" in notes_with(nv, "still streaming")
    wait_for(lambda: len(omen.chat_requests()) == 2, message="the one follow-up sent")
    assert omen.chat_requests()[1].body["model"] == "code-fast"  # re-routed to the alias
    assert nv.last()["command"] == "ZekeRefactor" and nv.last()["turn"] == 2
    nv.cmd("ZekeCancel")
    nv.wait_done()


def test_a_follow_up_after_the_source_buffer_was_closed_offers_its_change_on_the_file(
    make_nvim, omen, project
):
    omen.queue(fo.stream(FIRST))
    omen.queue(fo.stream(SECOND))
    nv = start(make_nvim, omen, project)
    first = ask(nv)
    nv.cmd("ZekeReject")
    nv.cmd(f"bwipeout! {project / 'calc.py'}")
    nv.lua("vim.api.nvim_set_current_win(vim.fn.win_findbuf(...)[1])", first["buf"])
    second = followup(nv, "make it shorter")
    wait_for(lambda: pending(nv) == [second["id"]], message="the change offered")
    msg = apply(nv)
    assert "it had been closed, so zeke opened it again" in msg
    assert nv.buf_lines(project / "calc.py") == ["total = sum"]


def test_a_thread_over_the_budget_drops_the_oldest_and_says_so(make_nvim, omen, project):
    long_answer = "word " * 12_000  # ~15,000 tokens
    omen.queue(fo.stream(long_answer))
    omen.queue(fo.stream("Fine."))
    nv = start(make_nvim, omen, project, config={"alias": "code-smart", "max_context_tokens": 0})
    first = ask(nv, "ZekeExplain")
    question = "and this? " + "x" * 40_000  # ~10,000 tokens: with the answer, over 24,000
    second = followup(nv, question)

    body = omen.chat_requests()[1].body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "user"]
    assert body["messages"][-1]["content"] == question
    note = "dropped the first answer to fit the context budget"
    assert second["thread_dropped"] == note
    assert note in winbar(nv, first["buf"])
