"""What to do when the router did not give us a stream: the one place that decides,
and which model stands in when the router cannot resolve the name zeke sent.

docs/design.md §9: the router being *unreachable* (refused, no answer before the
timeout, 502/503/504, ``/ready`` 503) sends us to local Ollama; the router's own
*answers* (400, 401, 404, 429, a plain 500) are decisions or faults and are shown,
never routed around. One answer is different: "I do not know that model" (LiteLLM's
400 "Invalid model name", a 404 "model not found", or today's OMEN's opaque 500 for
a name its model list does not have). Then zeke asks once more with a concrete
model, chosen by the command's intent, and says so (``auto⇢code-fast``). A 500 for
a name the router lists is a fault (a backend restarting), not a reason to change
what the user asked for.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from enum import Enum
from typing import Any

from zeke.errors import ZekeError


class Action(str, Enum):
    RETRY_CONCRETE = "retry_concrete"
    DEGRADE = "degrade"
    SHOW = "show"


UNREACHABLE_STATUSES = frozenset({502, 503, 504})
UNRESOLVED_MODEL_STATUSES = frozenset({400, 404, 422, 500})
# Statuses that, with no words about the model, still mean "unknown name" when the
# router's model list does not have it (today's OMEN: 500; OMEN as designed: 404).
_OPAQUE_UNKNOWN_STATUSES = frozenset({404, 500})

_UNKNOWN_MODEL = re.compile(
    r"(invalid|unknown|unsupported|no such|not a valid)\s+model"
    r"|model\b[^.()]{0,80}?\b(not found|does not exist|is not supported|not supported|unknown)"
    r"|does not know the model",
    re.IGNORECASE,
)


def cannot_resolve(error: ZekeError, asked: str, listed: Collection[str]) -> bool:
    """Did the router answer that it does not know the model name ``asked``?"""
    if error.kind != "http" or error.status not in UNRESOLVED_MODEL_STATUSES:
        return False
    # zeke's own words for a bare 404 ("model or address not found") say nothing
    text = error.message.replace("model or address not found", "")
    if _UNKNOWN_MODEL.search(text):
        return True
    return error.status in _OPAQUE_UNKNOWN_STATUSES and bool(listed) and asked not in listed


def decide(
    error: ZekeError,
    *,
    fallback_enabled: bool,
    unresolved: bool,
    stand_in_available: bool,
    already_retried: bool,
) -> Action:
    """Map one failed attempt at the router to the next step."""
    unreachable = error.kind in ("unreachable", "timeout") or (
        error.kind == "http" and error.status in UNREACHABLE_STATUSES
    )
    if unreachable:
        return Action.DEGRADE if fallback_enabled else Action.SHOW
    if unresolved and stand_in_available and not already_retried:
        return Action.RETRY_CONCRETE
    return Action.SHOW


def stand_in(
    *,
    asked: str,
    alias_model: str | None,
    intent: str,
    aliases: Mapping[str, Any],
    listed: Collection[str],
) -> tuple[str, str] | None:
    """``(label, model to send)`` when the router cannot resolve ``asked``.

    The alias's own model first; then the configured aliases the intent prefers
    (``reason-*`` for reason, ``code-*`` for code and tests), each by its own name
    when the router lists that name (LiteLLM model groups), else by its model; a
    router whose list has none of them gets its first listed model. ``label`` is
    what the badge shows after ``⇢``: the alias name, or the model itself.
    """
    candidates: list[tuple[str, str | None]] = []
    if alias_model:
        candidates.append((alias_model, alias_model))
    prefix = "reason" if intent in ("reason", "vision") else "code"
    names = sorted(str(n) for n in aliases if str(n) != "auto" and str(n) != asked)
    names.sort(key=lambda n: not n.startswith(prefix))  # stable: the rest stay sorted
    for name in names:
        spec = aliases.get(name)
        model = spec.get("model") if isinstance(spec, Mapping) else None
        candidates.append((name, str(model) if model else None))
    for label, model in candidates:
        if not listed:
            if model and model != asked:
                return label, model
        elif label in listed and label != asked:
            return label, label
        elif model and model in listed and model != asked:
            return label, model
    for model in listed:
        if model != asked:
            return model, model
    return None
