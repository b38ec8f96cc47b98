"""The host's read-only view of the config table Lua validated.

``lua/zeke/config.lua``'s schema is the only home of the defaults and the rules:
Lua rejects a bad value at ``setup()`` with a message naming the key, and sends
the table that is in effect. This module keeps that table as it came
(``Settings.table``) and gives the engine typed access to it under the same
names (``settings.timeouts.connect``, ``settings.tools.max_turns``).

Its only rules are the types the engine needs to run at all. Whatever still
slips through (an older plugin, a hand-made payload) is replaced by the
schema's default instead of raising: a host that cannot take its config would
fail every request with a message that names no key. The defaults come from
``defaults.json``, which ``make doc`` generates from the schema.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from zeke.project import project_config

DEFAULTS_FILE = Path(__file__).with_name("defaults.json")
_MAX_INT = 2**53 - 1  # the largest whole number Lua sends exactly


@functools.cache
def schema() -> Mapping[str, Any]:
    """What ``make doc`` wrote of the Lua schema: ``keys``, the plain ``defaults``,
    ``env`` (defaults read from a variable) and ``stdpath`` (under Neovim's data)."""
    return frozen(json.loads(DEFAULTS_FILE.read_text(encoding="utf-8")))


def frozen(value: Any) -> Any:
    """A read-only copy: mappings become MappingProxyType, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    return value


def thawed(value: Any) -> Any:
    """A plain copy (dicts and lists) of a frozen value, for JSON or msgpack."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thawed(v) for v in value]
    return value


# Type checks: each returns the value to keep, or _BAD -------------------------------

_BAD: Any = object()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _json_safe(value: Any) -> bool:
    """False when a NaN or an infinity is anywhere inside (JSON has neither)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_json_safe(k) and _json_safe(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_json_safe(v) for v in value)
    return True


def _as_map(value: Any) -> Mapping[str, Any] | None:
    # msgpack turns an empty Lua table into an empty list
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (list, tuple)) and not value:
        return {}
    return None


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


def _url(value: Any) -> Any:
    # the one change made to a value: URLs are joined with "/…" paths
    return value.rstrip("/") if valid_url(value) else _BAD


def _text(value: Any) -> Any:
    return value if isinstance(value, str) and value else _BAD


def _optional_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else _BAD


def _strings(value: Any) -> Any:
    ok = isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value)
    return tuple(value) if ok else _BAD


def _whole(minimum: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        ok = _finite(value) and value == int(value) and minimum <= int(value) <= _MAX_INT
        return int(value) if ok else _BAD

    return check


def _seconds(value: Any) -> Any:
    return float(value) if _finite(value) and value > 0 else _BAD


def _one_of(*allowed: Any) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        return (
            value
            if any(value is a or (value == a and type(value) is type(a)) for a in allowed)
            else _BAD
        )

    return check


def _tag_map(value: Any) -> Any:
    """key = string, number or boolean (sent as strings), the shape Lua checks."""
    table = _as_map(value)
    if table is None:
        return _BAD
    for k, v in table.items():
        if not isinstance(k, str) or not (isinstance(v, (str, bool)) or _finite(v)):
            return _BAD
    return table


def _string_map(value: Any) -> Any:
    table = _as_map(value)
    ok = table is not None and all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    )
    return table if ok else _BAD


def _aliases(value: Any) -> Any:
    table = _as_map(value)
    if table is None:
        return _BAD
    for name, spec in table.items():
        spec = _as_map(spec)
        if not isinstance(name, str) or spec is None:
            return _BAD
        if any(
            spec.get(f) is not None and not isinstance(spec.get(f), str)
            for f in ("provider", "model")
        ):
            return _BAD
        if spec.get("tags") is not None and _tag_map(spec["tags"]) is _BAD:
            return _BAD
    return {name: _as_map(spec) for name, spec in table.items()}


def _project(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value):
        return value
    # an empty table is no project (config.lua takes it for an empty list)
    ok = (
        isinstance(value, Mapping)
        and bool(value)
        and all(k in ("name", "root") and isinstance(v, str) and v for k, v in value.items())
    )
    return value if ok else _BAD


def _consent(value: Any) -> Any:
    return value if value in ("ask", "allow", "function") else _BAD  # a Lua function: "function"


_OMEN_FIELDS: dict[str, Callable[[Any], Any]] = {
    "k": _whole(1),
    "budget_usd": lambda v: v if _finite(v) and v >= 0 else _BAD,
    "max_latency_ms": lambda v: v if _finite(v) and v > 0 else _BAD,
}


def _omen(value: Any) -> Any:
    """The strategy object, without the fields the router could not take."""
    if value is None:
        return None
    table = _as_map(value)
    if table is None:
        return _BAD
    out: dict[str, Any] = {}
    for key, item in table.items():
        check = _OMEN_FIELDS.get(str(key), lambda v: v)
        if _json_safe(item) and check(item) is not _BAD:
            out[str(key)] = item
    return out


def _glyph(value: Any) -> Any:
    """The tool server's table, or None when it names no usable server."""
    if value is None:
        return None
    table = _as_map(value)
    if table is None:
        return _BAD
    glyph = dict(table)
    url = glyph.get("url")
    if url is not None and not valid_url(url, ("ws", "wss", "http", "https")):
        glyph.pop("url")
    return glyph if glyph.get("cmd") is not None or glyph.get("url") is not None else None


def _fields(**checks: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    """A table of named fields: each bad or missing field takes its default's."""

    def check(value: Any, default: Any) -> Any:
        table = _as_map(value) or {}
        out = {}
        for name, field_check in checks.items():
            out[name] = _first_good(field_check, table.get(name), default[name])
        return out

    return check


def _history(value: Any) -> Any:
    """``history``: ``false`` keeps nothing; a table's bad fields take the defaults'."""
    default = schema_default("history")  # config.lua's schema (defaults.json)
    if value is False:
        return {"enabled": False, "max_entries": default["max_entries"]}
    table = _as_map(value)
    if table is None:
        return _BAD
    enabled = table.get("enabled", default["enabled"])
    entries = _whole(1)(table.get("max_entries", default["max_entries"]))
    return {
        "enabled": enabled if isinstance(enabled, bool) else default["enabled"],
        "max_entries": default["max_entries"] if entries is _BAD else entries,
    }


# The schema's rules the host relies on, key by key (the Lua schema has the rest).
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "api_base": _url,
    "api_key_env": _strings,
    "ollama_host": _url,
    "fallback": _one_of("ollama", False),
    "python": _optional_text,
    "prestart": _one_of("visual", "idle", False),
    "alias": _text,
    "aliases": _aliases,
    "tags": _tag_map,
    "project": _project,
    "omen": _omen,
    "glyph": _glyph,
    "consent": _consent,
    "db_path": _text,
    "context_lines": _whole(0),
    "max_context_tokens": _whole(0),
    "test_paths": _string_map,
    "log_level": _one_of("debug", "info", "warn", "error"),
    "history": _history,
}
_FIELD_CHECKS: dict[str, Callable[[Any, Any], Any]] = {
    "timeouts": _fields(connect=_seconds, first_byte=_seconds, read=_seconds, tool=_seconds),
    "tools": _fields(enable=_strings, max_turns=_whole(1)),
    "ui": _fields(
        layout=_one_of("vsplit", "split", "tab"),
        width=lambda v: v if _finite(v) and v > 0 else _BAD,
        focus=lambda v: v if isinstance(v, bool) else _BAD,
        why_key=lambda v: v if v is False or (isinstance(v, str) and v) else _BAD,
        # the answer buffer's follow-up key (Lua maps it; held here like the rest)
        followup_key=lambda v: v if v is False or (isinstance(v, str) and v) else _BAD,
    ),
}


@dataclass(frozen=True)
class Timeouts:
    connect: float
    first_byte: float
    read: float
    tool: float


@dataclass(frozen=True)
class Tools:
    enable: tuple[str, ...]
    max_turns: int


@dataclass(frozen=True)
class Ui:
    layout: str
    width: float
    focus: bool
    why_key: str | bool  # Lua's alone (the answer buffer's key for :ZekeWhy)
    followup_key: str | bool


@dataclass(frozen=True)
class History:
    enabled: bool  # `history = false` arrives as enabled False
    max_entries: int


@dataclass(frozen=True)
class Settings:
    """The config in effect, key by key as the schema names them."""

    table: Mapping[str, Any]  # what Lua sent, as it came
    api_base: str
    api_key_env: tuple[str, ...]
    ollama_host: str
    fallback: str | bool
    python: str | None
    prestart: str | bool  # Lua's alone (when the host starts); kept so the view is whole
    alias: str
    aliases: Mapping[str, Mapping[str, Any]]
    tags: Mapping[str, Any]
    project: str | Mapping[str, str] | None
    omen: Mapping[str, Any] | None
    glyph: Mapping[str, Any] | None
    consent: str
    db_path: str
    context_lines: int
    max_context_tokens: int
    timeouts: Timeouts
    ui: Ui
    test_paths: Mapping[str, str]
    tools: Tools
    log_level: str
    history: History

    @classmethod
    def from_lua(cls, table: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
        """The view of ``table``; a key that is missing or not of its type takes
        the schema's default, computed from ``env`` (os.environ when None) where
        the schema says so. Never raises."""
        if not isinstance(table, Mapping):
            table = {}
        values: dict[str, Any] = {}
        for key in schema()["keys"]:
            value, default = table.get(key), default_of(key, env)
            if key in _FIELD_CHECKS:
                values[key] = frozen(_FIELD_CHECKS[key](value, default))
                continue
            values[key] = frozen(_first_good(_CHECKS[key], value, default, schema_default(key)))
        return cls(
            table=frozen(dict(table)),
            timeouts=Timeouts(**values.pop("timeouts")),
            tools=Tools(**values.pop("tools")),
            ui=Ui(**values.pop("ui")),
            history=History(**values.pop("history")),
            **values,
        )

    @classmethod
    def defaults(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The schema's defaults, as Lua computes them (see ``default_of``)."""
        return cls.from_lua({}, env)

    def as_table(self) -> dict[str, Any]:
        """The typed view as a plain table, key by key (for a look from Lua)."""
        out = {}
        for key in schema()["keys"]:
            value = getattr(self, key)
            if isinstance(value, (Timeouts, Tools, Ui, History)):
                value = dataclasses.asdict(value)
            out[key] = thawed(value)
        return out

    @property
    def project_name(self) -> str | None:
        """``project``'s name (a string, or ``project.name``)."""
        return project_config(self.project)[0]

    @property
    def project_root(self) -> str | None:
        """``project.root``: where tools may work, when the user said so."""
        return project_config(self.project)[1]


def _first_good(check: Callable[[Any], Any], *candidates: Any) -> Any:
    """The first candidate that passes ``check`` (the schema's own default does)."""
    for candidate in candidates:
        kept = check(candidate)
        if kept is not _BAD:
            return kept
    raise AssertionError("the schema's default fails the host's check")  # make doc is stale


def schema_default(key: str) -> Any:
    """The schema's default as written, without the environment (``fallback`` of
    a key read from one)."""
    return schema()["defaults"].get(key)


def default_of(key: str, env: Mapping[str, str] | None = None) -> Any:
    """The schema's default of ``key``, computed as Lua would outside Neovim:
    from ``env`` (os.environ when None) or under Neovim's data directory."""
    data = schema()
    from_env = data["env"].get(key)
    if from_env is not None:
        value = (os.environ if env is None else env).get(from_env["var"])
        if value:
            bare = from_env.get("bare")
            if bare and not value.startswith(("http://", "https://")):  # as config.lua
                value = bare + value
            return value
    under = data["stdpath"].get(key)
    if under is not None:
        return stdpath(under[0], env) + under[1]
    return data["defaults"].get(key)


def stdpath(what: str, env: Mapping[str, str] | None = None) -> str:
    """Neovim's ``stdpath(what)`` for "data", "state", "cache" or "config"."""
    env = os.environ if env is None else env
    home = {"data": ".local/share", "state": ".local/state", "cache": ".cache", "config": ".config"}
    base = env.get(f"XDG_{what.upper()}_HOME") or os.path.join(os.path.expanduser("~"), home[what])
    return os.path.join(base, env.get("NVIM_APPNAME") or "nvim")


def read_api_key(env: Mapping[str, str], names: Sequence[str]) -> str | None:
    """The first non-empty variable among ``names`` (read per request, never logged)."""
    if isinstance(names, str):  # ``api_key_env = "MY_KEY"`` is an easy mistake
        names = [names]
    for name in names or ():
        value = env.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
