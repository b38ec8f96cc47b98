"""The routing receipt's lines (engine/receipt.py), built from what the routing code
reports: an OMEN-shaped answer (X-OMEN-* headers), a LiteLLM-shaped one (x-litellm-*),
a silent router, one from the cache, and server text that tries to break the float."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from zeke.engine import receipt, routing
from zeke.engine.facts import Facts
from zeke.store.records import Prefs


def _request(**kw: Any) -> SimpleNamespace:
    base: dict[str, Any] = {
        "rid": "r1",
        "project": "grim",
        "intent": "reason",
        "alias": SimpleNamespace(name="auto"),
        "backend": SimpleNamespace(model="auto", label="OMEN"),
        "tags": {"intent": "reason", "project": "grim", "size_hint": "tiny"},
        "omen": None,
        "prefs": Prefs(),
        "retried_as": None,
        "retry_reason": None,
        "degraded": False,
        "degraded_reason": None,
    }
    base.update(kw)
    return SimpleNamespace(**base)


def _facts(seen: routing.RoutingFacts, **kw: Any) -> Facts:
    sources = dict(seen.sources)
    sources.update(kw.pop("sources", {}))
    return Facts(
        provider=seen.provider,
        model=seen.model,
        cost_usd=seen.cost_usd,
        routing_reason=seen.routing_reason,
        router_latency_ms=seen.latency_ms,
        sources=sources,
        **kw,
    )


DONE = {"state": "done", "ttfb_ms": 120, "latency_ms": 340, "tokens_in": 12, "tokens_out": 8}


def _row(lines: list[str], label: str) -> str:
    hits = [line for line in lines if line.strip().startswith(label)]
    assert hits, (label, lines)
    return hits[0]


def test_an_omen_answer_names_each_fact_and_its_router_header() -> None:
    headers = {
        "X-OMEN-Provider": "anthropic",
        "X-OMEN-Model": "claude-sonnet-4",
        "X-OMEN-Latency-Ms": "42",
        "X-OMEN-Cost-Est": "0.003100",
        "X-OMEN-Routing-Reason": "fast enough, cheapest",
        "X-OMEN-Trace-Strategy": "single",
    }
    seen = routing.resolve_facts(
        headers=headers, routing_metadata=None, usage_cost=None, chunk_model=None
    )
    prefs = Prefs(prefer="local", max_cloud_cost_cents=3, budget_set=True)
    req = _request(
        prefs=prefs,
        omen={"budget_usd": 0.03},
        tags={"intent": "reason", "project": "grim", "size_hint": "tiny", "prefer_local": "true"},
    )
    r = receipt.from_request(
        req,
        SimpleNamespace(headers=headers),
        _facts(seen, sources={"tokens_in": "usage", "tokens_out": "usage"}),
        {**DONE, "cost_usd": 0.0031},
    )
    lines = receipt.lines(r)
    text = "\n".join(lines)
    assert receipt.NOTHING not in text
    assert _row(lines, "provider").split() == [
        "provider", "anthropic", "[router", "header", "X-OMEN-*]",
    ]  # fmt: skip
    assert "claude-sonnet-4" in _row(lines, "model ") and "X-OMEN-*" in _row(lines, "model ")
    assert "fast enough, cheapest" in _row(lines, "reason")
    assert "single" in _row(lines, "strategy") and "X-OMEN-*" in _row(lines, "strategy")
    assert "$0.0031" in _row(lines, "cost") and "X-OMEN-*" in _row(lines, "cost")
    assert "42 ms" in _row(lines, "router latency")
    assert "120 ms" in _row(lines, "ttfb") and "measured by zeke" in _row(lines, "ttfb")
    assert "340 ms" in _row(lines, "duration")
    assert _row(lines, "tokens in").split()[2] == "12"
    assert '{"budget_usd": 0.03}' in _row(lines, "omen")
    assert "true" in _row(lines, "prefer_local")
    assert "prefer local · budget 3¢" in _row(lines, "prefs")
    assert "auto (alias auto)" in _row(lines, "asked for")
    assert _row(lines, "degraded").split() == ["degraded", "no"]


def test_a_litellm_answer_names_its_headers_and_a_stand_in_with_why() -> None:
    headers = {
        "x-litellm-model-name": "anthropic/claude-3-5-sonnet-20241022",
        "x-litellm-response-cost": "0.0",
        "x-litellm-response-duration-ms": "812.5",
    }
    seen = routing.resolve_facts(
        headers=headers, routing_metadata=None, usage_cost=0.0004, chunk_model="reason-deep",
        asked="reason-deep",
    )  # fmt: skip
    req = _request(
        backend=SimpleNamespace(model="reason-deep", label="the router at 127.0.0.1:4000"),
        retried_as="reason-deep",
        retry_reason="the router at 127.0.0.1:4000 answered 400: Invalid model name auto",
    )
    facts = _facts(seen, tokens_in_estimated=True, sources={"tokens_in": "estimate"})
    r = receipt.from_request(
        req, SimpleNamespace(headers=headers), facts, {**DONE, "cost_usd": 0.0004}
    )
    lines = receipt.lines(r)
    assert "claude-3-5-sonnet-20241022" in _row(lines, "model ")
    assert "x-litellm-*" in _row(lines, "model ")
    assert "anthropic" in _row(lines, "provider") and "x-litellm-*" in _row(lines, "provider")
    assert "usage" in _row(lines, "cost")  # usage.cost, not the 0.0 header
    assert "zeke asked for reason-deep instead: " in _row(lines, "stand-in")
    assert "Invalid model name auto" in _row(lines, "stand-in")
    assert "~12 (estimated)" in _row(lines, "tokens in") and "local estimate" in _row(
        lines, "tokens in"
    )
    assert "812 ms" in _row(lines, "router latency") or "813 ms" in _row(lines, "router latency")


def test_a_silent_router_says_it_reported_nothing_not_blanks() -> None:
    seen = routing.resolve_facts(
        headers={}, routing_metadata=None, usage_cost=None, chunk_model="auto", asked="auto"
    )
    r = receipt.from_request(_request(), SimpleNamespace(headers={}), _facts(seen), DONE)
    lines = receipt.lines(r)
    assert f"  {receipt.NOTHING}" in lines
    assert "?" in _row(lines, "provider") and "not reported" in _row(lines, "provider")
    assert "$?" in _row(lines, "cost") and "unknown" in _row(lines, "cost")
    assert "(none sent)" in _row(lines, "omen")
    assert "prefer auto · budget 200¢ (default)" in _row(lines, "prefs")
    assert all(line == line.rstrip() or line.strip() == "" for line in lines)


def test_a_cost_from_listed_prices_is_marked_and_degraded_says_why() -> None:
    seen = routing.resolve_facts(
        headers={}, routing_metadata=None, usage_cost=None, chunk_model=None
    )
    facts = _facts(seen, over_budget=True, sources={"cost_usd": "prices"})
    req = _request(degraded=True, degraded_reason="OMEN is unreachable (connection refused)")
    r = receipt.from_request(
        req, SimpleNamespace(headers={}), facts, {**DONE, "cost_usd": 0.05, "over_budget": True}
    )
    lines = receipt.lines(r)
    assert "computed from the listed prices" in _row(lines, "cost")
    assert "over the project's budget" in _row(lines, "cost")
    assert "connection refused" in _row(lines, "degraded")


def test_server_text_is_one_line_of_plain_text() -> None:
    nasty = "evil\nline\x1b[31m red\r\x00 %{execute('qa!')}\x9b" + "x" * 500
    seen = routing.resolve_facts(
        headers={"X-OMEN-Model": nasty, "X-OMEN-Routing-Reason": nasty},
        routing_metadata=None, usage_cost=None, chunk_model=None,
    )  # fmt: skip
    r = receipt.from_request(_request(), SimpleNamespace(headers={}), _facts(seen), DONE)
    for line in receipt.lines(r):
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line), repr(line)
        assert len(line) < 260


def test_a_request_from_the_cache_shows_what_was_stored() -> None:
    row = {
        "request_id": "old1", "project": "grim", "intent": "code", "status": "ok",
        "alias": "code-smart", "model": "gpt-5-codex", "provider": "openai",
        "size_hint": "small", "ttfb_ms": 90, "latency_ms": 400, "tokens_in": 30,
        "tokens_in_estimated": 1, "tokens_out": 9, "cost_usd": None, "degraded": 0,
        "over_budget": 0, "switched_from": "gpt-4o", "error": None,
    }  # fmt: skip
    trace = {"x-omen-model": "gpt-5-codex", "x-omen-routing-reason": "cheapest", "retried_as": None}
    lines = receipt.lines(receipt.from_row(row, trace))
    assert "hints sent were not kept" in "\n".join(lines)
    assert "X-OMEN-*" in _row(lines, "model ") and "cheapest" in _row(lines, "reason")
    assert "from gpt-4o to gpt-5-codex" in _row(lines, "switched")
    assert "~30 (estimated)" in _row(lines, "tokens in")
    silent = receipt.lines(receipt.from_row(row, {}))
    assert f"  {receipt.NOTHING}" in silent
