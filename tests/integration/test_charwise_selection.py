"""Exact selections in a real Neovim, typed as a user types them: a charwise
selection (`v`) sends exactly the selected characters and its change replaces
exactly that span, the rest of the line kept; a block (`<C-v>`) is refused with a
message and nothing is sent; lines (`V`, a typed range) are whole lines as before.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import kit
from fakes import omen as fo
from nvimharness import wait_for

SOURCE = """\
def price(naïveté, tax, fee):
    total = naïveté * (1 + tax) + fee  # ü
    return total


result = compute(alpha,
                 beta)  # done
"""
LINES = SOURCE.splitlines()
LINE2 = LINES[1]

# Records what Lua sends the host (after it started: the request payloads).
RECORD_SENT = r"""
_G.sent = {}
local real_notify = vim.rpcnotify
vim.rpcnotify = function(chan, event, method, payload)
  table.insert(_G.sent, { method, vim.deepcopy(payload) })
  return real_notify(chan, event, method, payload)
end
"""

start = functools.partial(kit.start, text=SOURCE, filetype="python", notes=True, lua=RECORD_SENT)


def byte(line: str, text: str) -> tuple[int, int]:
    """0-based byte columns [start, end) of ``text`` in ``line``."""
    i = line.index(text)
    return len(line[:i].encode()), len(line[: i + len(text)].encode())


def requests_sent(nv) -> list[dict[str, Any]]:
    return [payload for method, payload in nv.lua("return _G.sent") if method == "request"]


def selected_code(body: dict[str, Any]) -> str:
    """The "Selected code" block of the prompt the router got."""
    user = body["messages"][-1]["content"]
    m = re.search(r"Selected code \([^)]*\):\n(`{3,})\w*\n(.*?)\n\1", user, re.S)
    assert m, user
    return m.group(2)


def typed(nv, keys: str) -> dict[str, Any]:
    """Type ``keys`` (ending in a command) and wait for its request to finish."""
    before = nv.last()
    nv.nvim.input(keys)
    last = wait_for(
        lambda: (lambda r: r if r and r["state"] != "streaming" and r != before else None)(
            nv.last()
        ),
        timeout=15,
        message="the request to finish",
    )
    assert last["state"] == "done", last
    return last


def apply(nv) -> str:
    """:ZekeApply once the change is up for review; its message."""
    wait_for(lambda: nv.lua("return require('zeke.review').current"), message="the review")
    before = len(nv.notes())
    nv.cmd("ZekeApply")
    note = wait_for(
        lambda: next((n for n in nv.notes()[before:] if "zeke: " in n["msg"]), None),
        message="the outcome of :ZekeApply",
    )
    return note["msg"]


def buffer(nv, project) -> list[str]:
    return nv.buf_lines(project / "calc.py")


def test_v_on_an_expression_sends_it_and_the_change_replaces_only_it(make_nvim, omen, project):
    omen.queue(fo.stream("Shorter:\n\n```python\nnaïveté * tax\n```\n"))
    nv = start(make_nvim, omen, project)
    # `v` from "naïveté" to the ")" that closes "(1 + tax)", then `:` (`:'<,'>`)
    typed(nv, "2G0fnvf):ZekeRefactor<CR>")

    (payload,) = requests_sent(nv)
    assert (payload["start_col"], payload["end_col"]) == byte(LINE2, "naïveté * (1 + tax)")
    assert payload["start_line"] == payload["end_line"] == 2
    (req,) = omen.chat_requests()
    assert selected_code(req.body) == "naïveté * (1 + tax)"
    user = req.body["messages"][-1]["content"]
    assert "    total = " in user and " + fee  # ü" in user  # where it sits, as context

    assert "applied 1 of 1 hunk" in apply(nv)
    assert buffer(nv, project) == [
        LINES[0],
        "    total = naïveté * tax + fee  # ü",
        *LINES[2:],
    ]


def test_v_from_the_plug_map_ending_on_a_multibyte_character(make_nvim, omen, project):
    omen.queue(fo.stream("```python\nnet\n```"))
    nv = start(make_nvim, omen, project)
    nv.nvim.input("2G0fnve")  # "naïveté", its last character two bytes long
    wait_for(lambda: nv.nvim.api.get_mode()["mode"] == "v", message="visual mode")
    # the <Plug> map runs the command with visual mode still on (a <Cmd> mapping)
    nv.lua("vim.api.nvim_feedkeys(vim.keycode('<Plug>(zeke-refactor)'), 'm', false)")
    assert nv.wait_done()["state"] == "done"

    (payload,) = requests_sent(nv)
    assert (payload["start_col"], payload["end_col"]) == byte(LINE2, "naïveté")
    assert selected_code(omen.chat_requests()[0].body) == "naïveté"
    assert "applied" in apply(nv)
    assert buffer(nv, project)[1] == "    total = net * (1 + tax) + fee  # ü"
    assert buffer(nv, project)[0] == LINES[0]  # the other "naïveté" is not touched


def test_a_charwise_selection_over_two_lines(make_nvim, omen, project):
    omen.queue(fo.stream("```python\nalpha, beta)\n```"))
    nv = start(make_nvim, omen, project)
    # from "alpha" on line 6 down to the ")" after "beta" on line 7
    typed(nv, "6G0favjf):ZekeRefactor<CR>")

    (payload,) = requests_sent(nv)
    assert (payload["start_line"], payload["end_line"]) == (6, 7)
    expected = "alpha,\n                 beta)"
    assert selected_code(omen.chat_requests()[0].body) == expected
    assert "applied" in apply(nv)
    assert buffer(nv, project) == [*LINES[:5], "result = compute(alpha, beta)  # done"]


def test_v_dollar_takes_the_newline_and_the_next_line_stays_apart(make_nvim, omen, project):
    omen.queue(fo.stream("```python\nnet  # ü\n```"))
    nv = start(make_nvim, omen, project)
    typed(nv, "2G0fnv$:ZekeRefactor<CR>")

    (payload,) = requests_sent(nv)
    # the span ends at column 0 of the next line: it took line 2's newline
    assert (payload["start_col"], payload["end_line"], payload["end_col"]) == (
        byte(LINE2, "naïveté")[0],
        3,
        0,
    )
    assert selected_code(omen.chat_requests()[0].body).startswith("naïveté * (1 + tax)")
    assert "applied" in apply(nv)
    assert buffer(nv, project) == [LINES[0], "    total = net  # ü", *LINES[2:]]


def test_a_line_edited_outside_the_span_refuses_the_change_and_keeps_it(make_nvim, omen, project):
    omen.queue(fo.stream("```python\nnaïveté * tax\n```"))
    nv = start(make_nvim, omen, project)
    typed(nv, "2G0fnvf):ZekeRefactor<CR>")
    wait_for(lambda: nv.lua("return require('zeke.review').current"), message="the review")
    # only blanks added at its end: whole lines would still be found (loosely), but
    # applying this line's new text would drop them
    edited = LINE2 + "   "
    nv.lua("vim.api.nvim_buf_set_lines(0, 1, 2, false, { ... })", edited)

    message = apply(nv)
    assert "edited since" in message and "nothing was changed" in message, message
    assert buffer(nv, project) == [LINES[0], edited, *LINES[2:]]
    assert nv.lua("return require('zeke.review').current") is not None  # still pending


def test_a_block_selection_is_refused_and_nothing_is_sent(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    nv.nvim.input("2G0<C-v>jll:ZekeRefactor<CR>")
    note = wait_for(
        lambda: next((n for n in nv.notes() if "block selection" in n["msg"]), None),
        message="the refusal",
    )
    assert note["msg"] == (
        "zeke: a block selection (<C-v>) is not supported; select lines (V) or characters (v)"
    )
    # the same from the <Plug> map, visual block mode still on
    nv.nvim.input("2G0<C-v>j")
    wait_for(lambda: nv.nvim.api.get_mode()["mode"] == "\x16", message="block mode")
    nv.lua("vim.api.nvim_feedkeys(vim.keycode('<Plug>(zeke-refactor)'), 'm', false)")
    wait_for(
        lambda: len([n for n in nv.notes() if "block selection" in n["msg"]]) == 2,
        message="the second refusal",
    )
    # the refusal came before anything started: no request, nothing sent, no change
    assert nv.last() is None
    assert requests_sent(nv) == []
    assert omen.chat_requests() == []
    assert buffer(nv, project) == LINES


def test_lines_stay_whole_lines(make_nvim, omen, project):
    omen.queue(
        fo.stream("```python\ntotal = naïveté * tax\nreturn total\n```"),
        fo.stream("```python\ntotal = 0\nreturn total\n```"),
    )
    nv = start(make_nvim, omen, project)
    typed(nv, "2GVj:ZekeRefactor<CR>")
    first = requests_sent(nv)[0]
    assert "start_col" not in first and "end_col" not in first
    assert selected_code(omen.chat_requests()[0].body) == "\n".join(LINES[1:3])
    assert "applied" in apply(nv)
    assert buffer(nv, project)[1:3] == ["    total = naïveté * tax", "    return total"]

    # a range typed after a `v` selection on those very lines is lines, not the selection
    nv.nvim.input("2G0fnvj<Esc>")
    wait_for(lambda: nv.nvim.api.get_mode()["mode"] == "n", message="normal mode")
    typed(nv, ":2,3ZekeRefactor<CR>")
    second = requests_sent(nv)[1]
    assert "start_col" not in second and (second["start_line"], second["end_line"]) == (2, 3)
    assert "applied" in apply(nv)
    assert buffer(nv, project)[1:3] == ["    total = 0", "    return total"]
