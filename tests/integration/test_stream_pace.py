"""An answer streaming faster than any model does (a burst: tens of KB at once) is
shown unhighlighted while it pours in, so the editor keeps answering; it is
highlighted once the stream ends. An answer at a model's pace stays highlighted as
it streams — in a real headless Neovim."""

from __future__ import annotations

import functools
import itertools

import kit
from fakes import omen as fo
from nvimharness import wait_for

SOURCE = "def total(xs):\n    return sum(xs)\n"

start = functools.partial(kit.start, text=SOURCE, filetype="python")

# Every change to the answer buffer records whether treesitter highlighted it then.
RECORD = """
_G.lit = {}
vim.api.nvim_create_autocmd('BufWinEnter', { callback = function(ev)
  if not vim.b[ev.buf].zeke_request or _G.lit[ev.buf] then return end
  _G.lit[ev.buf] = {}
  vim.api.nvim_buf_attach(ev.buf, false, { on_lines = function(_, b)
    table.insert(_G.lit[b], vim.treesitter.highlighter.active[b] ~= nil)
  end })
end })
"""


def turned_off_after_on(states: list[bool]) -> bool:
    """Highlighting went away while text came in, after it had been on."""
    return any(a and not b for a, b in itertools.pairwise(states))


def run(nv, omen, reply: fo.StreamReply) -> tuple[int, list[bool]]:
    omen.queue(reply)
    nv.cmd("1,2ZekeExplain")
    last = nv.wait_done(timeout=30)
    assert last["state"] == "done" and last["text"] == reply.text()
    return last["buf"], nv.lua(f"return _G.lit[{last['buf']}]")


def highlighted(nv, buf: int) -> bool:
    return nv.lua(f"return vim.treesitter.highlighter.active[{buf}] ~= nil")


def test_a_burst_streams_unhighlighted_and_is_highlighted_at_the_end(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    nv.lua(RECORD)
    run(nv, omen, fo.stream("# Warm up\n\nfirst answer"))  # markdown loaded, queries parsed
    text = "# Burst\n\n" + "".join(
        f"word{i} " + ("\n" if i % 12 == 11 else "") for i in range(6000)
    )
    buf, states = run(nv, omen, fo.stream(text, split="random"))
    assert turned_off_after_on(states), states
    wait_for(lambda: highlighted(nv, buf), message="the finished answer highlighted")
    captures = nv.lua(
        "return vim.tbl_map(function(c) return c.capture end, vim.inspect_pos(...).treesitter)",
        buf,
        0,
        2,
    )
    assert any(c.startswith("markup.heading") for c in captures), captures


def test_an_answer_at_a_models_pace_stays_highlighted(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    nv.lua(RECORD)
    run(nv, omen, fo.stream("# Warm up\n\nfirst answer"))
    text = "# Slow\n\n" + " ".join(f"word{i}" for i in range(12))
    buf, states = run(nv, omen, fo.stream(text, delay=0.05))
    assert not turned_off_after_on(states), states
    assert states[-1] is True and highlighted(nv, buf)
