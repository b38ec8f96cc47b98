"""What the cache stores and hands back, and the hygiene stored values pass.

The records are filled from parsed network data (a router's headers, a
model's usage numbers, a tool server's names), so every value is checked on
its way into a row: absurd numbers become unknown, text is cut to a glance.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

TOOL_DECISIONS = frozenset({"allow", "allow_session", "policy", "reject", "cancel", "refused"})
TOOL_RESULTS = frozenset({"ok", "error", "timeout", "not_run"})
REQUEST_STATUSES = frozenset({"ok", "failed", "cancelled"})

# Longest free text we keep per row: errors and tool details are for a glance,
# and a runaway message must not bloat the cache.
MAX_TEXT = 2000
# SQLite integers are 64-bit; anything beyond this is garbage, not a latency.
MAX_INT = 2**62


@dataclass
class RequestRecord:
    """One request, as one ``routing_stats`` row (failures too)."""

    request_id: str
    project: str
    alias: str | None
    model: str | None
    provider: str | None
    intent: str | None
    size_hint: str | None
    latency_ms: int | None
    ttfb_ms: int | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    success: bool
    degraded: bool = False
    over_budget: bool = False
    error: str | None = None
    finish_reason: str | None = None
    created_at: int | None = None  # epoch seconds; now when None
    # "ok" | "failed" | "cancelled" (None: from ``success``); cancelled is not a failure
    status: str | None = None
    tokens_in_estimated: bool = False  # the server sent no prompt count: zeke's estimate
    switched_from: str | None = None  # the model that began the answer, before a switch
    proposed: bool = False  # the answer proposed a change (migration 0009)
    forecast_low_usd: float | None = None  # the budget guard's forecast (0009)
    forecast_high_usd: float | None = None
    guard: str | None = None  # what the guard did

    @property
    def outcome(self) -> str:
        if self.status in REQUEST_STATUSES:
            return self.status
        return "ok" if self.success else "failed"


@dataclass
class Prefs:
    """A project's ``routing_prefs`` row; defaults are the seed schema's.

    ``prefer`` is what the user chose with :ZekePrefer (migration 0007): "auto" until
    they do, whatever the seed's ``prefer_local`` column defaults to. ``budget_set``:
    the cap is the user's (:ZekeBudget; None then means "off"), not the default.
    """

    prefer_local: bool = True
    max_cloud_cost_cents: int | None = 200
    last_alias: str | None = None
    last_model: str | None = None
    prefer: str = "auto"  # "local" | "cloud" | "auto"
    budget_set: bool = False


@dataclass
class AliasSummary:
    """What the model picker shows next to an alias."""

    alias: str
    requests: int
    success_rate: float | None
    median_ttfb_ms: float | None
    avg_cost_usd: float | None
    last_model: str | None
    last_provider: str | None
    apply_rate: float | None = None  # changes applied / changes settled (0009)


@dataclass
class StatsRow:
    """One line of ``:ZekeStats``: a (alias, model, provider, degraded) group."""

    alias: str | None
    model: str | None
    provider: str | None
    degraded: bool
    requests: int
    successes: int
    success_rate: float
    median_ttfb_ms: float | None
    p95_ttfb_ms: float | None
    median_latency_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None  # None when every row's cost is unknown
    cost_unknown: int  # rows whose cost is unknown
    cancelled: int = 0  # rows the user cancelled: neither a success nor a failure
    tokens_in_estimated: int = 0  # rows whose tokens_in is zeke's estimate
    # outcomes (migration 0009)
    proposed: int = 0  # changes proposed
    hunks_accepted: int = 0
    hunks_rejected: int = 0
    applied: int = 0  # changes applied (at least one hunk accepted)
    settled: int = 0  # changes applied or rejected
    apply_rate: float | None = None  # applied / settled
    cost_per_applied_usd: float | None = None  # the group's cost / changes applied


@dataclass
class ToolAuditRecord:
    """One tool call and the consent decision about it."""

    request_id: str | None
    project: str
    server: str | None
    tool: str
    args_digest: str
    decision: str
    result_status: str
    duration_ms: int | None = None
    detail: str | None = None
    created_at: int | None = None


# --------------------------------------------------------------------------
# Value hygiene: the record comes from parsed network data


def int_or_none(v: Any) -> int | None:
    """A sane non-negative integer, else None (NaN, negative, absurd, wrong type)."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        v = round(v)
    if not isinstance(v, int) or v < 0 or v > MAX_INT:
        return None
    return v


def float_or_none(v: Any) -> float | None:
    """A finite non-negative number as a float, else None."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) and f >= 0 else None


def text_or_none(v: Any) -> str | None:
    """``v`` as text cut to :data:`MAX_TEXT` characters (None stays None)."""
    if v is None:
        return None
    s = v if isinstance(v, str) else str(v)
    return s[:MAX_TEXT]


def trace_json(trace: dict[str, Any]) -> str:
    """The trace as JSON text; odd keys or values are stringified rather than fatal."""
    try:
        return json.dumps(
            {str(k): v for k, v in trace.items()}, sort_keys=True, ensure_ascii=False, default=str
        )
    except (TypeError, ValueError):  # e.g. a self-referencing value
        return json.dumps({str(k): str(v) for k, v in trace.items()}, sort_keys=True)


def now() -> int:
    """Epoch seconds, as the ``created_at`` columns store them."""
    return int(time.time())
