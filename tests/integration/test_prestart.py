"""The host started ahead of the first command (config `prestart`), and kept answers
that no window shows holding no highlighting — in a real headless Neovim."""

from __future__ import annotations

import functools

import kit
from nvimharness import one_build, wait_for

SOURCE = "def total(xs):\n    return sum(xs)\n"

start = functools.partial(kit.start, text=SOURCE, host=False)


def host_chan(nv) -> int | None:
    return nv.lua("return require('zeke.host').chan")


def visual_and_back(nv) -> None:
    nv.cmd("normal! V")  # ModeChanged fires for Visual mode, then :normal leaves it


@one_build
def test_visual_mode_starts_the_host_before_any_command(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)  # prestart defaults to "visual"
    assert host_chan(nv) is None  # loading the plugin starts no Python
    visual_and_back(nv)
    assert host_chan(nv) is not None
    nv.wait_host()  # and it answers: the first command will not wait for it
    nv.cmd("1,2ZekeExplain")
    assert nv.wait_done()["state"] == "done"


@one_build
def test_prestart_false_leaves_the_host_to_the_first_command(make_nvim, omen, project):
    nv = start(make_nvim, omen, project, {"prestart": False})
    visual_and_back(nv)
    assert host_chan(nv) is None
    nv.cmd("1,2ZekeExplain")
    assert nv.wait_done()["state"] == "done" and host_chan(nv) is not None


@one_build
def test_prestart_idle_starts_the_host_a_second_after_startup(make_nvim, omen, project):
    nv = start(make_nvim, omen, project, {"prestart": "idle"})
    wait_for(lambda: host_chan(nv) is not None, message="the host started while idle")
    nv.wait_host()


def highlighted(nv, buf: int) -> bool:
    """The answer's markdown highlighting: treesitter's, the regex syntax not loaded."""
    return nv.lua(f"return vim.treesitter.highlighter.active[{buf}] ~= nil")


@one_build
def test_a_hidden_answer_holds_no_highlighting_and_gets_it_back(make_nvim, omen, project):
    nv = start(make_nvim, omen, project, filetype="python")
    nv.cmd("syntax on")
    nv.cmd("1,2ZekeExplain")
    first = nv.wait_done()
    wait_for(lambda: highlighted(nv, first["buf"]), message="the answer highlighted as markdown")
    nv.cmd("1,2ZekeExplain")
    second = nv.wait_done()
    assert second["buf"] != first["buf"]
    # the second answer took the window: the first is kept, hidden, without highlighting
    assert nv.lua(f"return #vim.fn.win_findbuf({first['buf']})") == 0
    assert not highlighted(nv, first["buf"])
    assert nv.lua(f"return vim.bo[{first['buf']}].syntax") == "OFF"
    assert nv.lua(f"return vim.b[{first['buf']}].current_syntax") is None
    assert nv.lua(f"return vim.api.nvim_buf_is_loaded({first['buf']})") is True
    nv.cmd(f"buffer {first['buf']}")
    assert highlighted(nv, first["buf"])
