"""Who answered a request and what it cost, assembled in one place from what the
streams said (``streamed.Answer``), the backend that answered and OMEN's model list.

``observed`` is what the badge shows while the answer streams; ``settle`` is what the
done event and the stats row carry, computed once per request; ``trace`` is the raw
routing evidence the cache keeps. Per field, the first usable source wins in the
order of ``routing.resolve_facts`` (docs/design.md §7): facts from another router's
headers or body go there.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    over_budget: bool = False


def observed(backend: Backend, answer: Answer, catalog: Catalog) -> routing.RoutingFacts:
    """Who is answering, as far as the answer so far says."""
    if not backend.router:  # the server is the answer: only the chunk names a model
        return routing.resolve_facts(
            headers={},
            routing_metadata=None,
            usage_cost=None,
            chunk_model=answer.chunk_model,
            alias_provider=backend.assumed_provider,
            alias_model=backend.assumed_model,
        )
    facts = routing.resolve_facts(
        headers=answer.headers,
        routing_metadata=answer.routing_metadata,
        usage_cost=answer.usage.cost_usd if answer.usage else None,
        chunk_model=answer.chunk_model,
        alias_provider=backend.assumed_provider,
        alias_model=backend.assumed_model,
    )
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
) -> Facts:
    """The request's facts once it is over. No backend (nothing was asked, or the
    router refused): nobody answered."""
    if backend is None:
        return Facts()
    seen = observed(backend, answer, catalog)
    usage = answer.usage or Usage()
    tokens_out = usage.tokens_out
    if tokens_out is None and answer.text:
        tokens_out = context.estimate_tokens(answer.text)
    cost = seen.cost_usd
    if cost is None:
        cost = routing.estimate_cost(
            provider=seen.provider,
            model=seen.model,
            tokens_in=usage.tokens_in,
            tokens_out=tokens_out,
            prices=catalog.prices,
        )
    return Facts(
        provider=seen.provider,
        model=seen.model,
        tokens_in=usage.tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        over_budget=routing.over_budget(cost, max_cloud_cost_cents, seen.provider),
    )


def trace(answer: Answer) -> dict[str, Any] | None:
    """The routing evidence as received (``x-omen-*`` headers, ``routing_metadata``)."""
    out: dict[str, Any] = dict(routing.omen_trace(answer.headers))
    if answer.routing_metadata:
        out["routing_metadata"] = answer.routing_metadata
    return out or None
