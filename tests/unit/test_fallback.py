"""fallback.decide as a table: what happens after one failed attempt at OMEN (docs/design.md §9)."""

from __future__ import annotations

import itertools

import pytest

from zeke.engine.fallback import Action, decide
from zeke.errors import ZekeError

DEGRADE, SHOW, RETRY = Action.DEGRADE, Action.SHOW, Action.RETRY_CONCRETE


def err(kind: str, status: int | None = None) -> ZekeError:
    return ZekeError(f"{kind} {status}", kind=kind, status=status)


# (error kind, HTTP status, fallback on, model is concrete, concrete available, retried) → action
TABLE = [
    # the router cannot be reached: degraded mode when enabled, else show the error
    ("unreachable", None, True, False, True, False, DEGRADE),
    ("unreachable", None, False, False, True, False, SHOW),
    ("timeout", None, True, False, True, False, DEGRADE),
    ("timeout", None, False, False, True, False, SHOW),
    ("http", 502, True, False, True, False, DEGRADE),
    ("http", 503, True, False, True, False, DEGRADE),
    ("http", 504, True, False, True, False, DEGRADE),
    ("http", 502, False, False, True, False, SHOW),
    ("http", 503, False, False, True, False, SHOW),
    ("http", 504, False, False, True, False, SHOW),
    # unreachable wins over an alias retry, and a concrete model or a retry changes nothing
    ("http", 503, True, True, True, True, DEGRADE),
    ("unreachable", None, True, True, False, True, DEGRADE),
    # the router's own answers are decisions: shown, never routed around
    ("http", 400, True, False, True, False, SHOW),
    ("http", 401, True, False, True, False, SHOW),
    ("http", 403, True, False, True, False, SHOW),
    ("http", 429, True, False, True, False, SHOW),
    ("http", 422, True, False, True, False, SHOW),
    # today's OMEN cannot resolve aliases (404 / opaque 500): one retry with the concrete model
    ("http", 404, True, False, True, False, RETRY),
    ("http", 500, True, False, True, False, RETRY),
    ("http", 500, False, False, True, False, RETRY),  # a retry is not a fallback
    ("http", 404, True, False, True, True, SHOW),  # then show
    ("http", 500, True, False, True, True, SHOW),
    ("http", 500, True, True, True, False, SHOW),  # already the concrete model
    ("http", 404, True, False, False, False, SHOW),  # nothing concrete to retry with
    # other 5xx and failures inside the stream are shown
    ("http", 501, True, False, True, False, SHOW),
    ("stream", None, True, False, True, False, SHOW),
    ("config", None, True, False, True, False, SHOW),
    ("internal", None, True, False, True, False, SHOW),
]


@pytest.mark.parametrize(
    ("kind", "status", "fallback", "concrete", "available", "retried", "expected"), TABLE
)
def test_decision_table(kind, status, fallback, concrete, available, retried, expected):
    action = decide(
        err(kind, status),
        fallback_enabled=fallback,
        model_is_concrete=concrete,
        concrete_available=available,
        already_retried=retried,
    )
    assert action is expected


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_router_answers_never_degrade_whatever_the_flags(status):
    for fallback, concrete, available, retried in itertools.product([True, False], repeat=4):
        action = decide(
            err("http", status),
            fallback_enabled=fallback,
            model_is_concrete=concrete,
            concrete_available=available,
            already_retried=retried,
        )
        assert action is not DEGRADE, (status, fallback, concrete, available, retried)


def test_retry_happens_at_most_once_per_request():
    # The engine feeds back already_retried=True after the first retry: a router that
    # keeps answering 500 must end in SHOW, not loop.
    retried, actions = False, []
    for _ in range(5):
        action = decide(
            err("http", 500),
            fallback_enabled=True,
            model_is_concrete=retried,
            concrete_available=True,
            already_retried=retried,
        )
        actions.append(action)
        if action is not RETRY:
            break
        retried = True
    assert actions == [RETRY, SHOW]
