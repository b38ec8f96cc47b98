"""Helpers for the reliability suite (faults, soak, security); fixtures are in conftest.py."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

from fakes import omen as fo
from nvimharness import NvimSession, wait_for

# Most reliability tests exercise the host, not Neovim's API: one build is enough
# and keeps the suite quick (nvimharness.one_build, the stable release).

GLYPH = Path(__file__).resolve().parent.parent / "fakes" / "glyph.py"

SOURCE = """\
def total(xs):
    s = 0
    for x in xs:
        s += x
    return s


def other():
    return 1
"""


def frame(text: str) -> bytes:
    """One complete SSE content frame."""
    return b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % text.encode()


def start(
    make_nvim: Any,
    omen_server: fo.FakeOmen,
    project: Path,
    config: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    name: str = "home",
) -> NvimSession:
    cfg: dict[str, Any] = {"api_base": omen_server.url, "fallback": False}
    cfg.update(config or {})
    nv = make_nvim(cfg, env, name)
    nv.cmd(f"cd {project}")
    nv.open_file(project / "calc.py", SOURCE)
    return nv


def glyph_config() -> dict[str, Any]:
    return {"cmd": [sys.executable, str(GLYPH), "serve", "--transport", "stdio"]}


def db_path(nv: NvimSession) -> Path:
    return Path(nv.lua("return require('zeke.config').get().db_path"))


def zeke_messages(nv: NvimSession) -> list[str]:
    return [m for m in nv.messages().splitlines() if m.startswith("zeke:")]


def host_pid(nv: NvimSession) -> int:
    return int(nv.lua("return vim.fn.jobpid(require('zeke.host').chan)"))


def read_rows(db: Path, sql: str = "SELECT request_id, success, error FROM routing_stats") -> list:
    """Rows from the cache, read-only; [] while the file or table does not exist yet."""
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def wait_rows(db: Path, n: int, timeout: float = 30.0) -> list:
    """The routing_stats rows once there are at least n (the host records asynchronously)."""
    wait_for(lambda: len(read_rows(db)) >= n, timeout=timeout, message=f"{n} stats rows in {db}")
    return read_rows(db)
