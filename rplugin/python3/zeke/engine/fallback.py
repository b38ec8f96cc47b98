"""What to do when OMEN did not give us a stream: the one place that decides.

Contract §9: the router being *unreachable* (refused, no answer before the
timeout, 502/503/504, ``/ready`` 503) sends us to local Ollama; the router's own
*answers* (400, 401, 404, 429) are decisions and are shown, never routed around.
Upstream-notes §1: today's OMEN cannot resolve ``auto``/aliases and answers 500
(or 404), so those get one retry with a concrete model first.
"""

from __future__ import annotations

from enum import Enum

from zeke.errors import ZekeError


class Action(str, Enum):
    RETRY_CONCRETE = "retry_concrete"
    DEGRADE = "degrade"
    SHOW = "show"


UNREACHABLE_STATUSES = frozenset({502, 503, 504})
UNRESOLVED_MODEL_STATUSES = frozenset({404, 500})


def decide(
    error: ZekeError,
    *,
    fallback_enabled: bool,
    model_is_concrete: bool,
    concrete_available: bool,
    already_retried: bool,
) -> Action:
    """Map one failed attempt at OMEN to the next step."""
    unreachable = error.kind in ("unreachable", "timeout") or (
        error.kind == "http" and error.status in UNREACHABLE_STATUSES
    )
    if unreachable:
        return Action.DEGRADE if fallback_enabled else Action.SHOW
    if (
        error.kind == "http"
        and error.status in UNRESOLVED_MODEL_STATUSES
        and not model_is_concrete
        and concrete_available
        and not already_retried
    ):
        return Action.RETRY_CONCRETE
    return Action.SHOW
