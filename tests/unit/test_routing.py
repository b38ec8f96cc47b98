"""Routing facts: who answered, what it cost, and what garbage must not change that."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeke.engine.routing import (
    RoutingFacts,
    estimate_cost,
    omen_trace,
    over_budget,
    parse_prices,
    resolve_facts,
)

ALL_HEADERS = {
    "X-OMEN-Provider": "anthropic",
    "X-OMEN-Model": "claude-3-5-sonnet",
    "X-OMEN-Latency-Ms": "812",
    "X-OMEN-Cost-Est": "0.0123",
    "X-OMEN-Routing-Reason": "intent=code, cheapest healthy",
}
METADATA = {
    "provider": "azure",
    "model_used": "gpt-5-codex",
    "latency_ms": 455,
    "cost_usd": 0.5,
    "routing_reason": "speculate_k winner",
}


def facts(**kw: Any) -> RoutingFacts:
    args: dict[str, Any] = {
        "headers": {},
        "routing_metadata": None,
        "usage_cost": None,
        "chunk_model": None,
        "known_provider": None,
        "alias_model": None,
    }
    args.update(kw)
    return resolve_facts(**args)


def test_headers_win_over_everything() -> None:
    got = facts(
        headers=ALL_HEADERS,
        routing_metadata=METADATA,
        usage_cost=0.9,
        chunk_model="llama3",
        known_provider="ollama",
        alias_model="deepseek-coder:14b",
    )
    assert got == RoutingFacts(
        provider="anthropic",
        model="claude-3-5-sonnet",
        latency_ms=812,
        cost_usd=0.0123,
        routing_reason="intent=code, cheapest healthy",
        sources={
            "provider": "header",
            "model": "header",
            "latency_ms": "header",
            "cost_usd": "header",
            "routing_reason": "header",
        },
    )


def test_header_names_any_case() -> None:
    got = facts(headers={"x-omen-provider": "xai", "X-Omen-MODEL": "grok-4"})
    assert (got.provider, got.model) == ("xai", "grok-4")
    assert got.sources == {"provider": "header", "model": "header"}


def test_routing_metadata_is_second() -> None:
    got = facts(
        routing_metadata=METADATA,
        usage_cost=0.9,
        chunk_model="llama3",
        known_provider="ollama",
        alias_model="deepseek-coder:14b",
    )
    assert (got.provider, got.model, got.latency_ms, got.cost_usd, got.routing_reason) == (
        "azure",
        "gpt-5-codex",
        455,
        0.5,
        "speculate_k winner",
    )
    assert set(got.sources.values()) == {"routing_metadata"}


def test_then_usage_cost_chunk_model_then_alias() -> None:
    got = facts(
        usage_cost=0.002,
        chunk_model="llama3.1:8b",
        known_provider="ollama",
        alias_model="deepseek-coder:14b",
    )
    assert (got.provider, got.model, got.cost_usd, got.latency_ms, got.routing_reason) == (
        "ollama",
        "llama3.1:8b",
        0.002,
        None,
        None,
    )
    assert got.sources == {"provider": "zeke", "model": "chunk", "cost_usd": "usage"}


def test_each_field_resolved_on_its_own() -> None:
    # Header has only the provider; metadata only the model; nothing else.
    got = facts(
        headers={"X-OMEN-Provider": "google"},
        routing_metadata={"model_used": "gemini-2.5-pro"},
        known_provider="ollama",
        alias_model="deepseek-coder:14b",
    )
    assert (got.provider, got.model) == ("google", "gemini-2.5-pro")
    assert got.sources == {"provider": "header", "model": "routing_metadata"}


def test_auto_echo_is_not_a_model() -> None:
    got = facts(chunk_model="auto", alias_model="deepseek-coder:14b", known_provider="ollama")
    assert got.model == "deepseek-coder:14b" and got.sources["model"] == "alias"
    got = facts(headers={"X-OMEN-Model": "AUTO"}, chunk_model="qwen2.5-coder:7b")
    assert got.model == "qwen2.5-coder:7b" and got.sources["model"] == "chunk"


@pytest.mark.parametrize(
    ("latency", "cost"),
    [
        ("-5", "NaN"),
        ("fast", "inf"),
        ("", "-0.01"),
        ("1e400", "cheap"),
        ("   ", ""),
    ],
)
def test_bad_header_numbers_fall_through(latency: str, cost: str) -> None:
    got = facts(
        headers={"X-OMEN-Latency-Ms": latency, "X-OMEN-Cost-Est": cost},
        routing_metadata={"latency_ms": 300, "cost_usd": "0.25"},
    )
    assert (got.latency_ms, got.cost_usd) == (300, 0.25)
    assert got.sources == {"latency_ms": "routing_metadata", "cost_usd": "routing_metadata"}


def test_bad_values_everywhere_leave_fields_unknown() -> None:
    got = facts(
        headers={"X-OMEN-Provider": "", "X-OMEN-Cost-Est": "NaN", "X-OMEN-Latency-Ms": "-1"},
        routing_metadata={
            "provider": 42,
            "model_used": ["x"],
            "latency_ms": float("nan"),
            "cost_usd": True,
            "routing_reason": {"a": 1},
        },
        usage_cost=float("-inf"),
        chunk_model="",
    )
    assert got == RoutingFacts(None, None, None, None, None, {})


def test_metadata_that_is_not_an_object_is_ignored() -> None:
    got = facts(routing_metadata=["provider", "azure"], known_provider="ollama")  # type: ignore[arg-type]
    assert got.provider == "ollama"


def test_zero_cost_is_a_known_cost() -> None:
    got = facts(headers={"X-OMEN-Cost-Est": "0"}, usage_cost=0.3)
    assert got.cost_usd == 0.0 and got.sources["cost_usd"] == "header"


def test_fractional_latency_is_rounded() -> None:
    assert facts(headers={"x-omen-latency-ms": "812.6"}).latency_ms == 813


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["X-OMEN-Latency-Ms", "X-OMEN-Cost-Est", "x-omen-model", "X-OMEN-Provider"]
        ),
        st.text(max_size=12),
    )
)
def test_any_header_text_gives_sane_facts(headers: dict[str, str]) -> None:
    got = facts(headers=headers, known_provider="ollama", alias_model="m")
    assert got.latency_ms is None or got.latency_ms >= 0
    assert got.cost_usd is None or got.cost_usd >= 0
    assert got.provider and got.model  # the alias always backs them up


def test_trace_keeps_every_omen_header_lower_cased() -> None:
    headers = {
        "Content-Type": "text/event-stream",
        "X-OMEN-Provider": "anthropic",
        "x-Omen-Trace-Id": "t-1",
        "X-OMEN-Cost-Est": "NaN",  # stored as sent: the trace is raw evidence
        "x-omenish": "no",
        "X-Request-ID": "r-1",
    }
    assert omen_trace(headers) == {
        "x-omen-provider": "anthropic",
        "x-omen-trace-id": "t-1",
        "x-omen-cost-est": "NaN",
    }
    assert omen_trace({}) == {}


def test_trace_from_httpx_headers() -> None:
    httpx = pytest.importorskip("httpx")
    headers = httpx.Headers([("X-OMEN-Strategy", "race"), ("server", "omen")])
    assert omen_trace(headers) == {"x-omen-strategy": "race"}
    assert facts(headers=httpx.Headers({"X-Omen-Provider": "openai"})).provider == "openai"


OMEN_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "gpt-5-codex",
            "object": "model",
            "owned_by": "azure",
            "provider": "azure",
            "context_length": 200000,
            "pricing": {"input_per_1k": 0.00125, "output_per_1k": 0.01},
            "capabilities": ["chat"],
        },
        {"id": "deepseek-coder:14b", "pricing": {"input_per_1k": 0, "output_per_1k": 0}},
        {"id": "no-pricing"},
        {"id": "half-priced", "pricing": {"input_per_1k": 0.001}},
        {"id": "bad-price", "pricing": {"input_per_1k": "NaN", "output_per_1k": -1}},
        "not an object",
        {"pricing": {"input_per_1k": 1, "output_per_1k": 1}},
    ],
}


def test_prices_from_omen_models() -> None:
    assert parse_prices(OMEN_MODELS) == {
        "gpt-5-codex": (0.00125, 0.01),
        "deepseek-coder:14b": (0.0, 0.0),
    }
    assert parse_prices(json.dumps(OMEN_MODELS)) == parse_prices(OMEN_MODELS)


@pytest.mark.parametrize(
    "garbage",
    [
        "<!doctype html><html><body>404 Not Found</body></html>",
        b"<html>",
        None,
        42,
        [],
        {"data": "nope"},
        {"data": None},
        {"object": "list"},
        {"error": {"message": "Not Found", "code": 404}},
    ],
)
def test_prices_from_garbage_are_empty(garbage: Any) -> None:
    assert parse_prices(garbage) == {}


PRICES = {"gpt-5-codex": (0.00125, 0.01), "anthropic/claude-3-5-sonnet": (0.003, 0.015)}


def test_cost_from_prices() -> None:
    # 2000 in at $0.00125/1k + 500 out at $0.01/1k
    assert estimate_cost(
        provider="azure", model="gpt-5-codex", tokens_in=2000, tokens_out=500, prices=PRICES
    ) == pytest.approx(0.0025 + 0.005)
    assert estimate_cost(
        provider="anthropic",
        model="claude-3-5-sonnet",
        tokens_in=1000,
        tokens_out=1000,
        prices=PRICES,
    ) == pytest.approx(0.018)


def test_ollama_is_free_even_without_prices() -> None:
    for provider in ("ollama", "Ollama"):
        got = estimate_cost(
            provider=provider,
            model="deepseek-coder:14b",
            tokens_in=None,
            tokens_out=None,
            prices={},
        )
        assert got == 0.0


@pytest.mark.parametrize(
    ("provider", "model", "tokens_in", "tokens_out"),
    [
        ("azure", "unknown-model", 10, 10),
        ("azure", "gpt-5-codex", None, 10),
        ("azure", "gpt-5-codex", 10, None),
        ("azure", "gpt-5-codex", -1, 10),
        (None, None, 10, 10),
    ],
)
def test_unknown_cost_is_none_not_zero(
    provider: str | None, model: str | None, tokens_in: int | None, tokens_out: int | None
) -> None:
    got = estimate_cost(
        provider=provider, model=model, tokens_in=tokens_in, tokens_out=tokens_out, prices=PRICES
    )
    assert got is None


def test_over_budget() -> None:
    assert over_budget(2.01, 200, "anthropic") is True
    assert over_budget(2.00, 200, "anthropic") is False
    assert over_budget(0.07, 7, "azure") is False  # 0.07 * 100 is 7.000000000000001
    assert over_budget(0.08, 7, None) is True
    assert over_budget(5.0, 200, "ollama") is False  # local is never "cloud cost"
    assert over_budget(None, 200, "azure") is False  # unknown is not flagged
    assert over_budget(5.0, None, "azure") is False  # no limit set
    assert over_budget(0.01, 0, "azure") is True
