"""Aliases, routing hint tags, and the exact request body and headers (docs/design.md §6).

zeke hints, never decides: everything here only shapes what OMEN is told.  The
functions are pure and return new objects rather than mutating what they are given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from zeke.errors import ZekeError

AUTO = "auto"

# Tag name -> hint header, sent only when the tag is present.
_HINT_HEADERS = (
    ("project", "x-project"),
    ("intent", "x-intent"),
    ("latency", "x-latency"),
    ("budget", "x-budget"),
    ("size_hint", "x-size-hint"),
)
# Printable ASCII except "%": header values outside it are percent-encoded,
# because httpx refuses non-ASCII header values and CR/LF must never pass.
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


@dataclass
class Alias:
    """A model alias: ``auto`` (the router picks) or a provider/model pair."""

    name: str
    provider: str | None
    model: str | None
    tags: dict[str, str] = field(default_factory=dict)


def _as_table(value: Any, what: str) -> dict[str, Any]:
    """A Lua table as a dict; an empty Lua table arrives as ``[]``."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple)) and not value:
        return {}
    got = "a list" if isinstance(value, (list, tuple)) else _kind(value)
    raise ZekeError(
        f"zeke config: {what} must be a table of key = value pairs, not {got}.",
        kind="config",
    )


def _kind(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple, set)):
        return "a table"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _tag_value(key: str, value: Any, what: str) -> str | None:
    """Tag values are strings on the wire (OMEN answers 400 to a number)."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    raise ZekeError(
        f"zeke config: tag {key!r} in {what} is {_kind(value)}; tag values must be "
        "strings, numbers or booleans.",
        kind="config",
    )


def _string_tags(tags: Any, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _as_table(tags, what).items():
        text = _tag_value(str(key), value, what)
        if text is not None:
            out[str(key)] = text
    return out


def resolve_alias(name: str, aliases: dict[str, dict]) -> Alias:
    """The alias called ``name``.  ``auto`` always exists (the router chooses; a
    user-defined ``auto`` may only add tags).  Unknown names are a config error
    that lists the known ones."""
    table = _as_table(aliases, "aliases")
    if name == AUTO:
        entry = table.get(AUTO)
        tags = entry.get("tags") if isinstance(entry, Mapping) else None
        return Alias(AUTO, None, None, _string_tags(tags, "aliases.auto.tags"))
    if name not in table:
        known = ", ".join([AUTO, *sorted(k for k in map(str, table) if k != AUTO)])
        raise ZekeError(
            f"zeke: unknown alias {name!r}. Known aliases: {known}. Pick one with :ZekeModel "
            "or define it under `aliases` in setup().",
            kind="config",
        )
    entry = _as_table(table[name], f"aliases[{name!r}]")
    fields: dict[str, str | None] = {}
    for key in ("provider", "model"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise ZekeError(
                f"zeke config: aliases[{name!r}].{key} must be a string, not {_kind(value)}.",
                kind="config",
            )
        fields[key] = value or None
    tags = _string_tags(entry.get("tags"), f"aliases[{name!r}].tags")
    return Alias(name, fields["provider"], fields["model"], tags)


def merge_tags(
    config_tags: dict | None,
    alias_tags: dict | None,
    command_tags: dict | None,
    computed: dict | None,
) -> dict[str, str]:
    """Merge, low to high precedence: config ``tags``, the alias's tags, the
    command's tags (``intent``), computed ones (``project``, ``size_hint``).
    Every value becomes a string (booleans "true"/"false"); a ``None`` value is
    dropped, so it does not override a lower level."""
    merged: dict[str, str] = {}
    for tags, what in (
        (config_tags, "tags"),
        (alias_tags, "the alias's tags"),
        (command_tags, "the command's tags"),
        (computed, "the computed tags"),
    ):
        for key, value in _as_table(tags, what).items():
            text = _tag_value(str(key), value, what)
            if text is not None:
                merged[str(key)] = text
    return merged


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def apply_prefs(
    tags: dict[str, str],
    omen: dict | None,
    prefs: dict | None,
    *,
    omen_configured: bool,
) -> tuple[dict[str, str], dict | None]:
    """Local per-project prefs adjust the hints (docs/design.md §6), never decide.

    ``prefer_local`` adds ``prefer_local = "true"`` unless the request is
    ``large``.  ``max_cloud_cost_cents`` becomes ``omen.budget_usd`` only when an
    ``omen`` table is configured and has no budget: sending an ``omen`` object
    the user did not configure would switch today's OMEN to its race strategy.
    """
    new_tags = dict(tags)
    new_omen = dict(omen) if isinstance(omen, Mapping) else None
    prefs = prefs or {}
    if _truthy(prefs.get("prefer_local")) and new_tags.get("size_hint") != "large":
        new_tags["prefer_local"] = "true"
    cents = prefs.get("max_cloud_cost_cents")
    valid = (
        isinstance(cents, (int, float))
        and not isinstance(cents, bool)
        and math.isfinite(cents)
        and cents >= 0
    )
    if valid and omen_configured:
        if new_omen is None:
            new_omen = {}
        if new_omen.get("budget_usd") is None:
            new_omen["budget_usd"] = round(cents / 100, 4)
    return new_tags, new_omen


def build_body(
    *,
    model: str,
    messages: list[dict],
    tags: dict[str, str],
    omen: dict | None,
    tools: list[dict] | None,
) -> dict:
    """The chat/completions body of docs/design.md §6: always streamed with usage;
    ``omen`` only when given, ``tools`` only when there are some."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tags": dict(tags),
    }
    if omen is not None:
        body["omen"] = dict(omen)
    if tools:
        body["tools"] = list(tools)
    return body


def _header_value(value: str) -> str:
    value = str(value)
    if all(" " <= c <= "~" for c in value):
        return value
    return quote(value, safe=_HEADER_SAFE)


def build_headers(
    *,
    api_key: str | None,
    request_id: str,
    session_id: str,
    tags: dict[str, str],
) -> dict[str, str]:
    """Request headers: auth when a key is set, ids, and the hint headers for the
    tags that are present.  The key's value never appears in an error."""
    headers: dict[str, str] = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
    }
    key = (api_key or "").strip()
    if key:
        if not all("!" <= c <= "~" for c in key):
            raise ZekeError(
                "zeke: the API key contains spaces or characters that cannot be sent in an "
                "HTTP header; check the ZEKE_API_KEY / OMEN_API_KEY environment variable.",
                kind="config",
            )
        headers["Authorization"] = f"Bearer {key}"
    headers["X-Request-ID"] = _header_value(request_id)
    headers["X-Zeke-Session"] = _header_value(session_id)
    headers["x-client"] = "zeke.nvim"
    for tag, header in _HINT_HEADERS:
        value = tags.get(tag)
        if value is not None and value != "":
            headers[header] = _header_value(value)
    return headers
