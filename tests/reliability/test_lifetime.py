"""Nothing zeke starts outlives Neovim: a tool server stuck inside a call (ignoring the
end of its stdin and SIGTERM) and the helper it started are gone soon after Neovim
quits, and the server goes even when the host itself is killed outright."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from fakes import omen as fo
from faultkit import start
from nvimharness import ended, one_build, wait_for

STUCK = Path(__file__).resolve().parent.parent / "fakes" / "stuck_mcp.py"


@pytest.fixture
def stuck_server(omen, project, make_nvim, tmp_path):
    """A Neovim whose request is stuck in a tool call; yields (nv, [server, helper?])."""
    pidfile = tmp_path / "stuck.pids"
    started: list[int] = []

    def begin(*, helper: bool):
        cmd = [sys.executable, str(STUCK), str(pidfile), *(["--helper"] if helper else [])]
        call = ("read_file", json.dumps({"path": "calc.py"}))
        omen.queue(fo.stream("Reading. ", tool_calls=[call], finish_reason="tool_calls"))
        nv = start(make_nvim, omen, project, config={"glyph": {"cmd": cmd}})
        nv.cmd("1ZekeRefactor")
        text = wait_for(
            lambda: pidfile.exists() and pidfile.read_text(), timeout=20, message="the stuck call"
        )
        started.extend(int(p) for p in text.split())
        assert not any(ended(p) for p in started) and nv.last()["state"] == "streaming"
        return nv, started

    yield begin
    for pid in started:  # never leave one behind, whatever the test found
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@one_build
def test_a_tool_server_stuck_in_a_call_ends_with_neovim(stuck_server):
    nv, pids = stuck_server(helper=True)
    nv.close()  # :qa!
    wait_for(
        lambda: all(ended(p) for p in pids),
        timeout=30,  # a loaded 2-core machine; it takes about a second
        message=f"the tool server and its helper ({pids}) to end",
    )


@one_build
def test_a_tool_server_ends_when_the_host_is_killed_outright(stuck_server):
    """SIGKILL leaves the host no exit path: the server's parent-death signal does it."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux only")
    nv, (server,) = stuck_server(helper=False)
    os.kill(nv.host_pid(), signal.SIGKILL)
    wait_for(lambda: ended(server), timeout=30, message=f"the tool server ({server}) to end")
    assert "host exited" in nv.wait_done()["error"]
