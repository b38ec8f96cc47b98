"""Who answered and what it cost: routing facts from a router's answer.

docs/design.md §7: per field, the first source that has a usable value wins —
OMEN's ``X-OMEN-*`` response headers, then the body's ``routing_metadata``, then
LiteLLM's ``x-litellm-*`` headers, then a body ``provider`` field (OpenRouter
style), then ``usage.cost`` (cost only), then the chunk's ``model`` (model only),
then what zeke itself knows (the model an alias names, when the router lists it;
Ollama when zeke talks to Ollama).  Values that are empty, non-numeric, NaN,
infinite, negative or absurd count as absent, so the next source gets its turn;
a chunk ``model`` that only echoes the name zeke asked for is not a fact.  The
alias table's ``provider`` is never a fact: nobody reported it.

Cost falls back to tokens × the price ``/models`` lists; Ollama is free; an
unknown cost stays ``None`` (never shown as $0).

Pure module: no pynvim, no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RoutingFacts",
    "estimate_cost",
    "is_omen",
    "omen_trace",
    "over_budget",
    "parse_prices",
    "resolve_facts",
]

# Model names that say "the router picked" rather than which model answered:
# OMEN's Ollama adapter echoes the request's "auto" back in every chunk.
_NOT_CONCRETE = frozenset({"auto", "default", "router", "omen", "omen/auto"})

# Beyond these a figure is garbage, not a measurement: one request does not
# take a day, nor cost ten thousand dollars.
_MAX_LATENCY_MS = 24 * 3600 * 1000
_MAX_COST_USD = 10_000.0
_MAX_PRICE_PER_1K = 10_000.0

_LOCAL_PROVIDERS = frozenset({"ollama"})

_HEADER_FIELDS = {
    "provider": "x-omen-provider",
    "model": "x-omen-model",
    "latency_ms": "x-omen-latency-ms",
    "cost_usd": "x-omen-cost-est",
    "routing_reason": "x-omen-routing-reason",
}
# LiteLLM's proxy: the deployment's model, the cost and its own duration. The model
# group (x-litellm-model-group) is the name asked for and x-litellm-model-id a hash:
# neither is a model. On a stream the cost header is sent before the answer and reads
# 0.0, so a zero there is not a fact (usage.cost at the end is).
_LITELLM_FIELDS = {
    "model": "x-litellm-model-name",
    "latency_ms": "x-litellm-response-duration-ms",
    "cost_usd": "x-litellm-response-cost",
}
# LiteLLM names a deployment "<adapter>/<model>". Generic adapters speak the OpenAI API
# to whatever server is behind them, so they say nothing of the provider; the others
# are the provider's own API.
_LITELLM_GENERIC_ADAPTERS = frozenset(
    {"openai", "openai_like", "custom_openai", "text-completion-openai", "hosted_vllm",
     "llamafile", "lm_studio", "litellm_proxy"}
)  # fmt: skip
_LITELLM_PROVIDER_ADAPTERS = {
    "anthropic": "anthropic", "azure": "azure", "azure_ai": "azure", "bedrock": "bedrock",
    "vertex_ai": "vertex_ai", "gemini": "gemini", "groq": "groq", "mistral": "mistral",
    "deepseek": "deepseek", "cohere": "cohere", "xai": "xai", "ollama": "ollama",
    "ollama_chat": "ollama", "openrouter": "openrouter", "together_ai": "together_ai",
    "fireworks_ai": "fireworks_ai", "perplexity": "perplexity", "deepinfra": "deepinfra",
    "cerebras": "cerebras",
}  # fmt: skip
_METADATA_FIELDS = {
    "provider": "provider",
    "model": "model_used",
    "latency_ms": "latency_ms",
    "cost_usd": "cost_usd",
    "routing_reason": "routing_reason",
}


@dataclass
class RoutingFacts:
    """What is known about who answered; ``sources`` says where each field came from.

    ``sources`` maps a field name to ``"header"`` (X-OMEN-*), ``"routing_metadata"``,
    ``"litellm"`` (x-litellm-* headers), ``"body"``, ``"usage"``, ``"chunk"``,
    ``"alias"``, ``"zeke"`` (or ``"models"`` / ``"prices"`` when the caller fills a
    field from the router's model list); fields still unknown are absent.
    """

    provider: str | None
    model: str | None
    latency_ms: int | None
    cost_usd: float | None
    routing_reason: str | None
    sources: dict[str, str] = field(default_factory=dict)


def litellm_deployment(value: Any) -> tuple[str | None, str | None]:
    """``(model, provider)`` from LiteLLM's ``x-litellm-model-name``.

    The adapter prefix goes; it is the provider only when the adapter is that
    provider's own API (``anthropic/…``, ``ollama_chat/…``), never for the generic
    OpenAI-style adapters (``openai/…`` in front of llama.cpp, vLLM, another router).
    A name with no known adapter is kept whole: model names have slashes too.
    """
    text = _header_text(value)
    if text is None or "/" not in text:
        return text, None
    adapter, rest = text.split("/", 1)
    key = adapter.strip().lower()
    if not rest.strip():
        return text, None
    if key in _LITELLM_GENERIC_ADAPTERS:
        return rest, None
    if key in _LITELLM_PROVIDER_ADAPTERS:
        return rest, _LITELLM_PROVIDER_ADAPTERS[key]
    return text, None


def _header_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) else None


_TRACE_PREFIXES = ("x-omen-", "x-litellm-")


def omen_trace(headers: Mapping[str, str]) -> dict[str, str]:
    """Every router header (``x-omen-*``, ``x-litellm-*``; any case), names
    lower-cased, for ``routing_trace``."""
    out: dict[str, str] = {}
    for name, value in _items(headers):
        key = _header_text(name)
        text = _header_text(value)
        if key is None or text is None:
            continue
        key = key.lower()
        if key.startswith(_TRACE_PREFIXES):
            # Repeated headers: keep them all rather than silently drop one.
            out[key] = f"{out[key]}, {text}" if key in out else text
    return out


def is_omen(headers: Mapping[str, str]) -> bool:
    """Headers only OMEN sends (``X-OMEN-*``)."""
    return any(key.startswith("x-omen-") for key in omen_trace(headers))


def _items(headers: Any) -> list[tuple[Any, Any]]:
    """(name, value) pairs of a dict, httpx.Headers or list of pairs; [] for garbage."""
    if headers is None:
        return []
    try:
        items = headers.items() if hasattr(headers, "items") else headers
        return [(k, v) for k, v in items]
    except (TypeError, ValueError):
        return []


def _lower_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in _items(headers):
        key, text = _header_text(name), _header_text(value)
        if key is not None and text is not None:
            out.setdefault(key.lower(), text)  # first occurrence wins
    return out


def _as_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _as_model(value: Any) -> str | None:
    text = _as_text(value)
    if text is None or text.lower() in _NOT_CONCRETE:
        return None
    return text


def _as_number(value: Any, limit: float) -> float | None:
    """A finite, non-negative number no larger than ``limit``, from a number or text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    number = float(value)
    if not math.isfinite(number) or number < 0 or number > limit:
        return None
    return number


def _as_latency(value: Any) -> int | None:
    number = _as_number(value, _MAX_LATENCY_MS)
    return None if number is None else round(number)


def _as_cost(value: Any) -> float | None:
    return _as_number(value, _MAX_COST_USD)


def clean_model(value: Any) -> str | None:
    """A model name as a fact: text, not a word like "auto" that names the router."""
    return _as_model(value)


def clean_text(value: Any) -> str | None:
    """Text as a fact: stripped, and not empty."""
    return _as_text(value)


_CLEANERS = {
    "provider": _as_text,
    "model": _as_model,
    "latency_ms": _as_latency,
    "cost_usd": _as_cost,
    "routing_reason": _as_text,
}


def resolve_facts(
    *,
    headers: Mapping[str, str],
    routing_metadata: Mapping[str, Any] | None,
    usage_cost: float | None,
    chunk_model: str | None,
    known_provider: str | None = None,
    alias_model: str | None = None,
    body_provider: str | None = None,
    asked: str | None = None,
) -> RoutingFacts:
    """Routing facts, per field the first usable value in docs/design.md §7's order.

    ``asked``: the model name the request sent (a chunk echoing it says nothing);
    ``known_provider``: who zeke itself knows answered (Ollama), never an alias's guess;
    ``alias_model``: the model the alias names, when the router is known to serve it.
    """
    lowered = _lower_headers(headers)
    metadata = routing_metadata if isinstance(routing_metadata, Mapping) else {}
    candidates: dict[str, list[tuple[str, Any]]] = {
        name: [
            ("header", lowered.get(_HEADER_FIELDS[name])),
            ("routing_metadata", metadata.get(_METADATA_FIELDS[name])),
        ]
        for name in _HEADER_FIELDS
    }
    for name, header in _LITELLM_FIELDS.items():
        value = lowered.get(header)
        if name == "cost_usd" and _as_cost(value) == 0:
            value = None  # a stream's cost header, sent before any token was counted
        if name == "model":
            value, adapter_provider = litellm_deployment(value)
            candidates["provider"].append(("litellm", adapter_provider))
        candidates[name].append(("litellm", value))
    candidates["provider"].append(("body", body_provider))
    candidates["cost_usd"].append(("usage", usage_cost))
    if not (asked and chunk_model and chunk_model.strip().lower() == asked.strip().lower()):
        candidates["model"].append(("chunk", chunk_model))
    candidates["provider"].append(("zeke", known_provider))
    candidates["model"].append(("alias", alias_model))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, options in candidates.items():
        values[name] = None
        for source, raw in options:
            value = _CLEANERS[name](raw)
            if value is not None:
                values[name] = value
                sources[name] = source
                break
    return RoutingFacts(
        provider=values["provider"],
        model=values["model"],
        latency_ms=values["latency_ms"],
        cost_usd=values["cost_usd"],
        routing_reason=values["routing_reason"],
        sources=sources,
    )


def parse_prices(models_json: Any) -> dict[str, tuple[float, float]]:
    """``{model id: (input_per_1k, output_per_1k)}`` from OMEN's ``/v1/models``.

    Tolerant: JSON text is parsed; HTML, None, wrong types and entries without
    both prices are skipped, so garbage gives ``{}``.
    """
    if isinstance(models_json, (bytes, str)):
        try:
            models_json = json.loads(models_json)
        except ValueError:
            return {}
    if not isinstance(models_json, Mapping):
        return {}
    data = models_json.get("data")
    if not isinstance(data, list):
        return {}
    prices: dict[str, tuple[float, float]] = {}
    for entry in data:
        if not isinstance(entry, Mapping):
            continue
        model_id = _as_text(entry.get("id"))
        pricing = entry.get("pricing")
        if model_id is None or not isinstance(pricing, Mapping):
            continue
        price_in = _as_number(pricing.get("input_per_1k"), _MAX_PRICE_PER_1K)
        price_out = _as_number(pricing.get("output_per_1k"), _MAX_PRICE_PER_1K)
        if price_in is None or price_out is None:
            continue
        prices[model_id] = (price_in, price_out)
    return prices


def _is_local(provider: str | None) -> bool:
    return provider is not None and provider.strip().lower() in _LOCAL_PROVIDERS


def _tokens(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def estimate_cost(
    *,
    provider: str | None,
    model: str | None,
    tokens_in: int | None,
    tokens_out: int | None,
    prices: Mapping[str, tuple[float, float]],
) -> float | None:
    """Cost in USD from listed prices; 0.0 for Ollama; None when unknown (never 0)."""
    if _is_local(provider):
        return 0.0
    t_in, t_out = _tokens(tokens_in), _tokens(tokens_out)
    if model is None or t_in is None or t_out is None:
        return None
    price = prices.get(model)
    if price is None and provider:
        # /models may list provider-qualified ids ("anthropic/claude-…").
        price = prices.get(f"{provider}/{model}")
    if price is None:
        return None
    price_in, price_out = price
    return t_in / 1000 * price_in + t_out / 1000 * price_out


def over_budget(
    cost_usd: float | None, max_cloud_cost_cents: int | None, provider: str | None
) -> bool:
    """True when a cloud request cost more than the project's per-request limit.

    Local answers are never over budget; an unknown cost or no limit is not
    flagged.  A hair of tolerance keeps 0.07 USD against 7 cents from being
    flagged by float rounding.
    """
    if cost_usd is None or max_cloud_cost_cents is None or _is_local(provider):
        return False
    if not math.isfinite(cost_usd):
        return False
    return cost_usd * 100 > max_cloud_cost_cents + 1e-9
