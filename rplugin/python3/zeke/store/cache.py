"""The local SQLite cache: per-project prefs, per-request stats and routing
trace, and the tool-call audit.

It is a cache for hints and UX, so nothing here may fail a request: every
sqlite or OS problem becomes a ``False`` / empty answer plus, at most once, a
message for the user (see :meth:`Cache.pop_notices`).  A corrupt file is moved
aside (never deleted) and a fresh one created; a read-only location turns stats
off for the session; a lock held longer than the busy timeout skips that write.

Pure module: no pynvim.  The engine calls it from worker threads.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "TOOL_DECISIONS",
    "TOOL_RESULTS",
    "AliasSummary",
    "Cache",
    "Prefs",
    "RequestRecord",
    "StatsRow",
    "ToolAuditRecord",
]

T = TypeVar("T")

TOOL_DECISIONS = frozenset({"allow", "allow_session", "policy", "reject", "cancel", "refused"})
TOOL_RESULTS = frozenset({"ok", "error", "timeout", "not_run"})

# Longest free text we keep per row: errors and tool details are for a glance,
# and a runaway message must not bloat the cache.
_MAX_TEXT = 2000
# SQLite integers are 64-bit; anything beyond this is garbage, not a latency.
_MAX_INT = 2**62
# How long a read waits for the shared connection before it reads on a
# connection of its own: that one is busy with a write (perhaps waiting on
# another process's lock), and with WAL reads need not wait for writers.
_SIDE_READ_AFTER_S = 0.05


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


@dataclass
class Prefs:
    """A project's ``routing_prefs`` row; defaults are the seed schema's."""

    prefer_local: bool = True
    max_cloud_cost_cents: int | None = 200
    last_alias: str | None = None
    last_model: str | None = None


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
# Migrations


@dataclass(frozen=True)
class _Migration:
    version: int
    name: str
    pragmas: tuple[str, ...]  # run outside the transaction (journal_mode cannot run inside)
    statements: tuple[str, ...]


_MIGRATION_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")
_migrations_cache: tuple[_Migration, ...] | None = None


def _strip_sql_comments(sql: str) -> str:
    """``sql`` without leading whitespace and comments (to see what it starts with)."""
    s = sql.lstrip()
    while True:
        if s.startswith("--"):
            nl = s.find("\n")
            s = "" if nl < 0 else s[nl + 1 :].lstrip()
        elif s.startswith("/*"):
            end = s.find("*/")
            s = "" if end < 0 else s[end + 2 :].lstrip()
        else:
            return s


def _split_statements(script: str) -> list[str]:
    """Split a script into complete statements, comments kept with them."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf)
            buf = ""
    if _strip_sql_comments(buf):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buf!r}")
    return out


def _load_migrations() -> tuple[_Migration, ...]:
    """The packaged migrations, in order (read once per process)."""
    global _migrations_cache
    if _migrations_cache is None:
        folder = resources.files("zeke.store") / "migrations"
        found: list[_Migration] = []
        for entry in folder.iterdir():
            m = _MIGRATION_NAME.match(entry.name)
            if not m:
                continue
            pragmas: list[str] = []
            statements: list[str] = []
            for stmt in _split_statements(entry.read_text(encoding="utf-8")):
                if _strip_sql_comments(stmt).upper().startswith("PRAGMA"):
                    pragmas.append(stmt)
                else:
                    statements.append(stmt)
            found.append(_Migration(int(m.group(1)), entry.name, tuple(pragmas), tuple(statements)))
        found.sort(key=lambda mig: mig.version)
        # A gap would leave user_version ambiguous; this is a packaging bug.
        if [mig.version for mig in found] != list(range(1, len(found) + 1)):
            raise RuntimeError(f"zeke migrations are not numbered 1..N: {[m.name for m in found]}")
        _migrations_cache = tuple(found)
    return _migrations_cache


# --------------------------------------------------------------------------
# Error classification

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 5, 6, 8
_SQLITE_CORRUPT, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 14, 26
_SQLITE_READONLY_DBMOVED = 1032


