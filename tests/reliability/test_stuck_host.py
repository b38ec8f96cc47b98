"""A host that stops answering (SIGSTOP: alive, silent). :ZekeCancel still ends the
request within a second, keeping its text, and says why; the next command replaces
the host. A host that is only answering normally is never replaced."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from fakes import omen as fo
from faultkit import frame, start
from nvimharness import NvimSession, ended, one_build, wait_for

# When the request ended, on Neovim's own clock (the test's polling adds nothing).
TIMING_LUA = """
_G.cancel_ms = nil
vim.api.nvim_create_autocmd("User", { pattern = "ZekeRequestDone", once = true, callback = function()
  _G.cancel_ms = (vim.uv.hrtime() - _G.cancel_t0) / 1e6
end })
_G.cancel_t0 = vim.uv.hrtime()
vim.cmd("ZekeCancel")
"""


@pytest.fixture
def stopped() -> Iterator[list[int]]:
    """Pids the test SIGSTOPs; killed afterwards, so nothing is left behind."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGCONT)


def stream_then_stall(nv: NvimSession) -> None:
    nv.cmd("1ZekeExplain")
    wait_for(lambda: "partial " in nv.scratch_text(), message="the first text")


@one_build
def test_cancel_with_a_stopped_host_ends_in_a_second_and_the_next_command_restarts_it(
    omen, project, make_nvim, stopped
):
    omen.queue(fo.stall_after([frame("partial ")]), fo.stream("From a new host."))
    nv = start(make_nvim, omen, project)
    stream_then_stall(nv)
    old = nv.host_pid()
    os.kill(old, signal.SIGSTOP)
    stopped.append(old)

    nv.lua(TIMING_LUA)
    last = nv.wait_done(timeout=5)
    assert last["state"] == "cancelled" and last["text"] == "partial ", last
    took = wait_for(lambda: nv.lua("return _G.cancel_ms"), message="ZekeRequestDone")
    assert took < 1000, f"the cancel took {took:.0f} ms"
    assert "the host is not answering" in last["error"]
    assert any("the host is not answering" in m for m in nv.zeke_messages())
    assert nv.scratch_text().startswith("partial ")  # the text stays, the note below it
    assert "⊘" in nv.badge()

    nv.cmd("1ZekeExplain")
    fresh = nv.wait_done(timeout=20)
    assert fresh["state"] == "done" and fresh["text"] == "From a new host.", fresh
    assert nv.host_pid() != old
    said = [m for m in nv.zeke_messages() if "starting a new one" in m]
    assert len(said) == 1 and "stopped answering" in said[0], said
    wait_for(lambda: ended(old), timeout=15, message="the stopped host to be ended")
    assert nv.last()["id"] == fresh["id"]  # and the old request stayed cancelled
    assert nv.lua("return require('zeke.requests').get(...).state", last["id"]) == "cancelled"


@one_build
def test_a_host_that_answers_the_cancel_is_kept(omen, project, make_nvim):
    omen.queue(fo.stall_after([frame("partial ")]), fo.stream("Same host."))
    nv = start(make_nvim, omen, project)
    stream_then_stall(nv)
    pid = nv.host_pid()
    nv.lua(TIMING_LUA)
    last = nv.wait_done(timeout=5)
    assert last["state"] == "cancelled" and last["text"] == "partial "
    assert "not answering" not in (last["error"] or "")
    nv.cmd("1ZekeExplain")
    again = nv.wait_done(timeout=20)
    assert again["state"] == "done" and again["text"] == "Same host."
    assert nv.host_pid() == pid
    assert not [m for m in nv.zeke_messages() if "starting a new one" in m or "not answering" in m]


@one_build
def test_two_requests_on_a_stopped_host_both_cancel_without_a_new_host(
    omen, project, make_nvim, stopped
):
    omen.queue(fo.stall_after([frame("partial ")]), fo.stall_after([frame("partial ")]))
    nv = start(make_nvim, omen, project)
    stream_then_stall(nv)
    first = nv.last()["id"]
    stream_then_stall(nv)
    pid = nv.host_pid()
    os.kill(pid, signal.SIGSTOP)
    stopped.append(pid)
    nv.lua(TIMING_LUA)  # the newer one: waits for the host, then ends here
    assert nv.wait_done(timeout=5)["state"] == "cancelled"
    nv.lua(TIMING_LUA.replace('vim.cmd("ZekeCancel")', "require('zeke').cancel(...)"), first)
    # the host already left a cancel unanswered: this one ends at once
    took = wait_for(lambda: nv.lua("return _G.cancel_ms"), message="ZekeRequestDone")
    assert took < 200, f"the second cancel waited {took:.0f} ms"
    assert nv.lua("return require('zeke.requests').get(...).state", first) == "cancelled"
    assert nv.host_pid() == pid  # no host was started just to carry a cancel
    assert not [m for m in nv.zeke_messages() if "starting a new one" in m]
