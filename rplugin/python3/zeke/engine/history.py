""":ZekeHistory: each request kept in the cache once it ends (its messages as sent, its
answer as received, who answered, what it cost and what became of it), the list of
them, and reopening one as a thread the host keeps, so :ZekeFollowup and :ZekeRetry
work from it (docs/design.md §18).

Writes go through the engine's cache-write queue (a worker thread, in order: off
both main loops); reads run in worker threads. Nothing here fails a request: the
cache turns a corrupt or locked file into "no history" and one message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from zeke import protocol
from zeke.changes import span
from zeke.engine import images, tags
from zeke.engine.backend import Link, Messages
from zeke.engine.facts import Facts
from zeke.engine.redact import redact
from zeke.engine.request import Request
from zeke.engine.streamed import Answer
from zeke.engine.thread import Exchange, Thread
from zeke.engine.threads import Threads
from zeke.errors import ZekeError
from zeke.settings import Settings
from zeke.store import cache as cache_mod
from zeke.store.history import HistoryRecord

Handler = Callable[[Mapping[str, Any]], Awaitable[Any]]

#: The command each kind of request was started with (the list's command column).
COMMANDS = {
    "code": "ZekeRefactor",
    "tests": "ZekeTest",
    "reason": "ZekeExplain",
    "vision": "ZekeExplain",
}
KINDS = {"followup": "ZekeFollowup", "retry": "ZekeRetry"}
#: What the UI may say became of a proposed change (``discard``'s outcome).
SETTLED = frozenset({"applied", "rejected"})


def outcome_of(result: Mapping[str, Any]) -> str:
    state = result.get("state")
    if state == "done":
        return "proposed" if result.get("proposal") else "answered"
    return "cancelled" if state == "cancelled" else "failed"


def record_of(
    req: Request,
    kind: str,
    messages: Messages,
    answer: Answer,
    facts: Facts,
    result: Mapping[str, Any],
    pin: str | None,
) -> HistoryRecord:
    """The row of one request that ended (``kind``: request, followup or retry)."""
    ins, outs = result.get("tokens_in"), result.get("tokens_out")
    tokens = (ins or 0) + (outs or 0) if ins is not None or outs is not None else None
    cut = [req.cut.before, req.cut.text, req.cut.after] if req.cut is not None else None
    return HistoryRecord(
        request_id=req.rid,
        project=req.project,
        outcome=outcome_of(result),
        # what was sent, as it was sent (the request path redacted it); an image is
        # kept as its name and size, never its bytes
        messages=[
            {
                "role": str(m.get("role")),
                "content": images.placeholder(m.get("content"), req.images),
            }
            for m in messages
        ],
        answer=answer.text,
        command=KINDS.get(kind) or COMMANDS.get(req.intent, req.intent),
        intent=req.intent,
        alias=req.alias.name if req.alias else None,
        model=facts.model,
        provider=facts.provider,
        cost_usd=result.get("cost_usd"),
        tokens=tokens,
        question=redact(req.question)[0],
        thread_id=str(result.get("thread") or req.rid),
        turn=int(result.get("turn") or 1),
        pin=pin,
        degraded=req.degraded,
        context={
            "path": req.path,
            "root": req.root,
            "tool_root": req.tool_root,
            "filetype": req.filetype,
            "start_line": req.start_line,
            "selection": req.selection,
            "cut": cut,
        },
    )


def thread_of(row: Mapping[str, Any], tid: str, last: Request) -> Thread:
    """The thread a history row was part of, up to that row: its messages as sent
    (system, first question, then each answer and follow-up) and its answer."""
    msgs = [m for m in row.get("messages") or [] if isinstance(m, dict)]
    system = ""
    if msgs and msgs[0].get("role") == "system":
        system = str(msgs[0].get("content") or "")
        msgs = msgs[1:]
    exchanges: list[Exchange] = []
    asked: str | None = None
    for m in msgs:
        content = str(m.get("content") or "")
        if m.get("role") == "user":
            asked = content
        elif m.get("role") == "assistant" and asked is not None:
            n = len(exchanges) + 1
            exchanges.append(Exchange(f"{row['request_id']}-{n}", asked, content, state="done"))
            asked = None
    ended = row.get("outcome") not in ("cancelled", "failed")
    exchanges.append(
        Exchange(
            str(row["request_id"]),
            asked or "",
            str(row.get("answer") or ""),
            state="done" if ended else "error",
            alias=row.get("alias"),
            model=row.get("model"),
            cost_usd=row.get("cost_usd"),
            tokens=row.get("tokens"),
        )
    )
    t = Thread(id=tid, session="", system=system, exchanges=exchanges, pin=row.get("pin"))
    t.last = last
    return t


def request_of(row: Mapping[str, Any], link: Link) -> Request:
    """The request a follow-up from a reopened row copies: its context, the alias it
    used (the config's when that alias is gone), the config's tags and omen object."""
    s = link.settings
    intent = str(row.get("intent") or "code")
    req = Request(link, intent=intent)
    req.project = str(row.get("project") or "")
    try:
        req.alias = tags.resolve_alias(str(row.get("alias") or s.alias), s.aliases)
    except ZekeError:
        req.alias = tags.resolve_alias(s.alias, s.aliases)
    req.tags = tags.merge_tags(s.tags, req.alias.tags, {"intent": intent}, {"project": req.project})
    req.omen = dict(s.omen) if s.omen is not None else None
    ctx = row.get("context") or {}
    req.path = ctx.get("path")
    req.root = str(ctx.get("root") or "")
    req.tool_root = ctx.get("tool_root")
    req.filetype = str(ctx.get("filetype") or "")
    req.start_line = int(ctx.get("start_line") or 1)
    req.selection = [str(x) for x in ctx.get("selection") or [""]]
    cut = ctx.get("cut")
    if isinstance(cut, list) and len(cut) == 3:
        req.cut = span.Cut(*(str(x) for x in cut))
    req.question = str(row.get("question") or "")
    return req


class HistoryCalls:
    """The history's part of the engine: recording, the outcome of a change, the
    ``history`` and ``history_open`` calls."""

    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        cache: Callable[[], cache_mod.Cache | None],
        threads: Threads,
        write: Callable[[Callable[[], Any]], None],
        link: Callable[[str], Link],
        project_asked: Callable[[Mapping[str, Any]], Awaitable[str]],
        flush_notices: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._threads = threads
        self._write = write
        self._link = link
        self._project_asked = project_asked
        self._flush_notices = flush_notices

    def _store(self) -> cache_mod.Cache | None:
        return self._cache() if self._settings().history.enabled else None

    def record(
        self,
        req: Request,
        kind: str,
        messages: Messages,
        answer: Answer,
        facts: Facts,
        result: Mapping[str, Any],
    ) -> None:
        """Queue the request's row (nothing when ``history`` is off, or no project)."""
        cache = self._store()
        if cache is None or not req.project or not messages:
            return
        t = self._threads.get(str(result.get("thread") or req.rid))
        rec = record_of(req, kind, messages, answer, facts, result, t.pin if t else None)
        keep = self._settings().history.max_entries
        self._write(lambda: cache.history.record(rec, keep))

    def settled(self, request_id: str, outcome: str) -> None:
        cache = self._store()
        if cache is not None and request_id:
            self._write(lambda: cache.history.set_outcome(request_id, outcome))

    def table(self, calls: Mapping[str, Handler]) -> dict[str, Handler]:
        """``history`` and ``history_open``, and ``apply``/``discard`` wrapped so a
        change applied or rejected updates its row."""
        apply, discard = calls["apply"], calls["discard"]

        async def applied(args: Mapping[str, Any]) -> Any:
            out = await apply(args)
            if out.get("written"):  # else the UI applies it and settles with discard
                self.settled(str(args.get("proposal") or ""), "applied")
            return out

        async def discarded(args: Mapping[str, Any]) -> Any:
            out = await discard(args)
            if args.get("outcome") in SETTLED:
                self.settled(str(args.get("proposal") or ""), str(args["outcome"]))
            return out

        return {
            "apply": applied,
            "discard": discarded,
            "history": self.rows,
            "history_open": self.open,
        }

    async def rows(self, args: Mapping[str, Any]) -> protocol.HistoryResult:
        """:ZekeHistory[!]: the newest requests, newest first."""
        project = await self._project_asked(args)
        enabled = self._settings().history.enabled
        cache = self._cache()
        rows: list[dict[str, Any]] = []
        if cache is not None and enabled:
            scope = None if args.get("all") else project
            rows = await anyio.to_thread.run_sync(cache.history.rows, scope)
            self._flush_notices()
        return {
            "project": project,
            "enabled": enabled,
            "rows": [protocol.pick(r, protocol.HistoryRow) for r in rows],
        }

    async def open(self, args: Mapping[str, Any]) -> protocol.HistoryOpenResult:
        """Reopen one: its thread is kept under ``thread`` (a new id from the UI)."""
        rid, tid = str(args.get("id") or ""), str(args.get("thread") or "")
        cache = self._cache()
        row = None
        if cache is not None and rid and tid:
            row = await anyio.to_thread.run_sync(cache.history.entry, rid)
            self._flush_notices()
        if row is None:
            raise ZekeError(
                "zeke: that request is no longer in the history (pruned, or the cache was reset)",
                kind="refused",
            )
        t = thread_of(row, tid, request_of(row, self._link(tid)))
        self._threads.reopen(t)
        return {
            "thread": tid,
            "turn": len(t.exchanges),
            "entry": protocol.pick(row, protocol.HistoryEntry),
        }