def _classify(exc: BaseException) -> str:
    """One of ``busy``, ``corrupt``, ``moved``, ``readonly``, ``cantopen``, ``other``."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "readonly"
        if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG):
            return "cantopen"
        return "other"
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        if code == _SQLITE_READONLY_DBMOVED:
            return "moved"
        primary = code & 0xFF
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return "busy"
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return "corrupt"
        if primary == _SQLITE_READONLY:
            return "readonly"
        if primary == _SQLITE_CANTOPEN:
            return "cantopen"
        return "other"
    msg = str(exc).lower()  # Python 3.10: only the message to go by
    if "locked" in msg or "busy" in msg:
        return "busy"
    if "not a database" in msg or "malformed" in msg:
        return "corrupt"
    if "readonly" in msg or "read-only" in msg:
        return "readonly"
    if "unable to open" in msg:
        return "cantopen"
    return "other"


# --------------------------------------------------------------------------
# Value hygiene: the record comes from parsed network data


def _int_or_none(v: Any) -> int | None:
    """A sane non-negative integer, else None (NaN, negative, absurd, wrong type)."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        v = round(v)
    if not isinstance(v, int) or v < 0 or v > _MAX_INT:
        return None
    return v


def _float_or_none(v: Any) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) and f >= 0 else None


def _text_or_none(v: Any) -> str | None:
    if v is None:
        return None
    s = v if isinstance(v, str) else str(v)
    return s[:_MAX_TEXT]


def _trace_json(trace: dict[str, Any]) -> str:
    """The trace as JSON text; odd keys or values are stringified rather than fatal."""
    try:
        return json.dumps(
            {str(k): v for k, v in trace.items()}, sort_keys=True, ensure_ascii=False, default=str
        )
    except (TypeError, ValueError):  # e.g. a self-referencing value
        return json.dumps({str(k): str(v) for k, v in trace.items()}, sort_keys=True)


def _now() -> int:
    return int(time.time())


def _ranks(n: int) -> tuple[int, int, int]:
    """1-based ranks of the two middle values and of the nearest-rank p95 among ``n``.

    For an odd ``n`` both middle ranks are the same value; p95 is ceil(0.95 n).
    """
    return (n + 1) // 2, (n + 2) // 2, (95 * n + 99) // 100


_STATS_GROUP = "alias, model, provider, degraded"


