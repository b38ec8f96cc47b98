"""The local SQLite cache: per-project prefs, per-request stats and routing
trace, the tool-call audit and the request history.

It is a cache for hints and UX, so nothing here may fail a request: every
sqlite or OS problem becomes a ``False`` / empty answer plus, at most once, a
message for the user (see :meth:`Cache.pop_notices`).  A corrupt file is moved
aside (never deleted) and a fresh one created; a read-only location turns stats
off for the session; a lock held longer than the busy timeout skips that write.

This module is the cache's face: the writes and the prefs and audit reads.
Around it: ``records`` (the rows and value hygiene), ``stats`` (the numbers),
``connection`` (the shared connection and its recovery), ``failures`` (error
kinds, the set-aside, the messages), ``schema`` (the migrations), ``history``
(:ZekeHistory's rows).

Pure module: no pynvim.  The engine calls it from worker threads.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from zeke.store import stats as stats_queries
from zeke.store.connection import SharedConnection, write_transaction
from zeke.store.history import History, HistoryRecord
from zeke.store.records import (
    TOOL_DECISIONS,
    TOOL_RESULTS,
    AliasSummary,
    Prefs,
    RequestRecord,
    StatsRow,
    ToolAuditRecord,
    float_or_none,
    int_or_none,
    now,
    text_or_none,
    trace_json,
)

__all__ = [
    "TOOL_DECISIONS",
    "TOOL_RESULTS",
    "AliasSummary",
    "Cache",
    "History",
    "HistoryRecord",
    "Prefs",
    "RequestRecord",
    "StatsRow",
    "ToolAuditRecord",
]


class Cache:
    """Thread-safe access to zeke's SQLite cache at ``path``.

    Nothing touches the disk until the first call.  One connection, guarded by
    a lock; a second process (another Neovim) on the same file is handled by
    SQLite's WAL locking plus our busy timeout.  A read that finds the
    connection taken (a write waiting on someone else's lock) reads on a
    short-lived connection instead, so prefs never wait behind a stuck write.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 2000) -> None:
        self._db = SharedConnection(
            Path(os.fspath(path)).expanduser(), busy_timeout_ms=busy_timeout_ms
        )
        self.history = History(self._db)  # :ZekeHistory (store/history.py)

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def available(self) -> bool:
        """False once the cache gave up for this session (read-only, unusable path)."""
        return self._db.available

    def pop_notices(self) -> list[str]:
        """Messages for the user gathered since the last call (each said once)."""
        return self._db.pop_notices()

    def record_request(self, rec: RequestRecord, trace: dict[str, Any] | None = None) -> bool:
        """Store one request (and its routing trace, when it has one) in one transaction."""
        created = int_or_none(rec.created_at)
        if created is None:
            created = now()
        row = (
            text_or_none(rec.request_id),
            text_or_none(rec.project) or "",
            text_or_none(rec.alias),
            text_or_none(rec.model),
            text_or_none(rec.provider),
            text_or_none(rec.intent),
            text_or_none(rec.size_hint),
            int_or_none(rec.latency_ms),
            int_or_none(rec.ttfb_ms),
            int_or_none(rec.tokens_in),
            int_or_none(rec.tokens_out),
            float_or_none(rec.cost_usd),
            1 if rec.outcome == "ok" else 0,
            1 if rec.degraded else 0,
            1 if rec.over_budget else 0,
            text_or_none(rec.error),
            text_or_none(rec.finish_reason),
            created,
            rec.outcome,
            1 if rec.tokens_in_estimated else 0,
            text_or_none(rec.switched_from),
            1 if rec.proposed else 0,
            float_or_none(rec.forecast_low_usd),
            float_or_none(rec.forecast_high_usd),
            text_or_none(rec.guard),
        )
        trace_text = trace_json(trace) if trace else None

        def op(conn: sqlite3.Connection) -> bool:
            with write_transaction(conn):
                conn.execute(
                    "INSERT INTO routing_stats(request_id, project, alias, model, provider,"
                    " intent, size_hint, latency_ms, ttfb_ms, tokens_in, tokens_out, cost_usd,"
                    " success, degraded, over_budget, error, finish_reason, created_at,"
                    " status, tokens_in_estimated, switched_from, proposed,"
                    " forecast_low_usd, forecast_high_usd, guard)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                    " ?, ?, ?)",
                    row,
                )
                if trace_text is not None:
                    conn.execute(
                        "INSERT INTO routing_trace(request_id, project, trace, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        (row[0], row[1], trace_text, created),
                    )
            return True

        return self._db.run(op, False, write=True)

    def record_outcome(self, request_id: str, accepted: int, rejected: int) -> bool:
        """What became of a request's proposed change: its hunks accepted and rejected
        (migration 0009). Once per request: a settled change stays as it was settled."""
        a, r = max(0, int(accepted)), max(0, int(rejected))

        def op(conn: sqlite3.Connection) -> bool:
            with write_transaction(conn):
                cur = conn.execute(
                    "UPDATE routing_stats SET hunks_accepted = ?, hunks_rejected = ?,"
                    " proposed = 1 WHERE request_id = ? AND hunks_accepted IS NULL",
                    (a, r, request_id),
                )
            return cur.rowcount > 0

        return self._db.run(op, False, write=True)

    def prefs(self, project: str) -> Prefs:
        """The project's prefs, or the schema defaults when it has none."""

        def op(conn: sqlite3.Connection) -> Prefs:
            r = conn.execute(
                "SELECT prefer_local, max_cloud_cost_cents, last_alias, last_model,"
                " prefer_local_set, max_cloud_cost_set FROM routing_prefs WHERE project = ?",
                (project,),
            ).fetchone()
            if r is None:
                return Prefs()
            prefer = ("local" if r[0] else "cloud") if r[4] else "auto"
            return Prefs(bool(r[0]), int_or_none(r[1]), r[2], r[3], prefer, bool(r[5]))

        return self._db.run(op, Prefs(), write=False)

    def set_last_alias(self, project: str, alias: str | None) -> bool:
        """Remember the project's alias (None forgets it); other prefs are kept."""
        return self._upsert_pref(project, "last_alias", alias)

    def set_prefer(self, project: str, prefer: str) -> bool:
        """:ZekePrefer: "local" / "cloud" set the seed's ``prefer_local`` (1 / 0) and
        mark it chosen; "auto" forgets the choice (the column goes back to its default)."""
        assert prefer in ("local", "cloud", "auto")
        chosen = prefer != "auto"
        values = (1 if prefer != "cloud" else 0, 1 if chosen else 0)
        return self._upsert_prefs(project, ("prefer_local", "prefer_local_set"), values)

    def set_budget(self, project: str, cents: int | None) -> bool:
        """:ZekeBudget: the project's cap in cents, or None for no cap ("off")."""
        return self._upsert_prefs(
            project, ("max_cloud_cost_cents", "max_cloud_cost_set"), (cents, 1)
        )

    def set_last_model(self, project: str, model: str) -> bool:
        """Remember the concrete model last used; other prefs are kept."""
        return self._upsert_pref(project, "last_model", model)

    def alias_summaries(self, project: str) -> dict[str, AliasSummary]:
        """Per alias of ``project``: requests, success rate, median TTFB, cost, last model."""
        return self._db.run(
            lambda conn: stats_queries.alias_summaries(conn, project), {}, write=False
        )

    def stats(self, project: str | None) -> list[StatsRow]:
        """``:ZekeStats`` rows for ``project`` (None: all projects), most used first."""
        return self._db.run(lambda conn: stats_queries.stats_rows(conn, project), [], write=False)

    def request_details(self, request_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """One request's stats row and its routing trace ({} without one), for the
        receipt of a request the host no longer holds; None when not recorded."""

        def op(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]] | None:
            cur = conn.execute(
                "SELECT * FROM routing_stats WHERE request_id = ? ORDER BY id DESC LIMIT 1",
                (request_id,),
            )
            r = cur.fetchone()
            if r is None:
                return None
            row = dict(zip([d[0] for d in cur.description], r, strict=True))
            t = conn.execute(
                "SELECT trace FROM routing_trace WHERE request_id = ? ORDER BY id DESC LIMIT 1",
                (request_id,),
            ).fetchone()
            trace: Any = {}
            if t is not None and t[0]:
                try:
                    trace = json.loads(t[0])
                except ValueError:
                    trace = {}
            return row, trace if isinstance(trace, dict) else {}

        return self._db.run(op, None, write=False)

    def record_tool_call(self, rec: ToolAuditRecord) -> bool:
        """Store one tool call and its consent decision.

        Raises ValueError for a decision or result outside the documented sets
        (a programming error, not a disk problem).
        """
        if rec.decision not in TOOL_DECISIONS:
            raise ValueError(f"unknown tool-call decision {rec.decision!r}")
        if rec.result_status not in TOOL_RESULTS:
            raise ValueError(f"unknown tool-call result {rec.result_status!r}")
        created = int_or_none(rec.created_at)
        row = (
            text_or_none(rec.request_id),
            text_or_none(rec.project) or "",
            text_or_none(rec.server),
            text_or_none(rec.tool) or "",
            text_or_none(rec.args_digest) or "",
            rec.decision,
            rec.result_status,
            int_or_none(rec.duration_ms),
            text_or_none(rec.detail),
            created if created is not None else now(),
        )

        def op(conn: sqlite3.Connection) -> bool:
            with write_transaction(conn):
                conn.execute(
                    "INSERT INTO tool_calls(request_id, project, server, tool, args_digest,"
                    " decision, result_status, duration_ms, detail, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            return True

        return self._db.run(op, False, write=True)

    def tool_calls(self, project: str | None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest tool calls (of ``project``, or of all projects when None)."""
        where, params = ("WHERE project = ?", (project,)) if project is not None else ("", ())

        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = conn.execute(
                "SELECT id, request_id, project, server, tool, args_digest, decision,"
                " result_status, duration_ms, detail, created_at"
                f" FROM tool_calls {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                (*params, max(0, int(limit))),
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur]

        return self._db.run(op, [], write=False)

    def schema_version(self) -> int:
        """``PRAGMA user_version`` (0 when the cache is unavailable)."""
        return self._db.run(
            lambda conn: int(conn.execute("PRAGMA user_version").fetchone()[0]), 0, write=False
        )

    def close(self) -> None:
        """Close the connection (a later call would open it again)."""
        self._db.close()

    # --------------------------------------------------------------- internals

    def _upsert_pref(self, project: str, column: str, value: str | None) -> bool:
        # Same shape as the seed's helper (INSERT .. ON CONFLICT DO UPDATE), but
        # touching only this column: prefer_local etc. keep their values, and a
        # new row gets the schema's defaults for them.
        assert column in ("last_alias", "last_model")
        params = (project, text_or_none(value), now())

        def op(conn: sqlite3.Connection) -> bool:
            with write_transaction(conn):
                conn.execute(
                    f"INSERT INTO routing_prefs(project, {column}, updated_at) VALUES (?, ?, ?)"
                    f" ON CONFLICT(project) DO UPDATE SET {column} = excluded.{column},"
                    " updated_at = excluded.updated_at",
                    params,
                )
            return True

        return self._db.run(op, False, write=True)

    def _upsert_prefs(
        self, project: str, columns: tuple[str, ...], values: tuple[Any, ...]
    ) -> bool:
        """Set these columns of the project's prefs row in one write; others are kept."""
        assert set(columns) <= {
            "prefer_local",
            "prefer_local_set",
            "max_cloud_cost_cents",
            "max_cloud_cost_set",
        }
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns)

        def op(conn: sqlite3.Connection) -> bool:
            with write_transaction(conn):
                conn.execute(
                    f"INSERT INTO routing_prefs(project, {names}, updated_at)"
                    f" VALUES (?, {marks}, ?) ON CONFLICT(project) DO UPDATE SET {updates},"
                    " updated_at = excluded.updated_at",
                    (project, *values, now()),
                )
            return True

        return self._db.run(op, False, write=True)
