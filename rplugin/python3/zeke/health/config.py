"""Where the doctor's settings come from.

`:checkhealth zeke` pipes the editor's config to the doctor as a JSON object on
stdin (what ``require("zeke.config").for_host()`` gives), so the shell and the
editor tell the same story. Run from a shell with nothing on stdin, the doctor
uses the schema's defaults (``defaults.json``, which ``make doc`` writes from
``lua/zeke/config.lua``), computed from the environment (``ZEKE_API_BASE``,
``OLLAMA_HOST``, ``XDG_DATA_HOME``) as config.lua computes them. A config that
cannot be read becomes a warning in the report, never a traceback.
"""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Mapping
from typing import IO, Any

from zeke.health.report import Check
from zeke.settings import Settings

__all__ = ["STDIN_TIMEOUT", "load_config"]

STDIN_TIMEOUT = 2.0  # a shell whose stdin is an open pipe must not hang the report


def load_config(stdin: IO[str] | None, env: Mapping[str, str]) -> tuple[Settings, str, list[Check]]:
    """Settings from a JSON object on ``stdin`` (when it is not a terminal), else from
    ``env`` and the defaults. Returns (settings, where they came from, problems)."""
    problems: list[Check] = []
    raw = _config_from_stdin(_read_stdin(stdin), problems)
    if raw is None:
        # the schema's defaults, computed from the environment as config.lua does
        return Settings.defaults(env), "the environment and defaults", problems
    return Settings.from_lua(raw, env), "Neovim's config (stdin)", problems


def _config_from_stdin(text: str | None, problems: list[Check]) -> dict[str, Any] | None:
    """The JSON object on stdin; None (with a problem noted if it was garbage) otherwise."""
    if text is None or not text.strip():
        return None
    try:
        obj = json.loads(text)
    except ValueError as e:
        problems.append(
            Check(
                "Configuration",
                "warn",
                f"the config on stdin is not valid JSON ({e.msg} at char {e.pos}); "
                "using the environment and the defaults",
                "Pass the output of vim.json.encode(require('zeke.config').for_host()), "
                "or nothing at all.",
            )
        )
        return None
    if isinstance(obj, dict):
        return obj
    problems.append(
        Check(
            "Configuration",
            "warn",
            "the config on stdin is not a JSON object; using the environment and the defaults",
            'Pass a JSON object such as {"api_base": "http://127.0.0.1:8080/v1"}.',
        )
    )
    return None


def _read_stdin(stdin: IO[str] | None) -> str | None:
    """The whole of stdin, or None when it is a terminal (or absent).

    Reads with a deadline: an inherited pipe that never closes yields what came
    so far instead of hanging the report.
    """
    if stdin is None:
        return None
    try:
        if stdin.isatty():
            return None
        fd = stdin.fileno()
    except (OSError, ValueError, AttributeError):
        # Not a real file (a StringIO in tests, a closed stream): read what is there.
        try:
            return stdin.read()
        except (OSError, ValueError):
            return None
    deadline = time.monotonic() + STDIN_TIMEOUT
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                break
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
    except (OSError, ValueError):
        # select() cannot wait on this kind of handle (e.g. Windows pipes).
        try:
            return stdin.read()
        except (OSError, ValueError):
            return None
    return b"".join(chunks).decode("utf-8", "replace")
