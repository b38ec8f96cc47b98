"""An answer's first text comes before its highlighting: the answer buffer becomes
markdown (filetype, ftplugin, treesitter's first parse: milliseconds in a Neovim
with `syntax on`) only once its first text is in, so that work never holds back the
first token. An answer that ends with no text becomes markdown all the same, and
one hidden before its text arrived gets its highlighting when it is shown."""

from __future__ import annotations

import functools
import threading

import kit
from fakes import omen as fo
from nvimharness import wait_for

start = functools.partial(kit.start, text="def total(xs):\n    return sum(xs)\n", filetype="python")

# what the answer buffer holds when its FileType autocommands run
RECORD_FILETYPE = """
  _G.ft_text = {}
  vim.api.nvim_create_autocmd('FileType', { pattern = 'markdown', callback = function(ev)
    if vim.b[ev.buf].zeke_request then
      table.insert(_G.ft_text, table.concat(vim.api.nvim_buf_get_lines(ev.buf, 0, -1, false), '\\n'))
    end
  end })
"""


def defaults_on(nv) -> None:
    nv.cmd("syntax on")
    nv.cmd("filetype plugin on")
    nv.lua(RECORD_FILETYPE)


def test_the_answer_is_made_markdown_after_its_first_text_is_in(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    defaults_on(nv)
    omen.queue(fo.stream(["First words", " and the rest."]))
    nv.cmd("1,2ZekeExplain")
    buf = nv.wait_done()["buf"]
    wait_for(lambda: nv.lua("return #_G.ft_text") == 1, message="the answer's FileType")
    (seen,) = nv.lua("return _G.ft_text")
    assert seen.startswith("First words"), seen
    assert nv.lua(f"return vim.bo[{buf}].filetype") == "markdown"
    assert nv.lua(f"return vim.treesitter.highlighter.active[{buf}] ~= nil") is True
    assert nv.scratch_text() == "First words and the rest."


def test_an_answer_that_ends_without_text_is_markdown_too(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    defaults_on(nv)
    omen.queue(fo.close_after([]))  # headers, then the connection drops: no text
    nv.cmd("1,2ZekeExplain")
    done = nv.wait_done()
    assert done["state"] == "error"
    buf = done["buf"]
    wait_for(lambda: nv.lua(f"return vim.bo[{buf}].filetype") == "markdown", message="markdown")
    assert "no text had arrived" in nv.scratch_text()


def test_an_answer_hidden_before_its_text_is_highlighted_when_shown(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    defaults_on(nv)
    gate = threading.Event()

    def held(rec):
        gate.wait(30)  # until the answer's window is closed
        return fo.stream("Hidden **answer**.")

    omen.queue(held)
    nv.cmd("1,2ZekeExplain")
    buf = wait_for(
        lambda: nv.lua("local r = require('zeke').last(); return r and r.buf"), message="buf"
    )
    nv.lua(f"for _, w in ipairs(vim.fn.win_findbuf({buf})) do vim.api.nvim_win_close(w, true) end")
    gate.set()
    nv.wait_done()
    wait_for(lambda: nv.lua(f"return vim.bo[{buf}].filetype") == "markdown", message="markdown")
    # hidden: no highlighter holds memory for it
    assert nv.lua(f"return vim.treesitter.highlighter.active[{buf}] ~= nil") is False
    assert nv.lua(f"return #vim.fn.win_findbuf({buf})") == 0
    nv.cmd(f"botright split | buffer {buf}")
    wait_for(
        lambda: nv.lua(f"return vim.treesitter.highlighter.active[{buf}] ~= nil"),
        message="highlighting back once shown",
    )
    assert nv.scratch_text() == "Hidden **answer**."
