"""The routing receipt (:ZekeWhy): what zeke hinted, whom it asked, who answered,
what it took and cost, and where each fact came from.

``from_request`` gathers a finished request into a plain dict (kept in the host's
memory); ``from_row`` does the same from the cache's row and trace, for a request the
host no longer holds; ``lines`` turns either into the float's text. Everything shown
may be a server's words: each value is one line of printable text, cut to a glance.

Pure module: no pynvim, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# Where a fact came from, in the user's words (routing.RoutingFacts.sources, plus
# the sources facts.settle adds).
SOURCE_WORDS = {
    "header": "router header X-OMEN-*",
    "litellm": "router header x-litellm-*",
    "routing_metadata": "response body routing_metadata",
    "body": "response body",
    "usage": "response body usage",
    "chunk": "response body model",
    "alias": "model list (the alias's model)",
    "models": "model list",
    "prices": "listed prices × tokens",
    "local": "local model: free",
    "zeke": "zeke talks to it directly",
    "estimate": "local estimate",
    "measured": "measured by zeke",
    "cache": "the cache",
}
# Sources that are the router speaking (not zeke's inference).
_ROUTER_SOURCES = frozenset({"header", "litellm", "routing_metadata", "body", "usage", "chunk"})
_MAX_VALUE = 160
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_STRATEGY_HEADERS = ("x-omen-strategy", "x-omen-trace-strategy")
NOTHING = "the router reported nothing (no X-OMEN-* or x-litellm-* headers, no routing_metadata)"


def clean(value: Any, limit: int = _MAX_VALUE) -> str:
    """One line of text: control characters (newlines, escapes, C1) become spaces."""
    text = _CONTROL.sub(" ", value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def from_request(
    req: Any, answer: Any, facts: Any, result: Mapping[str, Any], command: str | None = None
) -> dict[str, Any]:
    """A finished request (engine.request.Request, streamed.Answer, facts.Facts and
    the done payload) as the receipt's plain dict."""
    backend = req.backend
    prefs = req.prefs
    trace_headers = {k.lower(): v for k, v in (getattr(answer, "headers", None) or {}).items()}
    return {
        "id": req.rid,
        "project": req.project,
        "intent": req.intent,
        "command": command,
        "state": result.get("state"),
        "error": result.get("error"),
        "alias": req.alias.name if req.alias else None,
        "asked": backend.model if backend is not None else None,
        "router": backend.label if backend is not None else None,
        "tags": dict(req.tags),
        "omen": dict(req.omen) if req.omen is not None else None,
        "prefer": prefs.prefer if prefs else None,
        "budget_cents": prefs.max_cloud_cost_cents if prefs else None,
        "budget_set": bool(prefs.budget_set) if prefs else False,
        "provider": facts.provider,
        "model": facts.model,
        "switched_from": facts.switched_from,
        "retried_as": req.retried_as,
        "retry_reason": req.retry_reason,
        "degraded": bool(req.degraded),
        "degraded_reason": req.degraded_reason,
        "routing_reason": facts.routing_reason,
        "strategy": _strategy(trace_headers),
        "router_latency_ms": facts.router_latency_ms,
        "ttfb_ms": result.get("ttfb_ms"),
        "latency_ms": result.get("latency_ms"),
        "tokens_in": result.get("tokens_in"),
        "tokens_in_estimated": bool(facts.tokens_in_estimated),
        "tokens_out": result.get("tokens_out"),
        "cost_usd": result.get("cost_usd"),
        "over_budget": bool(result.get("over_budget")),
        "sources": dict(facts.sources),
        "forecast": req.forecast.as_dict() if getattr(req, "forecast", None) else None,
        "guard": getattr(req, "guard", None),
    }


