"""The request history (:ZekeHistory): one row per request, its messages as sent and
its answer as received, bounded to the newest ``max_entries`` rows.

Like the rest of the cache, nothing here may fail a request: every call goes
through :class:`~zeke.store.connection.SharedConnection`, which turns a corrupt,
locked or unwritable file into the default answer and at most one message.

Pure module: no pynvim.  The engine calls it from its cache-write worker thread
(writes) and from worker threads (reads).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from zeke.store.connection import SharedConnection, write_transaction
from zeke.store.records import float_or_none, int_or_none, now, text_or_none

#: What a row's outcome may be: how the request ended, then what the user did with
#: its proposed change (``proposed`` until applied or rejected).
OUTCOMES = frozenset({"answered", "proposed", "applied", "rejected", "cancelled", "failed"})
#: The list's length: the newest rows (the picker shows no more than this).
LIST_LIMIT = 500
TITLE_CHARS = 200

# The list's columns: all small, stored before the large ones (see 0008_history.sql).
_LIST_COLUMNS = (
    "request_id",
    "project",
    "created_at",
    "command",
    "intent",
    "alias",
    "model",
    "provider",
    "cost_usd",
    "tokens",
    "outcome",
    "title",
    "turn",
)


@dataclass
class HistoryRecord:
    request_id: str
    project: str
    outcome: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    command: str | None = None
    intent: str | None = None
    alias: str | None = None
    model: str | None = None
    provider: str | None = None
    cost_usd: float | None = None
    tokens: int | None = None
    question: str = ""
    thread_id: str | None = None
    turn: int | None = None
    pin: str | None = None
    degraded: bool = False
    context: dict[str, Any] = field(default_factory=dict)
    created_at: int | None = None


def title_of(question: str) -> str:
    """The question's first non-blank line, cut for the list."""
    for line in question.splitlines():
        if line.strip():
            return line.strip()[:TITLE_CHARS]
    return ""


class History:
    """The history table of the cache behind ``db``."""

    def __init__(self, db: SharedConnection) -> None:
        self._db = db

    def record(self, rec: HistoryRecord, max_entries: int) -> bool:
        """Store one request (replacing a row of the same id), then drop the oldest
        rows beyond ``max_entries``, in one transaction."""
        if rec.outcome not in OUTCOMES:
            raise ValueError(f"unknown history outcome {rec.outcome!r}")
        created = int_or_none(rec.created_at)
        row = (
            str(rec.request_id),
            rec.project or "",
            created if created is not None else now(),
            text_or_none(rec.command),
            text_or_none(rec.intent),
            text_or_none(rec.alias),
            text_or_none(rec.model),
            text_or_none(rec.provider),
            float_or_none(rec.cost_usd),
            int_or_none(rec.tokens),
            rec.outcome,
            title_of(rec.question),
            text_or_none(rec.thread_id),
            int_or_none(rec.turn),
            text_or_none(rec.pin),
            1 if rec.degraded else 0,
            json.dumps(rec.context, ensure_ascii=False, default=str),
            rec.question,
            json.dumps(rec.messages, ensure_ascii=False, default=str),
            rec.answer or "",
        )
        keep = max(1, int(max_entries))

        def op(conn: sqlite3.Connection) -> bool:
            with write_transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO history(request_id, project, created_at, command,"
                    " intent, alias, model, provider, cost_usd, tokens, outcome, title,"
                    " thread_id, turn, pin, degraded, context, question, messages, answer)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                # ids grow by one with every insert, so the newest `keep` rows are
                # those above max(id) - keep (a replaced row's gap keeps one fewer):
                # two index lookups, where counting rows would read them all
                conn.execute(
                    "DELETE FROM history WHERE id <= (SELECT max(id) FROM history) - ?", (keep,)
                )
            return True

        return self._db.run(op, False, write=True)

    def set_outcome(self, request_id: str, outcome: str) -> bool:
        """The user applied or rejected the request's change (only a row still
        ``proposed`` changes: an applied change is not later "rejected")."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown history outcome {outcome!r}")

        def op(conn: sqlite3.Connection) -> bool:
            with write_transaction(conn):
                conn.execute(
                    "UPDATE history SET outcome = ? WHERE request_id = ? AND outcome = 'proposed'",
                    (outcome, request_id),
                )
            return True

        return self._db.run(op, False, write=True)

    def rows(self, project: str | None, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """The newest rows (of ``project``; None: every project), newest first: only
        the list's columns, read through the (project,) created_at, id index."""
        where, params = ("WHERE project = ?", (project,)) if project is not None else ("", ())
        cols = ", ".join(_LIST_COLUMNS)

        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = conn.execute(
                f"SELECT {cols} FROM history {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                (*params, max(0, int(limit))),
            )
            return [dict(zip(_LIST_COLUMNS, r, strict=True)) for r in cur]

        return self._db.run(op, [], write=False)

    def entry(self, request_id: str) -> dict[str, Any] | None:
        """One whole row (messages and context decoded), or None."""

        def op(conn: sqlite3.Connection) -> dict[str, Any] | None:
            cur = conn.execute("SELECT * FROM history WHERE request_id = ?", (request_id,))
            r = cur.fetchone()
            if r is None:
                return None
            row = dict(zip([d[0] for d in cur.description], r, strict=True))
            row["messages"] = _json(row.get("messages"), [])
            row["context"] = _json(row.get("context"), {})
            return row

        return self._db.run(op, None, write=False)

    def count(self) -> int:
        return self._db.run(
            lambda conn: int(conn.execute("SELECT count(*) FROM history").fetchone()[0]),
            0,
            write=False,
        )


def _json(text: Any, default: Any) -> Any:
    try:
        value = json.loads(text) if isinstance(text, str) else default
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default
