"""A long session keeps the buffers of the last answers only: older answer buffers
no window shows are wiped (memory stays bounded), the one on screen and the newest
stay, and `:ls` lists what is kept — in a real headless Neovim."""

from __future__ import annotations

import functools

import kit
from fakes import omen as fo

SOURCE = "def total(xs):\n    return sum(xs)\n"
KEPT = 10  # zeke.scratch keeps this many answer buffers

start = functools.partial(kit.start, text=SOURCE)


def ask(nv, omen, n: int) -> list[int]:
    """``n`` answers one after another; their buffers, oldest first."""
    bufs = []
    for i in range(n):
        omen.queue(fo.stream(f"answer {i}"))
        nv.cmd("1,2ZekeExplain")
        last = nv.wait_done()
        assert last["state"] == "done" and last["text"] == f"answer {i}"
        bufs.append(last["buf"])
    return bufs


def valid(nv, buf: int) -> bool:
    return nv.lua(f"return vim.api.nvim_buf_is_valid({buf})")


def answer_buffers(nv) -> list[str]:
    return nv.lua(
        "return vim.tbl_map(function(b) return vim.fn.bufname(b) end, vim.tbl_filter("
        "function(b) return vim.b[b].zeke_request ~= nil end, vim.api.nvim_list_bufs()))"
    )


def test_only_the_last_answers_keep_their_buffer(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    bufs = ask(nv, omen, KEPT + 3)
    assert [valid(nv, b) for b in bufs] == [False] * 3 + [True] * KEPT
    assert answer_buffers(nv) == [f"zeke: explain #{i}" for i in range(4, KEPT + 4)]
    # the newest is the one on screen, its text whole
    assert nv.scratch_text() == f"answer {KEPT + 2}"


def test_an_old_answer_on_screen_is_kept(make_nvim, omen, project):
    nv = start(make_nvim, omen, project)
    (first,) = ask(nv, omen, 1)
    # the first answer stays in a window of its own while the next ones come
    nv.cmd("tabnew")
    nv.cmd(f"buffer {first}")
    nv.cmd("tabprevious")
    bufs = ask(nv, omen, KEPT + 1)
    assert valid(nv, first)
    assert nv.lua(f"return table.concat(vim.api.nvim_buf_get_lines({first}, 0, -1, false))") == (
        "answer 0"
    )
    assert not valid(nv, bufs[0])  # the oldest one no window shows went instead
