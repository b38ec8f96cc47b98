"""Who answered a request and what it cost, assembled in one place from what the
streams said (``streamed.Answer``), the backend that answered and OMEN's model list.

``observed`` is what the badge shows while the answer streams; ``settle`` is what the
done event and the stats row carry, computed once per request; ``trace`` is the raw
routing evidence the cache keeps. Per field, the first usable source wins in the
order of ``routing.resolve_facts`` (docs/design.md §7): facts from another router's
headers or body go there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zeke.backends.events import Usage
from zeke.engine import context, routing
from zeke.engine.backend import Backend
from zeke.engine.catalog import Catalog
from zeke.engine.streamed import Answer


@dataclass(frozen=True)
class Facts:
    """Who answered and what it cost; None: not known (never shown as 0)."""

    provider: str | None = None
    model: str | None = None
    switched_from: str | None = None  # the model that began the answer, before a switch
    tokens_in: int | None = None
    tokens_in_estimated: bool = False  # the server sent none: zeke counted the prompt
    tokens_out: int | None = None
    cost_usd: float | None = None
    over_budget: bool = False
    # for the receipt (:ZekeWhy): the router's own words and where each fact came from
    # (routing.RoutingFacts.sources; "prices" for a cost from the listed prices)
    routing_reason: str | None = None
    router_latency_ms: int | None = None
    sources: dict[str, str] = field(default_factory=dict)


def observed(backend: Backend, answer: Answer, catalog: Catalog) -> routing.RoutingFacts:
    """Who is answering, as far as the answer so far says."""
    if not backend.router:  # zeke talks to the server itself: it knows who answers
        return routing.resolve_facts(
            headers={},
            routing_metadata=None,
            usage_cost=None,
            chunk_model=answer.chunk_model,
            known_provider=backend.assumed_provider,
            alias_model=backend.assumed_model,
        )
    assumed = backend.assumed_model
    if assumed is not None and assumed != backend.model and assumed not in catalog.models:
        assumed = None  # the alias's model, but the router does not say it serves it
    facts = routing.resolve_facts(
        headers=answer.headers,
        routing_metadata=answer.routing_metadata,
        usage_cost=answer.usage.cost_usd if answer.usage else None,
        chunk_model=answer.chunk_model,
        body_provider=answer.body_provider,
        alias_model=assumed,
        asked=None if backend.model == assumed else backend.model,
    )
    late = routing.clean_model(answer.late_model)
    if late and late.lower() != backend.model.lower() and late != facts.model:
        # named by the body mid-answer: newer than the headers sent before the switch
        facts.model = late
        facts.sources["model"] = "chunk"
        if facts.sources.get("provider") == "header" and answer.routing_metadata:
            provider = routing.clean_text(answer.routing_metadata.get("provider"))
            if provider:
                facts.provider = provider
                facts.sources["provider"] = "routing_metadata"
    listed = catalog.provider_of(facts.model)
    if facts.provider is None and listed:
        # today's OMEN names no provider, but its model list does
        facts.provider = listed
        facts.sources["provider"] = "models"
    return facts


def settle(
    backend: Backend | None,
    answer: Answer,
    *,
    catalog: Catalog,
    max_cloud_cost_cents: int | None,
    prompt_tokens: int | None = None,
) -> Facts:
    """The request's facts once it is over. No backend (nothing was asked, or the
    router refused): nobody answered. ``prompt_tokens``: zeke's own count of what it
    sent, for when the server reports none."""
    if backend is None:
        return Facts()
    seen = observed(backend, answer, catalog)
    usage = answer.usage or Usage()
    tokens_out = usage.tokens_out
    if tokens_out is None and answer.text:
        tokens_out = context.estimate_tokens(answer.text)
    tokens_in, estimated = usage.tokens_in, False
    if tokens_in is None and prompt_tokens is not None:
        tokens_in, estimated = prompt_tokens, True
    sources = dict(seen.sources)
    cost = seen.cost_usd
    if cost is None:
        cost = routing.estimate_cost(
            provider=seen.provider,
            model=seen.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            prices=catalog.prices,
        )
        if cost is not None:
            local = (seen.provider or "").lower() == "ollama"  # routing: a local answer is free
            sources["cost_usd"] = "local" if local else "prices"
    if usage.tokens_in is not None:
        sources["tokens_in"] = "usage"
    elif tokens_in is not None:
        sources["tokens_in"] = "estimate"
    if usage.tokens_out is not None:
        sources["tokens_out"] = "usage"
    elif tokens_out is not None:
        sources["tokens_out"] = "estimate"
    return Facts(
        provider=seen.provider,
        model=seen.model,
        switched_from=answer.switched_from,
        tokens_in=tokens_in,
        tokens_in_estimated=estimated,
        tokens_out=tokens_out,
        cost_usd=cost,
        over_budget=routing.over_budget(cost, max_cloud_cost_cents, seen.provider),
        routing_reason=seen.routing_reason,
        router_latency_ms=seen.latency_ms,
        sources=sources,
    )


def trace(answer: Answer, retried_as: str | None = None) -> dict[str, Any] | None:
    """The routing evidence as received (router headers, ``routing_metadata``), the
    models in answering order when they changed, and the retry zeke made."""
    out: dict[str, Any] = dict(routing.omen_trace(answer.headers))
    if answer.routing_metadata:
        out["routing_metadata"] = answer.routing_metadata
    if answer.switched_from:
        out["models"] = list(answer.models)
    if retried_as:
        out["retried_as"] = retried_as
    return out or None
