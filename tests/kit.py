"""How a test starts zeke: a real headless Neovim (nvimharness.NvimSession, from the
make_nvim fixture) with the real plugin, in a project, against the given fakes, with
the test's config on top, and the host up and answering before the test goes on.

A module that starts zeke the same way in every test binds its own defaults once:

    start = functools.partial(kit.start, text=SOURCE, filetype="python", notes=True)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from nvimharness import NvimSession

GLYPH = Path(__file__).resolve().parent / "fakes" / "glyph.py"

QUICK_TIMEOUTS = {"connect": 1, "first_byte": 5, "read": 5}
"""Short timeouts, for tests where a server is down or hangs."""


class Server(Protocol):
    @property
    def url(self) -> str: ...


MakeNvim = Callable[..., NvimSession]


def glyph_config(root: Path | None = None) -> dict[str, Any]:
    """The config `glyph` for the Glyph double on stdio (rooted at ``root``, else at
    the directory the host runs in)."""
    cmd = [sys.executable, str(GLYPH), "serve", "--transport", "stdio"]
    return {"cmd": cmd + (["--root", str(root)] if root else [])}


def _url(server: Server | str) -> str:
    return server if isinstance(server, str) else server.url


def start(
    make_nvim: MakeNvim,
    router: Server | str | None,
    project: Path,
    config: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    ollama: Server | str | None = None,
    timeouts: Mapping[str, float] | None = None,
    glyph: bool = False,
    db: Path | None = None,
    file: str | None = "calc.py",
    text: str = "",
    filetype: str | None = None,
    size: tuple[int, int] | None = None,
    notes: bool = False,
    lua: str | None = None,
    host: bool = True,
    name: str = "home",
) -> NvimSession:
    """zeke in a real Neovim whose current directory is ``project``, editing ``file``.

    router: the fake OMEN (or a URL) as `api_base`; None leaves it unset (e.g. for
      $ZEKE_API_BASE in ``env``).
    ollama: the fake Ollama (or a URL) as `ollama_host`, with degraded mode on; without
      it `fallback` is off, so that no test falls back to an Ollama on this machine.
    timeouts, glyph (the Glyph double rooted at the project), db (`db_path`; else the
      session's own): config set before ``config``, which wins.
    env: the environment Neovim (and so the host) starts in.
    file/text/filetype: the file opened (written first) and its filetype (-u NONE has
      no detection); file=None opens nothing.
    size: (lines, columns) of the screen. notes: record vim.notify (NvimSession.notes).
    lua: run last, before the host starts (recorders see everything it sends).
    host: start the host and wait until it answers; False leaves it to the first
      command (tests of starting it, or of setup() before it starts).
    name: the session's home directory under tmp_path (a second editor gets its own).
    """
    cfg: dict[str, Any] = {}
    if router is not None:
        cfg["api_base"] = _url(router)
    if ollama is not None:
        cfg["ollama_host"] = _url(ollama)
    else:
        cfg["fallback"] = False
    if timeouts is not None:
        cfg["timeouts"] = dict(timeouts)
    if glyph:
        cfg["glyph"] = glyph_config(project)
    if db is not None:
        cfg["db_path"] = str(db)
    cfg.update(config or {})
    nv = make_nvim(cfg, dict(env) if env else None, name)
    if size is not None:
        nv.cmd(f"set lines={size[0]} columns={size[1]}")
    nv.cmd(f"cd {project}")
    if file is not None:
        nv.open_file(project / file, text)
    if filetype is not None:
        nv.cmd(f"setfiletype {filetype}")
    if notes:
        nv.record_notes()
    if lua is not None:
        nv.lua(lua)
    if host:
        nv.wait_host()
    return nv