def from_row(row: Mapping[str, Any], trace: Mapping[str, Any] | None) -> dict[str, Any]:
    """A request from the cache (``routing_stats`` and its ``routing_trace``): the
    facts it stored; the hints sent and most sources were not kept."""
    trace = dict(trace or {})
    headers = {k: v for k, v in trace.items() if k.startswith(("x-omen-", "x-litellm-"))}
    metadata = (
        trace.get("routing_metadata") if isinstance(trace.get("routing_metadata"), dict) else {}
    )
    sources: dict[str, str] = {}
    for name, header, meta in (
        ("model", "x-omen-model", "model_used"),
        ("provider", "x-omen-provider", "provider"),
        ("cost_usd", "x-omen-cost-est", "cost_usd"),
    ):
        if header in headers:
            sources[name] = "header"
        elif meta in metadata:
            sources[name] = "routing_metadata"
    if "model" not in sources and "x-litellm-model-name" in headers:
        sources["model"] = "litellm"
    if row.get("tokens_in_estimated"):
        sources["tokens_in"] = "estimate"
    reason = headers.get("x-omen-routing-reason") or metadata.get("routing_reason")
    return {
        "id": row.get("request_id"),
        "project": row.get("project"),
        "intent": row.get("intent"),
        "state": {"ok": "done", "cancelled": "cancelled"}.get(str(row.get("status")), "error"),
        "error": row.get("error"),
        "alias": row.get("alias"),
        "tags": {"size_hint": row["size_hint"]} if row.get("size_hint") else {},
        "from_cache": True,
        "provider": row.get("provider"),
        "model": row.get("model"),
        "switched_from": row.get("switched_from"),
        "retried_as": trace.get("retried_as"),
        "degraded": bool(row.get("degraded")),
        "routing_reason": reason,
        "strategy": _strategy(headers),
        "ttfb_ms": row.get("ttfb_ms"),
        "latency_ms": row.get("latency_ms"),
        "tokens_in": row.get("tokens_in"),
        "tokens_in_estimated": bool(row.get("tokens_in_estimated")),
        "tokens_out": row.get("tokens_out"),
        "cost_usd": row.get("cost_usd"),
        "over_budget": bool(row.get("over_budget")),
        "sources": sources,
        "router_reported": bool(headers or metadata),
        "forecast": {
            "low_usd": row.get("forecast_low_usd"),
            "high_usd": row.get("forecast_high_usd"),
            "tokens_in": "?",
            "tokens_out_max": "?",
            "basis": "listed prices",
        }
        if row.get("forecast_high_usd") is not None
        else None,
        "guard": row.get("guard") if isinstance(row.get("guard"), str) else None,
    }


def _strategy(headers: Mapping[str, Any]) -> str | None:
    for name in _STRATEGY_HEADERS:
        value = headers.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def reported(r: Mapping[str, Any]) -> bool:
    """Whether the router said anything about who answered or what it cost."""
    if "router_reported" in r:
        return bool(r["router_reported"])
    sources = r.get("sources") or {}
    facts = ("provider", "model", "cost_usd", "latency_ms", "routing_reason")  # not token counts
    said = {f for f in facts if sources.get(f) in _ROUTER_SOURCES}
    if sources.get("model") == "chunk" and r.get("model") and r.get("model") == r.get("asked"):
        said.discard("model")  # the body echoing the name zeke asked for says nothing
    return bool(said) or bool(r.get("routing_reason") or r.get("strategy"))


def _src(r: Mapping[str, Any], name: str, default: str | None = None) -> str:
    source = (r.get("sources") or {}).get(name) or default
    return f"  [{SOURCE_WORDS.get(source, clean(source))}]" if source else ""


def _row(label: str, value: str, source: str = "") -> str:
    return f"  {label:<15}{clean(value)}{source}"


def _ms(v: Any) -> str:
    return f"{int(v)} ms" if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)


def _cost(r: Mapping[str, Any]) -> str:
    cost = r.get("cost_usd")
    if not isinstance(cost, (int, float)) or isinstance(cost, bool):
        return "$? (unknown: nobody reported it and no price is listed)"
    text = f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"
    if (r.get("sources") or {}).get("cost_usd") == "prices":
        text += " (computed from the listed prices)"
    if r.get("over_budget"):
        text += " — over the project's budget"
    return text


def prefs_text(r: Mapping[str, Any]) -> str:
    prefer = r.get("prefer") or "auto"
    cents = r.get("budget_cents")
    whose = "" if r.get("budget_set") else " (default)"
    budget = "off" if cents is None else f"{cents}¢{whose}"
    return f"prefer {prefer} · budget {budget}"


