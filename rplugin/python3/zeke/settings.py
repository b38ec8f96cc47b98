"""The host's view of the user's config (validated in Lua, re-checked here)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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


def _map(value: Any) -> dict[str, Any]:
    # msgpack turns an empty Lua table into an empty list
    return dict(value) if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


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
        s.api_base = str(d.get("api_base") or s.api_base).rstrip("/")
        s.api_key_env = [str(x) for x in _list(d.get("api_key_env"))] or s.api_key_env
        s.ollama_host = str(d.get("ollama_host") or s.ollama_host).rstrip("/")
        fb = d.get("fallback", "ollama")
        s.fallback = fb if isinstance(fb, str) and fb else None
        s.alias = str(d.get("alias") or "auto")
        aliases = _map(d.get("aliases"))
        s.aliases = {str(k): _map(v) for k, v in aliases.items()} if aliases else s.aliases
        if "tags" in d:
            s.tags = _map(d.get("tags"))
        s.project, s.project_root = project_config(d.get("project"))
        s.omen = _map(d["omen"]) if isinstance(d.get("omen"), dict) else None
        s.glyph = _map(d["glyph"]) if isinstance(d.get("glyph"), dict) else None
        s.consent = str(d.get("consent") or "ask")
        s.db_path = str(d.get("db_path") or "") or default_db_path()
        s.context_lines = int(d.get("context_lines", s.context_lines))
        s.max_context_tokens = int(d.get("max_context_tokens", s.max_context_tokens))
        timeouts = _map(d.get("timeouts"))
        s.connect_timeout = float(timeouts.get("connect", s.connect_timeout))
        s.first_byte_timeout = float(timeouts.get("first_byte", s.first_byte_timeout))
        s.read_timeout = float(timeouts.get("read", s.read_timeout))
        s.tool_timeout = float(timeouts.get("tool", s.tool_timeout))
        s.test_paths = {str(k): str(v) for k, v in _map(d.get("test_paths")).items()}
        tools = _map(d.get("tools"))
        s.tools_enable = [str(x) for x in _list(tools.get("enable"))]
        s.max_turns = int(tools.get("max_turns", s.max_turns) or s.max_turns)
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
