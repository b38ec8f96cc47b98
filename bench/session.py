"""A bench Neovim as a user runs it: ``-u bench/nvim/init.lua`` (Neovim's defaults:
syntax and filetype plugins on; zeke on the runtimepath), isolated XDG dirs, a
Python file open, and a UI attached (``bench/ui.py``) so every redraw really
happens. The driver speaks to it over its ``--listen`` socket, like any other
client; the probe uses its own connection to the same socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pynvim
from common import BENCH, SSEServer, wait_for

INIT = BENCH / "nvim" / "init.lua"
UI = BENCH / "ui.py"
COLS, ROWS = 160, 48

# `run.py --host-python`: another interpreter or wrapper for the host (to try a fix
# without touching the tree); None: this interpreter.
HOST_PYTHON: str | None = None

STATE_LUA = "return require('zbench').s.state or ''"


class RealNvim:
    """One Neovim with the bench init and a UI; ``lua``/``cmd`` go over the socket."""

    def __init__(
        self,
        nvim_bin: str,
        home: Path,
        server: SSEServer,
        project: Path,
        file: Path,
        *,
        zeke: bool = True,
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        at_start: str | None = None,
        arm: str | None = None,
    ) -> None:
        self.home = home
        for sub in ("config", "data", "state", "cache", "run"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        cfg: dict[str, Any] = {
            "api_base": server.url,
            "fallback": False,
            "db_path": str(home / "zeke.db"),
            "python": HOST_PYTHON or sys.executable,
        }
        cfg.update(config or {})
        full = dict(os.environ)
        for name in ("ZEKE_API_KEY", "OMEN_API_KEY", "ZEKE_API_BASE", "OLLAMA_HOST"):
            full.pop(name, None)
        full.update(
            {
                "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_STATE_HOME": str(home / "state"),
                "XDG_CACHE_HOME": str(home / "cache"),
                "XDG_RUNTIME_DIR": str(home / "run"),
                "ZBENCH_ZEKE": json.dumps(cfg),
                "ZBENCH_BASE": server.url,
                "ZBENCH_NO_ZEKE": "" if zeke else "1",
                "ZBENCH_AT_START": at_start or "",
                "ZBENCH_UI_ARM": arm or "",
                "ZBENCH_PY3": sys.executable,
            }
        )
        full.update(env or {})
        self.sock = str(home / "run" / "nvim.sock")
        argv = [nvim_bin, "--embed", "-u", str(INIT), "--listen", self.sock, str(file)]
        self.spawned_ns = time.monotonic_ns()
        self.ui = subprocess.Popen(
            [sys.executable, str(UI), str(COLS), str(ROWS), "--", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=full,
            cwd=project,
        )
        assert self.ui.stdout is not None
        line = self.ui.stdout.readline()
        if not line.startswith("READY "):
            self.ui.kill()
            raise RuntimeError(f"bench UI did not start: {line!r}")
        self.pid = int(line.split()[1])
        wait_for(lambda: os.path.exists(self.sock), timeout=30, message="Neovim's socket")
        self.nvim = pynvim.attach("socket", path=self.sock)
        wait_for(lambda: self.nvim.eval("v:vim_did_enter"), timeout=30, message="VimEnter")

    # the NvimSession subset the cases use

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def cmd(self, command: str) -> None:
        self.nvim.command(command)

    def ui_call(self, line: str) -> dict[str, Any]:
        """One command to the UI process (``arm REGEX`` / ``seen``), its JSON reply."""
        assert self.ui.stdin is not None and self.ui.stdout is not None
        self.ui.stdin.write(line + "\n")
        self.ui.stdin.flush()
        return json.loads(self.ui.stdout.readline())

    def close(self) -> None:
        # Neovim exiting drops the channel mid-request: expected
        with contextlib.suppress(Exception):
            self.nvim.command("qa!")
        with contextlib.suppress(Exception):
            self.nvim.close()
        try:
            self.ui.wait(10)
        except subprocess.TimeoutExpired:
            self.ui.kill()
            self.ui.wait(5)


class Watch:
    """A realistic bench Neovim, with the run-one-command helpers the cases use."""

    def __init__(
        self,
        nvim_bin: str,
        home: Path,
        server: SSEServer,
        project: Path,
        file: Path,
        **kwargs: Any,
    ) -> None:
        self.nv = RealNvim(nvim_bin, home, server, project, file, **kwargs)

    def start(self, command: str) -> None:
        """Run a command (stamped) and return at once."""
        self.nv.lua("require('zbench').run(...)", command)

    def wait(self, *, poll: float = 0.005, timeout: float = 120) -> dict[str, Any]:
        """Wait for the request to end; the stamps (``zbench.s``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nv.lua(STATE_LUA):
                break
            time.sleep(poll)
        else:
            raise RuntimeError(f"request did not finish within {timeout:.0f} s")
        return self.nv.lua("return require('zbench').s")

    def run(self, command: str = "10,30ZekeExplain", *, poll: float = 0.005) -> dict[str, Any]:
        """Run one command, wait for the request to end, return the stamps."""
        self.start(command)
        return self.wait(poll=poll)

    def host_pid(self) -> int:
        return int(self.nv.lua("return vim.fn.jobpid(require('zeke.host').chan)"))

    def nvim_pid(self) -> int:
        return self.nv.pid

    def close(self) -> None:
        self.nv.close()


@contextlib.contextmanager
def watch(*args: Any, **kwargs: Any) -> Any:
    w = Watch(*args, **kwargs)
    try:
        yield w
    finally:
        w.close()


def tree_rss(pid: int) -> dict[str, float]:
    """RSS (MB) of a process and all its descendants, summed, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    total, n, todo = 0.0, 0, [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
                    n += 1
        todo += children.get(p, [])
    return {"rss_mb": total, "procs": n}
