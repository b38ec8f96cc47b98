"""The host's view of the user's config (validated in Lua, re-checked here).

Lua rejects bad values at ``setup()`` with a message naming the key. Whatever
still slips through (an older plugin, a hand-made payload) degrades here to the
default instead of raising: a host that cannot take its config would fail every
request with a message that names no key.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from zeke.project import project_config

DEFAULT_ALIASES: dict[str, dict[str, Any]] = {
    "code-fast": {"provider": "ollama", "model": "deepseek-coder:14b", "tags": {"latency": "low"}},
    "code-plus": {"provider": "ollama", "model": "deepseek-coder:33b"},
    "code-smart": {"provider": "azure", "model": "gpt-5-codex"},
    "reason-deep": {
        "provider": "anthropic",
        "model": "claude-3-5-sonnet",
        "tags": {"budget": "generous"},
    },
}
_MAX_INT = 2**53 - 1  # the largest whole number Lua sends exactly


def _map(value: Any) -> dict[str, Any]:
    # msgpack turns an empty Lua table into an empty list
    return dict(value) if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any, default: int, minimum: int) -> int:
    """A whole number >= minimum, else the default (NaN, inf, 2.5, "3" are not)."""
    if not _is_number(value) or not math.isfinite(value) or value != int(value):
        return default
    number = int(value)
    return number if minimum <= number <= _MAX_INT else default


def _seconds(value: Any, default: float) -> float:
    """A finite, positive number of seconds, else the default."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        return default
    return float(value)


def valid_url(value: Any, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    """A URL the HTTP client can use: one of ``schemes``, a host, a port in 1–65535."""
    if not isinstance(value, str) or any(c.isspace() or not c.isprintable() for c in value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        return False
    return parts.scheme.lower() in schemes and bool(parts.hostname) and port != 0


def _url(value: Any, default: str) -> str:
    return value.rstrip("/") if valid_url(value) else default


def _json_safe(value: Any) -> bool:
    """False when a NaN or an infinity is anywhere inside (JSON has neither)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_json_safe(k) and _json_safe(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_json_safe(v) for v in value)
    return True


_OMEN_MINIMUM = {"k": 1, "budget_usd": 0, "max_latency_ms": 0}


def _omen(value: Any) -> dict[str, Any] | None:
    """The strategy object, without the entries the router could not take."""
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    for key, item in value.items():
        minimum = _OMEN_MINIMUM.get(str(key))
        if minimum is not None and not (_is_number(item) and item >= minimum):
            continue  # also drops NaN: it compares false
        if _json_safe(item):
            out[str(key)] = item
    return out


def _glyph(value: Any) -> dict[str, Any] | None:
    """The tool server's table, or None when it names no usable server."""
    if not isinstance(value, dict):
        return None
    glyph = dict(value)
    url = glyph.get("url")
    if url is not None and not valid_url(url, ("ws", "wss", "http", "https")):
        glyph.pop("url")
    return glyph if glyph.get("cmd") is not None or glyph.get("url") is not None else None


@dataclass
class Settings:
    api_base: str = "http://127.0.0.1:8080/v1"
    api_key_env: list[str] = field(default_factory=lambda: ["ZEKE_API_KEY", "OMEN_API_KEY"])
    ollama_host: str = "http://127.0.0.1:11434"
    fallback: str | None = "ollama"
    alias: str = "auto"
    aliases: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_ALIASES))
    tags: dict[str, Any] = field(default_factory=lambda: {"latency": "normal", "budget": "normal"})
    project: str | None = None
    project_root: str | None = None  # project = { root = … }: where tools may work
    omen: dict[str, Any] | None = None
    glyph: dict[str, Any] | None = None
    consent: str = "ask"
    db_path: str = ""
    context_lines: int = 40
    max_context_tokens: int = 3000
    connect_timeout: float = 3.0
    first_byte_timeout: float = 30.0
    read_timeout: float = 60.0
    tool_timeout: float = 30.0
    test_paths: dict[str, str] = field(default_factory=dict)
    tools_enable: list[str] = field(default_factory=list)
    max_turns: int = 8

    @classmethod
    def from_lua(cls, d: dict[str, Any]) -> Settings:
        s = cls()
        s.api_base = _url(d.get("api_base"), s.api_base)
        s.api_key_env = [str(x) for x in _list(d.get("api_key_env"))] or s.api_key_env
        s.ollama_host = _url(d.get("ollama_host"), s.ollama_host)
        fb = d.get("fallback", "ollama")
        s.fallback = fb if isinstance(fb, str) and fb else None
        s.alias = str(d.get("alias") or "auto")
        aliases = _map(d.get("aliases"))
        s.aliases = {str(k): _map(v) for k, v in aliases.items()} if aliases else s.aliases
        if "tags" in d:
            s.tags = _map(d.get("tags"))
        s.project, s.project_root = project_config(d.get("project"))
        s.omen = _omen(d.get("omen"))
        s.glyph = _glyph(d.get("glyph"))
        s.consent = str(d.get("consent") or "ask")
        s.db_path = str(d.get("db_path") or "") or default_db_path()
        s.context_lines = _whole(d.get("context_lines"), s.context_lines, 0)
        s.max_context_tokens = _whole(d.get("max_context_tokens"), s.max_context_tokens, 0)
        timeouts = _map(d.get("timeouts"))
        s.connect_timeout = _seconds(timeouts.get("connect"), s.connect_timeout)
        s.first_byte_timeout = _seconds(timeouts.get("first_byte"), s.first_byte_timeout)
        s.read_timeout = _seconds(timeouts.get("read"), s.read_timeout)
        s.tool_timeout = _seconds(timeouts.get("tool"), s.tool_timeout)
        s.test_paths = {str(k): str(v) for k, v in _map(d.get("test_paths")).items()}
        tools = _map(d.get("tools"))
        s.tools_enable = [str(x) for x in _list(tools.get("enable"))]
        s.max_turns = _whole(tools.get("max_turns"), s.max_turns, 1)
        return s


def default_db_path() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "nvim", "zeke", "zeke.db")


def read_api_key(env: Mapping[str, str], names: Sequence[str]) -> str | None:
    """The first non-empty variable among ``names`` (read per request, never logged)."""
    if isinstance(names, str):  # ``api_key_env = "MY_KEY"`` is an easy mistake
        names = [names]
    for name in names or ():
        value = env.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