def lines(r: Mapping[str, Any]) -> list[str]:
    """The float's lines for one receipt (from_request or from_row)."""
    what = r.get("command") or r.get("intent") or "request"
    out = [
        clean(f"zeke why — {what} {r.get('id') or '?'} · project {r.get('project') or '?'}"),
        "",
        "Sent",
    ]
    alias = r.get("alias") or "?"
    asked = r.get("asked")
    out.append(_row("asked for", f"{asked} (alias {alias})" if asked else f"alias {alias}"))
    tags = r.get("tags") or {}
    for key in ("intent", "project", "latency", "budget", "size_hint", "prefer_local"):
        if key in tags:
            out.append(_row(key, str(tags[key])))
    others = {
        k: v
        for k, v in tags.items()
        if k not in {"intent", "project", "latency", "budget", "size_hint", "prefer_local"}
    }
    if others:
        out.append(_row("other tags", " ".join(f"{k}={v}" for k, v in sorted(others.items()))))
    if r.get("from_cache"):
        out.append("  (an earlier session's request: the hints sent were not kept)")
    else:
        omen = r.get("omen")
        out.append(_row("omen", _json(omen) if omen is not None else "(none sent)"))
        out.append(_row("prefs", prefs_text(r)))

    out += ["", "Answered"]
    if r.get("state") not in (None, "done"):
        out.append(_row("ended", f"{r.get('state')}: {r.get('error') or ''}".strip(": ")))
    if not reported(r):
        out.append(f"  {NOTHING}")
    if r.get("router"):
        out.append(_row("router", str(r["router"])))
    out.append(_row("provider", str(r.get("provider") or "? (not reported)"), _src(r, "provider")))
    out.append(_row("model", str(r.get("model") or "? (not reported)"), _src(r, "model")))
    if r.get("switched_from"):
        out.append(
            _row("switched", f"mid-answer from {r['switched_from']} to {r.get('model') or '?'}")
        )
    if r.get("retried_as"):
        why = f": {r['retry_reason']}" if r.get("retry_reason") else ""
        out.append(_row("stand-in", f"zeke asked for {r['retried_as']} instead{why}"))
    if r.get("degraded"):
        why = f": {r['degraded_reason']}" if r.get("degraded_reason") else ""
        out.append(_row("degraded", f"yes, local Ollama answered{why}"))
    else:
        out.append(_row("degraded", "no"))
    if r.get("routing_reason"):
        out.append(_row("reason", str(r["routing_reason"]), _src(r, "routing_reason")))
    if r.get("strategy"):
        out.append(_row("strategy", str(r["strategy"]), "  [router header X-OMEN-*]"))
    elif isinstance(r.get("omen"), Mapping) and r["omen"].get("strategy"):
        out.append(_row("strategy", f"{r['omen']['strategy']} (asked; not confirmed)"))

    out += ["", "Timing and cost"]
    out.append(_row("ttfb", _ms(r.get("ttfb_ms")), _src(r, "ttfb_ms", "measured")))
    out.append(_row("duration", _ms(r.get("latency_ms")), _src(r, "duration", "measured")))
    if r.get("router_latency_ms") is not None:
        out.append(_row("router latency", _ms(r["router_latency_ms"]), _src(r, "latency_ms")))
    tin = r.get("tokens_in")
    if tin is None:
        out.append(_row("tokens in", "?"))
    elif r.get("tokens_in_estimated"):
        out.append(_row("tokens in", f"~{tin} (estimated)", _src(r, "tokens_in", "estimate")))
    else:
        out.append(_row("tokens in", str(tin), _src(r, "tokens_in")))
    tout = r.get("tokens_out")
    if tout is None:
        out.append(_row("tokens out", "?"))
    elif (r.get("sources") or {}).get("tokens_out") == "estimate":
        out.append(_row("tokens out", f"~{tout} (estimated)", _src(r, "tokens_out")))
    else:
        out.append(_row("tokens out", str(tout), _src(r, "tokens_out")))
    out.append(_row("cost", _cost(r), _src(r, "cost_usd")))
    out.append(_row("forecast", forecast_text(r.get("forecast"))))
    if r.get("guard"):
        out.append(_row("guard", str(r["guard"])))
    return out


def forecast_text(fc: Any) -> str:
    """The budget guard's forecast (forecast.Forecast.as_dict) in one line."""
    if not isinstance(fc, Mapping):
        return "no prices listed: no forecast"
    low, high = fc.get("low_usd"), fc.get("high_usd")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        return clean(fc.get("note") or "no prices listed: no forecast")

    def usd(v: float) -> str:
        return f"${v:.4f}" if v < 1 else f"${v:.2f}"

    basis = clean(fc.get("basis") or "listed prices", 80)
    return (
        f"{usd(low)}–{usd(high)} before sending (~{fc.get('tokens_in')} tokens in, "
        f"up to {fc.get('tokens_out_max')} out; {basis})"
    )
