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
from zeke.settings import thawed

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


def _table(value: Any) -> Mapping[str, Any]:
    """A Lua table as a mapping (an empty one arrives as ``[]``); the config's
    tables were validated in Lua and typed by ``Settings``, so anything else is
    nothing to merge."""
    return value if isinstance(value, Mapping) else {}


def _tag_value(value: Any) -> str | None:
    """Tag values are strings on the wire (OMEN answers 400 to a number)."""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None  # None drops the tag; config.lua lets no other kind through


def _string_tags(tags: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _table(tags).items():
        text = _tag_value(value)
        if text is not None:
            out[str(key)] = text
    return out


def resolve_alias(name: str, aliases: Mapping[str, Any]) -> Alias:
    """The alias called ``name``.  ``auto`` always exists (the router chooses; a
    user-defined ``auto`` may only add tags).  An unknown name (say, one chosen
    with :ZekeModel before the config changed) is an error that lists the known
    ones."""
    table = _table(aliases)
    if name == AUTO:
        return Alias(AUTO, None, None, _string_tags(_table(table.get(AUTO)).get("tags")))
    if name not in table:
        known = ", ".join([AUTO, *sorted(k for k in map(str, table) if k != AUTO)])
        raise ZekeError(
            f"zeke: unknown alias {name!r}. Known aliases: {known}. Pick one with :ZekeModel "
            "or define it under `aliases` in setup().",
            kind="config",
        )
    entry = _table(table[name])
    return Alias(
        name,
        entry.get("provider") or None,
        entry.get("model") or None,
        _string_tags(entry.get("tags")),
    )


def merge_tags(
    config_tags: Mapping[str, Any] | None,
    alias_tags: Mapping[str, Any] | None,
    command_tags: Mapping[str, Any] | None,
    computed: Mapping[str, Any] | None,
) -> dict[str, str]:
    """Merge, low to high precedence: config ``tags``, the alias's tags, the
    command's tags (``intent``), computed ones (``project``, ``size_hint``).
    Every value becomes a string (booleans "true"/"false"); a ``None`` value is
    dropped, so it does not override a lower level."""
    merged: dict[str, str] = {}
    for tags in (config_tags, alias_tags, command_tags, computed):
        merged.update(_string_tags(tags))
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

    ``prefer`` (:ZekePrefer): "local" adds ``prefer_local = "true"`` unless the
    request is ``large``; "cloud" adds ``prefer_local = "false"``; "auto" adds
    nothing. A tag rather than ``omen.providers``: zeke does not know the router's
    providers, and an ``omen`` object would switch today's OMEN to its race strategy.
    A caller that gives no ``prefer`` reads the seed's ``prefer_local`` as "local".

    ``max_cloud_cost_cents`` becomes ``omen.budget_usd`` when the ``omen`` object
    has no budget: always when the user set the cap (``budget_set``, :ZekeBudget;
    the object is added when the config has none), else only when an ``omen``
    table is configured (the schema's default cap is not the user's request).
    """
    new_tags = dict(tags)
    new_omen = dict(omen) if isinstance(omen, Mapping) else None
    prefs = prefs or {}
    prefer = prefs.get("prefer")
    if prefer is None:
        prefer = "local" if _truthy(prefs.get("prefer_local")) else "auto"
    if prefer == "local" and new_tags.get("size_hint") != "large":
        new_tags["prefer_local"] = "true"
    elif prefer == "cloud":
        new_tags["prefer_local"] = "false"
    cents = prefs.get("max_cloud_cost_cents")
    valid = (
        isinstance(cents, (int, float))
        and not isinstance(cents, bool)
        and math.isfinite(cents)
        and cents >= 0
    )
    if valid and (omen_configured or prefs.get("budget_set")):
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
        body["omen"] = thawed(omen)  # the config's tables are read-only views
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