def _ranked(
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
    lo, hi, p95_rank = _ranks(n)
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


class Cache:
    """Thread-safe access to zeke's SQLite cache at ``path``.

    Nothing touches the disk until the first call.  One connection, guarded by
    a lock; a second process (another Neovim) on the same file is handled by
    SQLite's WAL locking plus our busy timeout.  A read that finds the
    connection taken (a write waiting on someone else's lock) reads on a
    short-lived connection instead, so prefs never wait behind a stuck write.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 2000) -> None:
        self._path = Path(os.fspath(path)).expanduser()
        self._busy_s = max(0, busy_timeout_ms) / 1000.0
        self._lock = threading.Lock()  # guards the connection and its state
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._busy_ms_set: int | None = None
        self._disabled = False
        self._opened = False  # the file has existed with our schema: side reads may open it
        self._notice_lock = threading.Lock()  # separate: never wait on the db to read notices
        self._notices: list[str] = []
        self._noted: set[str] = set()

    # ------------------------------------------------------------------ public

    @property
    def path(self) -> Path:
        return self._path

    @property
    def available(self) -> bool:
        """False once the cache gave up for this session (read-only, unusable path)."""
        return not self._disabled

    def pop_notices(self) -> list[str]:
        """Messages for the user gathered since the last call (each said once)."""
        with self._notice_lock:
            out, self._notices = self._notices, []
        return out

    def record_request(self, rec: RequestRecord, trace: dict[str, Any] | None = None) -> bool:
        """Store one request (and its routing trace, when it has one) in one transaction."""
        created = _int_or_none(rec.created_at)
        if created is None:
            created = _now()
        row = (
            _text_or_none(rec.request_id),
            _text_or_none(rec.project) or "",
            _text_or_none(rec.alias),
            _text_or_none(rec.model),
            _text_or_none(rec.provider),
            _text_or_none(rec.intent),
            _text_or_none(rec.size_hint),
            _int_or_none(rec.latency_ms),
            _int_or_none(rec.ttfb_ms),
            _int_or_none(rec.tokens_in),
            _int_or_none(rec.tokens_out),
            _float_or_none(rec.cost_usd),
            1 if rec.success else 0,
            1 if rec.degraded else 0,
            1 if rec.over_budget else 0,
            _text_or_none(rec.error),
            _text_or_none(rec.finish_reason),
            created,
        )
        trace_json = _trace_json(trace) if trace else None

        def op(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                conn.execute(
                    "INSERT INTO routing_stats(request_id, project, alias, model, provider,"
                    " intent, size_hint, latency_ms, ttfb_ms, tokens_in, tokens_out, cost_usd,"
                    " success, degraded, over_budget, error, finish_reason, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                if trace_json is not None:
                    conn.execute(
                        "INSERT INTO routing_trace(request_id, project, trace, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        (row[0], row[1], trace_json, created),
                    )
            return True

        return self._run(op, False, write=True)

    def prefs(self, project: str) -> Prefs:
        """The project's prefs, or the schema defaults when it has none."""

        def op(conn: sqlite3.Connection) -> Prefs:
            r = conn.execute(
                "SELECT prefer_local, max_cloud_cost_cents, last_alias, last_model"
                " FROM routing_prefs WHERE project = ?",
                (project,),
            ).fetchone()
            if r is None:
                return Prefs()
            return Prefs(bool(r[0]), _int_or_none(r[1]), r[2], r[3])

        return self._run(op, Prefs(), write=False)

    def set_last_alias(self, project: str, alias: str | None) -> bool:
        """Remember the project's alias (None forgets it); other prefs are kept."""
        return self._upsert_pref(project, "last_alias", alias)

    def set_last_model(self, project: str, model: str) -> bool:
        """Remember the concrete model last used; other prefs are kept."""
        return self._upsert_pref(project, "last_model", model)

    def alias_summaries(self, project: str) -> dict[str, AliasSummary]:
        """Per alias of ``project``: requests, success rate, median TTFB, cost, last model."""

        def op(conn: sqlite3.Connection) -> dict[str, AliasSummary]:
            out: dict[str, AliasSummary] = {}
            for alias, n, ok, avg_cost, n_ttfb in conn.execute(
                "SELECT alias, COUNT(*), SUM(success), AVG(cost_usd), COUNT(ttfb_ms)"
                " FROM routing_stats WHERE project = ? AND alias IS NOT NULL GROUP BY alias",
                (project,),
            ):
                median, _ = _ranked(
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
                    success_rate=(ok or 0) / n if n else None,
                    median_ttfb_ms=median,
                    avg_cost_usd=avg_cost,
                    last_model=last[0] if last else None,
                    last_provider=last[1] if last else None,
                )
            return out

        return self._run(op, {}, write=False)

    def stats(self, project: str | None) -> list[StatsRow]:
        """``:ZekeStats`` rows for ``project`` (None: all projects), most used first."""
        where, params = ("project = ?", (project,)) if project is not None else ("1", ())

        def op(conn: sqlite3.Connection) -> list[StatsRow]:
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
            ) in conn.execute(
                f"SELECT {_STATS_GROUP}, COUNT(*), SUM(success),"
                " TOTAL(tokens_in), TOTAL(tokens_out), SUM(cost_usd), SUM(cost_usd IS NULL),"
                " COUNT(ttfb_ms), COUNT(latency_ms)"
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
                    success_rate=(ok or 0) / n,
                    median_ttfb_ms=None,
                    p95_ttfb_ms=None,
                    median_latency_ms=None,
                    tokens_in=int(tin),
                    tokens_out=int(tout),
                    cost_usd=cost,
                    cost_unknown=unknown or 0,
                )
            # Per group, an index hands the values in order (0003 per project, 0005
            # across projects): read just the ranks needed, never every value.
            group_where = "alias IS ? AND model IS ? AND provider IS ? AND degraded = ?"
            if project is not None:
                group_where = "project = ? AND " + group_where
            for key, row in rows.items():
                n_ttfb, n_lat = counts[key]
                gparams = (*params, *key)
                row.median_ttfb_ms, row.p95_ttfb_ms = _ranked(
                    conn, "ttfb_ms", group_where, gparams, n_ttfb, p95=True
                )
                row.median_latency_ms, _ = _ranked(
                    conn, "latency_ms", group_where, gparams, n_lat, p95=False
                )
            return sorted(
                rows.values(),
                key=lambda r: (-r.requests, r.alias or "", r.model or "", r.provider or ""),
            )

        return self._run(op, [], write=False)

    def record_tool_call(self, rec: ToolAuditRecord) -> bool:
        """Store one tool call and its consent decision.

        Raises ValueError for a decision or result outside the documented sets
        (a programming error, not a disk problem).
        """
        if rec.decision not in TOOL_DECISIONS:
            raise ValueError(f"unknown tool-call decision {rec.decision!r}")
        if rec.result_status not in TOOL_RESULTS:
            raise ValueError(f"unknown tool-call result {rec.result_status!r}")
        created = _int_or_none(rec.created_at)
        row = (
            _text_or_none(rec.request_id),
            _text_or_none(rec.project) or "",
            _text_or_none(rec.server),
            _text_or_none(rec.tool) or "",
            _text_or_none(rec.args_digest) or "",
            rec.decision,
            rec.result_status,
            _int_or_none(rec.duration_ms),
            _text_or_none(rec.detail),
            created if created is not None else _now(),
        )

        def op(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                conn.execute(
                    "INSERT INTO tool_calls(request_id, project, server, tool, args_digest,"
                    " decision, result_status, duration_ms, detail, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            return True

        return self._run(op, False, write=True)

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

        return self._run(op, [], write=False)

    def schema_version(self) -> int:
        """``PRAGMA user_version`` (0 when the cache is unavailable)."""
        return self._run(
            lambda conn: int(conn.execute("PRAGMA user_version").fetchone()[0]), 0, write=False
        )

    def close(self) -> None:
        """Close the connection (a later call would open it again)."""
        with self._lock:
            self._drop_connection()

    # --------------------------------------------------------------- internals

    def _upsert_pref(self, project: str, column: str, value: str | None) -> bool:
        # Same shape as the seed's helper (INSERT .. ON CONFLICT DO UPDATE), but
        # touching only this column: prefer_local etc. keep their values, and a
        # new row gets the schema's defaults for them.
        assert column in ("last_alias", "last_model")
        params = (project, _text_or_none(value), _now())

        def op(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                conn.execute(
                    f"INSERT INTO routing_prefs(project, {column}, updated_at) VALUES (?, ?, ?)"
                    f" ON CONFLICT(project) DO UPDATE SET {column} = excluded.{column},"
                    " updated_at = excluded.updated_at",
                    params,
                )
            return True

        return self._run(op, False, write=True)

    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so a concurrent writer makes
        # us wait in the busy handler instead of failing at upgrade time.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _run(self, op: Callable[[sqlite3.Connection], T], default: T, *, write: bool) -> T:
        """Run ``op`` on a healthy connection; every failure becomes ``default``.

        Never waits longer than the busy timeout in total (lock wait included).
        """
        deadline = time.monotonic() + self._busy_s
        if self._disabled:
            return default
        side_read = not write and self._opened
        wait = min(self._busy_s, _SIDE_READ_AFTER_S) if side_read else self._busy_s
        if not self._lock.acquire(timeout=max(wait, 0.001)):
            if side_read:
                return self._side_read(op, default, deadline)
            self._notice("locked", self._locked_message(write))
            return default
        try:
            recovered = False
            while not self._disabled:
                try:
                    conn = self._connection(deadline)
                    result = op(conn)
                except (sqlite3.Error, OSError) as exc:
                    kind = _classify(exc)
                    if kind in ("moved", "readonly", "other") and self._file_changed():
                        kind = "moved"  # deleted/replaced under us: reopen, not give up
                    if kind in ("moved", "corrupt") and not recovered:
                        recovered = True
                        self._drop_connection()
                        if kind == "moved" or self._set_aside():
                            continue
                        return default
                    if kind == "busy":
                        self._drop_connection_if_unmigrated()
                        remaining = deadline - time.monotonic()
                        if remaining > 0.005:
                            # Busy without waiting (WAL recovery, snapshot): brief backoff.
                            time.sleep(min(0.005, remaining))
                            continue
                        self._notice("locked", self._locked_message(write))
                        return default
                    if kind in ("readonly", "cantopen"):
                        self._give_up(kind, exc)
                        return default
                    self._drop_connection()
                    self._notice(
                        f"error:{exc}", f"zeke: the stats cache at {self._path} failed: {exc}"
                    )
                    return default
                else:
                    # A later lock is a new episode worth one more message.
                    with self._notice_lock:
                        self._noted.discard("locked")
                    return result
            return default
        finally:
            self._lock.release()

    def _connection(self, deadline: float) -> sqlite3.Connection:
        """The open, migrated connection; (re)opens when needed."""
        if self._conn is not None and self._file_changed():
            self._drop_connection()
        if self._conn is None:
            self._open(deadline)
        assert self._conn is not None
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        if remaining_ms != self._busy_ms_set:
            self._conn.execute(f"PRAGMA busy_timeout = {remaining_ms}")
            self._busy_ms_set = remaining_ms
        return self._conn

    def _open(self, deadline: float) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        timeout = max(0.001, deadline - time.monotonic())
        conn = sqlite3.connect(
            self._path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn = conn
        self._busy_ms_set = None
        self._identity = None
        try:
            # Per-connection settings; the persistent ones also live in 0001.
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
            conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a cache needs no fsync
            st = os.stat(self._path)
            self._identity = (st.st_dev, st.st_ino)
            self._opened = True
        except BaseException:
            self._drop_connection()
            raise

    def _side_read(self, op: Callable[[sqlite3.Connection], T], default: T, deadline: float) -> T:
        """Run a read on a short-lived connection of its own (see :meth:`_run`).

        Never creates the file (``mode=rw``) and never writes (``query_only``);
        any problem is left to the shared connection's next use to sort out.
        """
        uri = Path(os.path.abspath(self._path)).as_uri() + "?mode=rw"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=max(0.001, deadline - time.monotonic()),
                isolation_level=None,
                check_same_thread=False,
            )
        except (sqlite3.Error, OSError):
            return default
        try:
            conn.execute("PRAGMA query_only = ON")
            return op(conn)
        except (sqlite3.Error, OSError) as exc:
            if _classify(exc) == "busy":
                self._notice("locked", self._locked_message(False))
            return default
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        for mig in _load_migrations():
            if mig.version <= current:
                continue
            # journal_mode and foreign_keys are no-ops (or errors) inside a
            # transaction, so a migration's PRAGMAs run just before it.
            for pragma in mig.pragmas:
                conn.execute(pragma).fetchall()
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                current = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if mig.version <= current:
                    conn.execute("COMMIT")
                    continue
                for stmt in mig.statements:
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {mig.version}")
                conn.execute("COMMIT")
                current = mig.version
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    def _file_changed(self) -> bool:
        """True when the open file was deleted or replaced (other process, user)."""
        if self._conn is None or self._identity is None:
            return False
        try:
            st = os.stat(self._path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != self._identity

    def _drop_connection(self) -> None:
        conn, self._conn, self._identity, self._busy_ms_set = self._conn, None, None, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _drop_connection_if_unmigrated(self) -> None:
        # A lock hit while opening leaves no usable connection; start over next time.
        if self._identity is None:
            self._drop_connection()

    def _set_aside(self) -> bool:
        """Move a corrupt file (and its -wal/-shm) aside, keeping it; True on success."""
        base = f"{self._path}.corrupt-{_now()}"
        aside, n = base, 0
        while os.path.exists(aside):
            n += 1
            aside = f"{base}-{n}"
        try:
            os.replace(self._path, aside)
        except FileNotFoundError:
            pass  # someone else already moved it: just open a fresh one
        except OSError as exc:
            self._give_up(_classify(exc), exc)
            return False
        else:
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.replace(f"{self._path}{suffix}", f"{aside}{suffix}")
            self._notice(
                f"corrupt:{aside}",
                f"zeke: the stats cache at {self._path} was corrupt; moved it aside to"
                f" {aside} and started a fresh one",
            )
        return True

    def _give_up(self, kind: str, exc: BaseException) -> None:
        self._drop_connection()
        self._disabled = True
        if kind == "readonly":
            msg = (
                f"zeke: the stats cache at {self._path} is read-only;"
                " stats are off for this session"
            )
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            msg = (
                f"zeke: cannot open the stats cache at {self._path} ({reason});"
                " stats are off for this session"
            )
        self._notice("gave-up", msg)

    def _locked_message(self, write: bool) -> str:
        what = "this request's stats were not saved" if write else "no stats this time"
        return f"zeke: the stats cache is locked by another process; {what}"

    def _notice(self, key: str, message: str) -> None:
        with self._notice_lock:
            if key in self._noted:
                return
            self._noted.add(key)
            self._notices.append(message)
