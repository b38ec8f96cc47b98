"""The answer is markdown, highlighted by treesitter (the parser Neovim ships), not by
markdown's regex syntax — in a real Neovim with `syntax on`, as users run it. The
filetype still reaches the user's own FileType autocommands; without the parser the
regex syntax is used as before."""

from __future__ import annotations

import functools

import kit
from fakes import omen as fo
from nvimharness import wait_for

SOURCE = "def total(xs):\n    return sum(xs)\n"
ANSWER = "# Total\n\nIt adds **every** item:\n\n```python\nreturn sum(xs)\n```\n\nDone."

start = functools.partial(kit.start, text=SOURCE, filetype="python")


def answer(nv, omen) -> int:
    """Run :ZekeExplain with ``ANSWER``; the answer buffer once its markdown is set."""
    nv.cmd("syntax on")
    nv.cmd("filetype plugin on")
    omen.queue(fo.stream(ANSWER, split="random"))
    nv.cmd("1,2ZekeExplain")
    buf = nv.wait_done()["buf"]
    wait_for(lambda: nv.lua(f"return vim.bo[{buf}].filetype") == "markdown", message="markdown")
    return buf


def captures(nv, buf: int, row: int, col: int) -> list[str]:
    """The treesitter captures highlighting one character of the answer."""
    return nv.lua(
        "local p = vim.inspect_pos(...); return vim.tbl_map(function(c) return c.capture end, "
        "p.treesitter)",
        buf,
        row,
        col,
    )


def test_the_answer_is_highlighted_by_treesitter_without_the_regex_syntax(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    nv.record_notes()
    buf = answer(nv, omen)
    assert nv.scratch_text() == ANSWER
    assert nv.lua(f"return vim.treesitter.highlighter.active[{buf}] ~= nil") is True
    # the heading and the bold word are coloured as markdown
    assert any(c.startswith("markup.heading") for c in captures(nv, buf, 0, 2))
    assert "markup.strong" in captures(nv, buf, 2, 11)
    # markdown's regex syntax (with the html, css and javascript it includes) never loaded
    assert nv.lua(f"return vim.b[{buf}].current_syntax") is None
    assert nv.lua(f"return vim.bo[{buf}].syntax") == ""
    assert nv.lua("return vim.fn.hlexists('markdownH1')") == 0
    assert [n for n in nv.notes() if n["level"] >= 3] == []  # no error, even for the ``` fence


def test_the_users_filetype_autocommands_still_see_the_markdown_answer(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    nv.lua("""
      _G.ft_seen = {}
      vim.api.nvim_create_autocmd('FileType', { pattern = 'markdown', callback = function(ev)
        table.insert(_G.ft_seen, vim.b[ev.buf].zeke_request ~= nil) end })
    """)
    buf = answer(nv, omen)
    assert nv.lua("return _G.ft_seen") == [True]
    # markdown's ftplugin ran too (its comment string and list format)
    assert nv.lua(f"return vim.bo[{buf}].commentstring") == "<!-- %s -->"


def test_without_the_markdown_parser_the_answer_gets_the_regex_syntax(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    nv.lua("""
      local add = vim.treesitter.language.add
      vim.treesitter.language.add = function(lang, ...)
        if lang == 'markdown' then return nil, 'no parser here' end
        return add(lang, ...)
      end
    """)
    buf = answer(nv, omen)
    assert nv.lua(f"return vim.b[{buf}].current_syntax") == "markdown"
    assert nv.lua(f"return vim.treesitter.highlighter.active[{buf}] ~= nil") is False
