"""Text from the router (model, provider) is data in every statusline form the docs
give, in lualine, and in the answer window's winbar: it never runs as an expression."""

from __future__ import annotations

import functools

import pytest

import kit
from fakes import omen as fo
from nvimharness import NvimSession

PWN_MODEL = "%{execute('let g:pwned=1')}"
PWN_PROVIDER = "%!execute('let g:pwned=2')"
SOURCE = "def total(xs):\n    return sum(xs)\n"

# How lualine draws: its statusline is a `%{%…%}` item whose value (the components'
# output, concatenated) Neovim evaluates again as a statusline format. Stubs of
# lualine's two modules are enough to drive zeke's real component class that way.
LUALINE_STUB = r"""
package.preload["lualine.component"] = function()
  local C = {}
  C.__index = C
  function C:extend()
    local cls = setmetatable({}, { __index = self })
    cls.__index = cls
    cls.super = self
    return cls
  end
  function C:init(options) self.options = options end
  return C
end
package.loaded["lualine.components.zeke"] = nil
local cls = require("lualine.components.zeke")
local component = setmetatable({}, cls)
component:init({})
package.loaded["lualine"] = {
  statusline = function() return "%#StatusLine# " .. component:update_status() .. " %=" end,
  refresh = function() end,
}
"""

FORMS = {
    "format item": "%f %=%{%v:lua.require'zeke'.statusline()%}",
    "whole line": "%!v:lua.require'zeke'.statusline()",
    "lualine": "%{%v:lua.require'lualine'.statusline()%}",
    "expression item": "%f %=%{v:lua.require'zeke'.statusline()}",
}


start = functools.partial(kit.start, text=SOURCE, lua=LUALINE_STUB + "vim.o.laststatus = 2\n")


def pwned(nv: NvimSession) -> object:
    return nv.lua("return vim.g.pwned")


def shown(nv: NvimSession, fmt: str, winid: int = 0, winbar: bool = False) -> str:
    """What Neovim draws for this format (the routine that paints the screen)."""
    opts = {"winid": winid, "maxwidth": 500, "use_winbar": winbar}
    return nv.lua("return vim.api.nvim_eval_statusline(...).str", fmt, opts)


def test_router_model_name_is_shown_not_run(make_nvim, omen, project) -> None:
    headers = {"X-OMEN-Model": PWN_MODEL, "X-OMEN-Provider": PWN_PROVIDER}
    omen.queue(fo.stream("An answer.", headers=headers))
    nv = start(make_nvim, omen, project)
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "done" and last["model"] == PWN_MODEL, last
    assert last["provider"] == PWN_PROVIDER  # the data stays raw in last() …
    assert nv.lua("return vim.g.zeke_status.model") == PWN_MODEL  # … and in g:zeke_status

    nv.cmd("tabnew")  # a tab page without the answer: its statusline carries the badge
    for name, fmt in FORMS.items():
        nv.lua("vim.o.statusline = ...", fmt)
        nv.cmd("redrawstatus!")
        nv.cmd("redraw!")
        assert pwned(nv) is None, f"the {name} form ran the model name"
        text = shown(nv, fmt)
        if name == "expression item":
            # `%{…}` shows its value as it is: the escaped form, never evaluated
            assert PWN_MODEL.replace("%", "%%") in text, (name, text)
        else:
            assert PWN_MODEL in text and "@" + PWN_PROVIDER in text, (name, text)
        assert pwned(nv) is None
    nv.cmd("tabclose")

    win = nv.lua("return vim.fn.bufwinid(require('zeke').last().buf)")
    winbar = nv.lua("return vim.wo[...].winbar", win)
    nv.cmd("redraw!")
    assert pwned(nv) is None
    text = shown(nv, winbar, win, winbar=True)
    assert PWN_MODEL in text and "@" + PWN_PROVIDER in text, text
    assert pwned(nv) is None


def test_escape_helper_is_public_and_makes_text_one_literal_line(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    hostile = "a%b\nc\rd\te\x1b[31m\x00f%{x}"
    escaped = nv.lua("return require('zeke').escape(...)", hostile)
    assert "\n" not in escaped and "\r" not in escaped and "\x1b" not in escaped
    assert "\x00" not in escaped
    assert shown(nv, escaped) == "a%b c d e [31m f%{x}"


@pytest.mark.parametrize("nvim_bin", ["0.11"], indirect=True)
def test_control_characters_from_the_router_never_break_the_badges(make_nvim, omen, project):
    # no routing headers: the model comes from the chunks, the provider from routing_metadata
    omen.queue(
        fo.stream(
            "An answer.",
            model="two\nlines\x00and\x1b]0;title\x07more",
            headers={"X-OMEN-Model": "", "X-OMEN-Provider": ""},
            routing_metadata={"provider": "line\rfeed\x9b31m"},
        )
    )
    nv = start(make_nvim, omen, project)
    nv.lua("vim.o.statusline = ...", FORMS["whole line"])
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "done" and last["model"].startswith("two\nlines"), last
    nv.cmd("redraw!")
    win = nv.lua("return vim.fn.bufwinid(require('zeke').last().buf)")
    for text in (
        nv.lua("return vim.wo[...].winbar", win),
        nv.badge(),
    ):
        assert "two lines and ]0;title more" in text and "@line feed 31m" in text, text
    assert "Error" not in nv.messages() and "internal error" not in nv.messages()
