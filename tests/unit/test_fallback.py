"""The fallback decision and the retry policy (docs/design.md §9, §12): what happens
after one failed attempt at the router, when a failure means "I do not know that
model", and which model stands in."""

from __future__ import annotations

import itertools

import pytest

from zeke.backends.http.failures import describe_http_error
from zeke.engine.fallback import Action, cannot_resolve, decide, stand_in
from zeke.errors import ZekeError

DEGRADE, SHOW, RETRY = Action.DEGRADE, Action.SHOW, Action.RETRY_CONCRETE

ALIASES = {
    "code-fast": {"provider": "ollama", "model": "deepseek-coder:14b"},
    "code-plus": {"provider": "ollama", "model": "deepseek-coder:33b"},
    "code-smart": {"provider": "azure", "model": "gpt-5-codex"},
    "reason-deep": {"provider": "anthropic", "model": "claude-3-5-sonnet"},
}
OMEN_LIST = ["deepseek-coder:14b", "deepseek-coder:33b", "gpt-5-codex", "claude-3-5-sonnet"]


def err(kind: str, status: int | None = None) -> ZekeError:
    return ZekeError(f"{kind} {status}", kind=kind, status=status)


def http(status: int, body: bytes) -> ZekeError:
    return describe_http_error(status, {}, body, endpoint_name="the router at 127.0.0.1:4000")


# (error kind, HTTP status, fallback on, unresolved, stand-in available, retried) → action
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
    ("http", 503, True, True, True, True, DEGRADE),  # unreachable wins over a retry
    # the router's own answers are decisions: shown, never routed around
    ("http", 400, True, False, True, False, SHOW),
    ("http", 401, True, False, True, False, SHOW),
    ("http", 429, True, False, True, False, SHOW),
    ("http", 500, True, False, True, False, SHOW),  # a passing fault, not an unknown name
    # "I do not know that model": one retry with a stand-in
    ("http", 400, True, True, True, False, RETRY),
    ("http", 404, True, True, True, False, RETRY),
    ("http", 500, False, True, True, False, RETRY),  # a retry is not a fallback
    ("http", 404, True, True, True, True, SHOW),  # then show
    ("http", 404, True, True, False, False, SHOW),  # nothing to stand in
    ("stream", None, True, False, True, False, SHOW),
    ("internal", None, True, False, True, False, SHOW),
]


@pytest.mark.parametrize(
    ("kind", "status", "fallback", "unresolved", "available", "retried", "expected"), TABLE
)
def test_decision_table(kind, status, fallback, unresolved, available, retried, expected):
    action = decide(
        err(kind, status),
        fallback_enabled=fallback,
        unresolved=unresolved,
        stand_in_available=available,
        already_retried=retried,
    )
    assert action is expected


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_router_answers_never_degrade_whatever_the_flags(status):
    for fallback, unresolved, available, retried in itertools.product([True, False], repeat=4):
        action = decide(
            err("http", status),
            fallback_enabled=fallback,
            unresolved=unresolved,
            stand_in_available=available,
            already_retried=retried,
        )
        assert action is not DEGRADE


def test_litellm_invalid_model_name_is_an_unknown_name_whatever_the_list() -> None:
    body = (
        b'{"error":{"message":"{\'error\': \'/chat/completions: Invalid model name passed in '
        b"model=auto. Call `/v1/models` to view available models for your key.'}\","
        b'"type":"None","param":"None","code":"400"}}'
    )
    assert cannot_resolve(http(400, body), "auto", ["code-fast"])
    assert cannot_resolve(http(400, body), "auto", [])


def test_a_404_model_not_found_is_an_unknown_name() -> None:
    e = http(404, b'{"error":{"message":"Model \'auto\' not found","code":404}}')
    assert cannot_resolve(e, "auto", [])


def test_an_opaque_500_is_an_unknown_name_only_when_the_list_lacks_the_name() -> None:
    e = http(500, b'{"error":{"message":"Internal server error","type":"api_error","code":500}}')
    assert cannot_resolve(e, "auto", OMEN_LIST)  # today's OMEN, which lists models only
    assert not cannot_resolve(e, "auto", ["auto", *OMEN_LIST])  # LiteLLM restarting a backend
    assert not cannot_resolve(e, "auto", [])  # nothing says the name is unknown


def test_other_refusals_are_not_unknown_names() -> None:
    assert not cannot_resolve(http(401, b""), "auto", OMEN_LIST)
    assert not cannot_resolve(http(429, b'{"error":"rate limited"}'), "auto", OMEN_LIST)
    tags = b'{"error":{"message":"tags.size: invalid type, expected a string","code":400}}'
    assert not cannot_resolve(http(400, tags), "auto", OMEN_LIST)
    assert not cannot_resolve(http(404, b"<html>404 page not found</html>"), "auto", [])
    assert not cannot_resolve(err("unreachable"), "auto", OMEN_LIST)


def pick(asked: str = "auto", **kw):
    args = {"alias_model": None, "intent": "code", "aliases": ALIASES, "listed": OMEN_LIST}
    args.update(kw)
    return stand_in(asked=asked, **args)


def test_the_stand_in_follows_the_intent_not_the_alphabet() -> None:
    assert pick(intent="reason") == ("reason-deep", "claude-3-5-sonnet")
    assert pick(intent="code") == ("code-fast", "deepseek-coder:14b")
    assert pick(intent="tests") == ("code-fast", "deepseek-coder:14b")


def test_an_alias_with_a_model_stands_in_with_its_own_model() -> None:
    got = pick("code-smart", alias_model="gpt-5-codex", intent="reason")
    assert got == ("gpt-5-codex", "gpt-5-codex")


def test_a_router_that_lists_alias_names_gets_the_name() -> None:
    # LiteLLM's model groups can be named like zeke's aliases
    assert pick(listed=["reason-deep", "code-fast"], intent="reason") == (
        "reason-deep",
        "reason-deep",
    )


def test_only_models_the_router_lists_stand_in() -> None:
    assert pick(listed=["gpt-5-codex"], intent="reason") == ("code-smart", "gpt-5-codex")
    # none of the aliases: the router's own first model
    assert pick(listed=["SmolLM2-135M-Instruct"]) == (
        "SmolLM2-135M-Instruct",
        "SmolLM2-135M-Instruct",
    )


def test_no_list_uses_the_intent_alias_model_and_nothing_means_no_retry() -> None:
    assert pick(listed=[], intent="reason") == ("reason-deep", "claude-3-5-sonnet")
    assert pick(listed=[], aliases={}) is None
    assert pick(listed=["auto"], aliases={}) is None  # never the name that just failed
