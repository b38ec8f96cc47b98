"""The read side of ``routing_stats``: the numbers behind ``:ZekeStats`` and the picker.

Medians and the nearest-rank p95 are read from an index in value order,
fetching only the rows at the needed ranks, so a cache with many thousands
of requests still answers fast.  Each function takes an open connection and
is run by the cache on its shared (or a side-read) connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from zeke.store.records import AliasSummary, StatsRow

_STATS_GROUP = "alias, model, provider, degraded"


def ranks(n: int) -> tuple[int, int, int]:
    """1-based ranks of the two middle values and of the nearest-rank p95 among ``n``.

    For an odd ``n`` both middle ranks are the same value; p95 is ceil(0.95 n).
    """
    return (n + 1) // 2, (n + 2) // 2, (95 * n + 99) // 100


def ranked(
    conn: sqlite3.Connection,
    column: str,
    where: str,
    params: tuple[Any, ...],
    n: int,
    *,
    p95: bool,
) -> tuple[float | None, float | None]:
    """Median (and p95) of ``column`` over the ``n`` non-null rows matching ``where``.

    Reads only the rows at the needed ranks (LIMIT/OFFSET over an index in
    ``column`` order), not all ``n`` values.
    """
    if n <= 0:
        return None, None
    lo, hi, p95_rank = ranks(n)
    sql = (
        f"SELECT {column} FROM routing_stats WHERE {where} AND {column} IS NOT NULL"
        f" ORDER BY {column} LIMIT ? OFFSET ?"
    )
    middle = [r[0] for r in conn.execute(sql, (*params, hi - lo + 1, lo - 1))]
    if not middle:  # rows vanished between the count and now (another writer)
        return None, None
    median = (middle[0] + middle[-1]) / 2
    if not p95:
        return median, None
    # Walk from the top: rank p95 is only n - p95 + 1 entries from that end.
    top = conn.execute(
        f"SELECT {column} FROM routing_stats WHERE {where} AND {column} IS NOT NULL"
        f" ORDER BY {column} DESC LIMIT 1 OFFSET ?",
        (*params, n - p95_rank),
    ).fetchone()
    return median, float(top[0]) if top else None


def alias_summaries(conn: sqlite3.Connection, project: str) -> dict[str, AliasSummary]:
    """Per alias of ``project``: requests, success rate, median TTFB, cost, last model."""
    out: dict[str, AliasSummary] = {}
    for alias, n, ok, cancelled, avg_cost, n_ttfb, applied, settled in conn.execute(
        "SELECT alias, COUNT(*), SUM(success), SUM(status IS 'cancelled'), AVG(cost_usd),"
        " COUNT(ttfb_ms), SUM(hunks_accepted > 0), COUNT(hunks_accepted)"
        " FROM routing_stats WHERE project = ? AND alias IS NOT NULL GROUP BY alias",
        (project,),
    ):
        median, _ = ranked(
            conn,
            "ttfb_ms",
            "project = ? AND alias = ?",
            (project, alias),
            n_ttfb,
            p95=False,
        )
        # Newest row that names a model: a failure before routing names none.
        last = conn.execute(
            "SELECT model, provider FROM routing_stats"
            " WHERE project = ? AND alias = ? AND model IS NOT NULL"
            " ORDER BY created_at DESC, id DESC LIMIT 1",
            (project, alias),
        ).fetchone()
        out[alias] = AliasSummary(
            alias=alias,
            requests=n,
            success_rate=(ok or 0) / (n - (cancelled or 0)) if n - (cancelled or 0) else None,
            median_ttfb_ms=median,
            avg_cost_usd=avg_cost,
            last_model=last[0] if last else None,
            last_provider=last[1] if last else None,
            apply_rate=(applied or 0) / settled if settled else None,
        )
    return out


def stats_rows(conn: sqlite3.Connection, project: str | None) -> list[StatsRow]:
    """``:ZekeStats`` rows for ``project`` (None: all projects), most used first."""
    where, params = ("project = ?", (project,)) if project is not None else ("1", ())
    rows: dict[tuple[Any, ...], StatsRow] = {}
    counts: dict[tuple[Any, ...], tuple[int, int]] = {}
    for (
        alias,
        model,
        provider,
        degraded,
        n,
        ok,
        tin,
        tout,
        cost,
        unknown,
        n_ttfb,
        n_lat,
        cancelled,
        estimated,
        proposed,
        accepted,
        rejected,
        applied,
        settled,
    ) in conn.execute(
        f"SELECT {_STATS_GROUP}, COUNT(*), SUM(success),"
        " TOTAL(tokens_in), TOTAL(tokens_out), SUM(cost_usd),"
        " SUM(cost_usd IS NULL AND status IS NOT 'cancelled'),"
        " COUNT(ttfb_ms), COUNT(latency_ms), SUM(status IS 'cancelled'),"
        " SUM(tokens_in_estimated),"
        " SUM(proposed), TOTAL(hunks_accepted), TOTAL(hunks_rejected),"
        " SUM(hunks_accepted > 0), COUNT(hunks_accepted)"
        f" FROM routing_stats WHERE {where} GROUP BY {_STATS_GROUP}",
        params,
    ):
        key = (alias, model, provider, degraded)
        counts[key] = (n_ttfb, n_lat)
        rows[key] = StatsRow(
            alias=alias,
            model=model,
            provider=provider,
            degraded=bool(degraded),
            requests=n,
            successes=ok or 0,
            # of the requests that ran to an end: cancelled ones are the user's choice
            success_rate=(ok or 0) / (n - (cancelled or 0)) if n - (cancelled or 0) else 0.0,
            median_ttfb_ms=None,
            p95_ttfb_ms=None,
            median_latency_ms=None,
            tokens_in=int(tin),
            tokens_out=int(tout),
            cost_usd=cost,
            cost_unknown=unknown or 0,
            cancelled=cancelled or 0,
            tokens_in_estimated=estimated or 0,
            proposed=proposed or 0,
            hunks_accepted=int(accepted),
            hunks_rejected=int(rejected),
            applied=applied or 0,
            settled=settled,
            apply_rate=(applied or 0) / settled if settled else None,
            # every request's cost in the group, answers not applied included
            cost_per_applied_usd=cost / applied if applied and cost is not None else None,
        )
    # Per group, an index hands the values in order (0003 per project, 0005
    # across projects): read just the ranks needed, never every value.
    group_where = "alias IS ? AND model IS ? AND provider IS ? AND degraded = ?"
    if project is not None:
        group_where = "project = ? AND " + group_where
    for key, row in rows.items():
        n_ttfb, n_lat = counts[key]
        gparams = (*params, *key)
        row.median_ttfb_ms, row.p95_ttfb_ms = ranked(
            conn, "ttfb_ms", group_where, gparams, n_ttfb, p95=True
        )
        row.median_latency_ms, _ = ranked(
            conn, "latency_ms", group_where, gparams, n_lat, p95=False
        )
    return sorted(
        rows.values(),
        key=lambda r: (-r.requests, r.alias or "", r.model or "", r.provider or ""),
    )
