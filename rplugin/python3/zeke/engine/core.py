"""The engine's wiring and a request's lifecycle: start it, let it be cancelled, end
it with one done event and one stats row. The state shared between requests lives
in the parts wired here: degraded mode, the catalog (prices, models), the routes
(aliases the router cannot resolve), pending changes and the session's alias picks.

What a request does is elsewhere: ``request.prepare`` (what to send),
``conversation`` (the turns, tools included), ``routes`` and ``backend`` (where
each turn goes), ``facts`` (who answered, what it cost). UI questions are
``queries``'.

Knows nothing of Neovim: it reports through ``protocol.Events`` (one method per
event) and is driven by the host adapter, or directly by tests.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from zeke import protocol
from zeke.engine import facts as facts_mod
from zeke.engine import images, receipt
from zeke.engine.backend import Link, Messages, Wire
from zeke.engine.catalog import Catalog
from zeke.engine.conversation import Conversation
from zeke.engine.degraded import DegradedMode
from zeke.engine.guard import Guard, NotSent
from zeke.engine.history import HistoryCalls
from zeke.engine.proposals import Proposals
from zeke.engine.queries import Queries
from zeke.engine.request import Request, prepare
from zeke.engine.routes import Routes
from zeke.engine.streamed import Answer, ms_since
from zeke.engine.threads import Threads
from zeke.engine.transport import LazyTLSTransport
from zeke.engine.wording import prefixed
from zeke.errors import ZekeError
from zeke.settings import Settings, read_api_key
from zeke.store import cache as cache_mod
from zeke.tools.service import Tooling

log = logging.getLogger("zeke.engine.core")

RECEIPTS = 50  # receipts :ZekeWhy can show from memory (older ones: from the cache)
WRITE_QUEUE = 1000  # pending cache writes before new ones are dropped (a stuck disk)


class Engine:
    def __init__(
        self,
        events: protocol.Events,
        *,
        env: Mapping[str, str] | None = None,
        session_id: str | None = None,
        wire: Wire | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``wire`` and ``transport`` replace the streaming POSTs and the HTTP
        transport (tests: a scripted model server, in-process)."""
        self.events = events
        self._wire = wire or Wire()
        self._transport = transport
        self.env = env if env is not None else os.environ
        self.session_id = session_id or _random_hex(16)
        self.settings = Settings.defaults()
        self.cache: cache_mod.Cache | None = None
        self.http: httpx.AsyncClient | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._writes: MemoryObjectSendStream[Callable[[], Any] | anyio.Event] | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        self.catalog = Catalog(
            settings=lambda: self.settings, http=self._http, secrets=self._secrets
        )
        self.degraded = DegradedMode(
            api_base=lambda: self.settings.api_base,
            http=self._http,
            events=self.events,
            spawn=self._spawn,
            secrets=self._secrets,
            name=lambda: self.routes.server_name(self.settings),
        )
        self.guard = Guard(
            catalog=self.catalog, events=self.events, degraded=lambda: self.degraded.on
        )
        self.routes = Routes(catalog=self.catalog, degraded=self.degraded, events=self.events)
        self.tooling = Tooling(
            settings=lambda: self.settings, events=self.events, audit=self._audit
        )
        self.proposals = Proposals(
            settings=lambda: self.settings,
            tooling=self.tooling,
            events=self.events,
            outcome=self._outcome,
        )
        # project -> alias picked with :ZekeModel in this session (queries.py)
        self._chosen_alias: dict[str, str] = {}
        # request id -> its routing receipt (:ZekeWhy), the newest RECEIPTS kept
        self.receipts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.queries = Queries(
            receipts=self.receipts,
            settings=lambda: self.settings,
            cache=lambda: self.cache,
            chosen=self._chosen_alias,
            proposals=self.proposals,
            flush_notices=self._flush_notices,
        )
        self.threads = Threads(
            routes=self.routes, events=self.events, session=lambda: self.session_id
        )
        self.history = HistoryCalls(
            settings=lambda: self.settings,
            cache=lambda: self.cache,
            threads=self.threads,
            write=self._write,
            link=self._link,
            project_asked=self.queries.project_asked,
            flush_notices=self._flush_notices,
        )
        self._calls: dict[str, Callable[[Mapping[str, Any]], Awaitable[Any]]] = self.queries.table()
        self._calls.update(self.history.table(self._calls))

    # Lifecycle ------------------------------------------------------------------

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until cancelled; background work (recording, watching OMEN) lives here."""
        send, receive = anyio.create_memory_object_stream[Callable[[], Any] | anyio.Event](
            WRITE_QUEUE
        )
        async with (
            httpx.AsyncClient(
                trust_env=False, transport=self._transport or LazyTLSTransport()
            ) as http,
            anyio.create_task_group() as tg,
            send,
        ):
            self.http = http
            self._tg = tg
            self._writes = send
            tg.start_soon(self._write_in_order, receive)
            task_status.started()
            await anyio.sleep_forever()

    async def _write_in_order(
        self, jobs: MemoryObjectReceiveStream[Callable[[], Any] | anyio.Event]
    ) -> None:
        """Every cache write, one after another in a worker thread: off the request
        path, and rows land in the order things happened (audit rows of one request
        in call order, its stats row last). An Event in the queue is set when every
        write before it has run (``settled``)."""
        async with jobs:
            async for job in jobs:
                if isinstance(job, anyio.Event):
                    job.set()
                    continue
                try:
                    await anyio.to_thread.run_sync(job)
                except Exception:
                    log.exception("cache write failed")
                self._flush_notices()

    def _write(self, job: Callable[[], Any]) -> None:
        """Queue a cache write (never waits; a full queue drops it with a log line)."""
        if self._writes is None:
            return
        try:
            self._writes.send_nowait(job)
        except anyio.WouldBlock:
            log.warning("cache write queue full; a row was dropped")

    async def settled(self) -> None:
        """Wait until the cache writes queued so far have run (a request's stats row
        is queued by the time run_request returns)."""
        if self._writes is None:
            return
        marker = anyio.Event()
        await self._writes.send(marker)
        await marker.wait()

    def configure(self, raw: Mapping[str, Any]) -> None:
        old_db = self.settings.db_path
        self.settings = Settings.from_lua(dict(raw))
        if self.cache is None or self.settings.db_path != old_db:
            if self.cache is not None:
                self.cache.close()
            self.cache = cache_mod.Cache(self.settings.db_path)
            # open and migrate now, so the first request does not pay for it
            self._write(self.cache.schema_version)
        self.catalog.expire()
        self._spawn(self.catalog.refresh)

    def cancel(self, rid: str) -> bool:
        scope = self._scopes.get(rid)
        if scope is None:
            return False
        scope.cancel()
        return True

    # One request ----------------------------------------------------------------

    async def run_request(self, payload: Mapping[str, Any]) -> None:
        """A fresh request: it starts a thread (threads.py)."""

        async def first(req: Request) -> Messages:
            messages = await prepare(
                req, payload, prefs=self._prefs, chosen=self._chosen_alias, events=self.events
            )
            self.threads.opened(req, messages)
            return messages

        await self._run(payload, first, kind="request")

    async def run_followup(self, payload: dict[str, Any]) -> None:
        """:ZekeFollowup: the thread so far plus the new message."""
        await self._run(payload, lambda req: self.threads.followup(req, payload), kind="followup")

    async def run_retry(self, payload: dict[str, Any]) -> None:
        """:ZekeRetry: the thread's last question again, to another alias."""
        await self._run(payload, lambda req: self.threads.retry(req, payload), kind="retry")

    async def _run(
        self,
        payload: Mapping[str, Any],
        prepared: Callable[[Request], Awaitable[Messages]],
        *,
        kind: str,
    ) -> None:
        """A request's lifecycle, whatever it sends: ``prepared`` fills the request in
        and gives the first turn's messages (``kind``, for the history: request,
        followup or retry)."""
        rid = str(payload.get("id") or _random_hex(12))
        req = Request(self._link(rid), intent=str(payload.get("intent") or "code"))
        self.degraded.last_request_at = time.monotonic()
        self._spawn(self.catalog.refresh)  # in the background; a no-op while fresh
        scope = anyio.CancelScope()
        self._scopes[rid] = scope
        result: protocol.DonePayload = {"state": "done"}
        answer = Answer()
        facts: facts_mod.Facts | None = None
        messages: Messages = []
        try:
            with scope:
                messages = await prepared(req)
                await self.guard.check(req, messages)  # over the budget cap: ask first
                await Conversation(
                    req,
                    routes=self.routes,
                    tooling=self.tooling,
                    catalog=self.catalog,
                    events=self.events,
                    flush_notices=self._flush_notices,
                ).run(messages, answer)
                facts = self._settle(req, answer)
                result = self._finished(req, answer, facts)
                if result["state"] == "done":
                    await self.proposals.propose(req, answer.text, result)
            if scope.cancelled_caught:
                result = {"state": "cancelled", "error": f"zeke: cancelled; {answer.kept()}"}
        except NotSent as e:  # the user's choice at the budget guard
            result = {"state": "cancelled", "error": e.message}
        except ZekeError as e:
            msg = e.message
            if req.intent == "vision" and images.rejects_images(e):  # name an alias that sees
                model = (
                    req.backend.model
                    if req.backend
                    else req.alias.name
                    if req.alias
                    else "the model"
                )
                msg = images.rejection_message(model, self.settings.aliases)
            result = {"state": "error", "error": prefixed(msg)}
        except Exception as e:  # a bug: say so briefly, keep the details in the log
            log.exception("request %s failed", rid)
            result = {
                "state": "error",
                "error": f"zeke: internal error ({type(e).__name__}: {e}); details in the zeke log",
            }
        finally:
            self._scopes.pop(rid, None)
        result.setdefault("latency_ms", ms_since(req.started))
        result.setdefault("ttfb_ms", answer.ttfb_ms)
        result.setdefault("degraded", req.degraded)
        facts = facts or self._settle(req, answer)
        try:
            self.threads.finished(req, answer, facts, result)
        except Exception:  # a bug there must not keep the request from ending
            log.exception("request %s: keeping its thread failed", rid)
        if result["state"] == "error":
            # at the default level: a failure is what someone reads the log for
            log.warning("request %s failed: %s", rid, result.get("error"))
        self._keep_receipt(req, answer, facts, result)  # before done: :ZekeWhy may follow it
        self.events.done(rid, result)
        self._record(req, answer, facts, result)
        try:
            self.history.record(req, kind, messages, answer, facts, result)
        except Exception:  # the history must never cost a request anything
            log.exception("request %s: its history row", rid)

    def _keep_receipt(
        self, req: Request, answer: Answer, facts: facts_mod.Facts, result: Mapping[str, Any]
    ) -> None:
        """The request's receipt for :ZekeWhy, kept in memory (a few dozen)."""
        try:
            self.receipts[req.rid] = receipt.from_request(req, answer, facts, result)
        except Exception:  # a receipt must never cost the request its stats row
            log.exception("receipt for %s", req.rid)
            return
        self.receipts.move_to_end(req.rid)
        while len(self.receipts) > RECEIPTS:
            self.receipts.popitem(last=False)

    def _settle(self, req: Request, answer: Answer) -> facts_mod.Facts:
        return facts_mod.settle(
            req.backend,
            answer,
            catalog=self.catalog,
            max_cloud_cost_cents=req.max_cloud_cost_cents,
            prompt_tokens=req.prompt_tokens,
        )

    def _finished(
        self, req: Request, answer: Answer, facts: facts_mod.Facts
    ) -> protocol.DonePayload:
        """The done event of an answer that ran to its end (well or not)."""
        who = (
            req.backend.label if req.backend is not None else self.routes.server_name(req.settings)
        )
        return {
            "provider": facts.provider,
            "model": facts.model,
            "switched_from": facts.switched_from,
            "retried_as": req.retried_as,
            "tokens_in": facts.tokens_in,
            "tokens_out": facts.tokens_out,
            "cost_usd": facts.cost_usd,
            "over_budget": facts.over_budget,
            "finish_reason": answer.finish_reason,
            "truncated": answer.truncated,
            "ttfb_ms": answer.ttfb_ms,
            "degraded": req.degraded,
            **answer.verdict(who),
        }

    def _record(
        self, req: Request, answer: Answer, facts: facts_mod.Facts, result: Mapping[str, Any]
    ) -> None:
        """The stats row. Tokens and cost only for an answer that ran to its end (a
        cancelled one's are not known)."""
        cache = self.cache
        if cache is None or not req.project:
            return
        rec = cache_mod.RequestRecord(
            request_id=req.rid,
            project=req.project,
            alias=req.alias.name if req.alias else None,
            model=facts.model,
            provider=facts.provider,
            intent=req.intent,
            size_hint=req.size_hint,
            latency_ms=result.get("latency_ms"),
            ttfb_ms=answer.ttfb_ms,
            tokens_in=result.get("tokens_in"),
            tokens_in_estimated=facts.tokens_in_estimated and result.get("tokens_in") is not None,
            tokens_out=result.get("tokens_out"),
            cost_usd=result.get("cost_usd"),
            success=result.get("state") == "done",
            status=status_of(result),
            switched_from=facts.switched_from,
            degraded=req.degraded,
            over_budget=bool(result.get("over_budget")),
            error=result.get("error"),
            finish_reason=answer.finish_reason,
            proposed=bool(result.get("proposal")),
            forecast_low_usd=req.forecast.low_usd if req.forecast is not None else None,
            forecast_high_usd=req.forecast.high_usd if req.forecast is not None else None,
            guard=req.guard,
        )
        trace = facts_mod.trace(answer, req.retried_as)

        def write() -> None:
            cache.record_request(rec, trace)
            if rec.status == "ok" and rec.model:
                cache.set_last_model(rec.project, rec.model)

        self._write(write)

    def _outcome(self, rid: str, accepted: int, rejected: int) -> None:
        """A proposed change was settled: its hunks accepted and rejected, on its row."""
        cache = self.cache
        if cache is None:
            return
        self._write(lambda: cache.record_outcome(rid, accepted, rejected))

    # Tools ------------------------------------------------------------------------

    def _audit(self, rec: cache_mod.ToolAuditRecord) -> None:
        cache = self.cache
        if cache is None:
            return

        self._write(lambda: cache.record_tool_call(rec))

    def consent_reply(self, token: str, decision: str, reason: str | None) -> None:
        self.tooling.consent_reply(token, decision, reason)

    def guard_reply(self, token: str, choice: str, alias: str | None) -> None:
        self.guard.reply(token, choice, alias)

    # Calls from the UI (picker, stats, audit) ------------------------------------

    async def call(self, method: str, args: Mapping[str, Any]) -> Any:
        """Answer a question from the Lua side (``protocol.CALLS``, queries.py)."""
        handler = self._calls.get(method)
        if handler is None:
            raise ZekeError(f"zeke: unknown host call '{method}'", kind="internal")
        return await handler(args)

    # Helpers --------------------------------------------------------------------

    async def _prefs(self, project: str) -> cache_mod.Prefs:
        cache = self.cache
        if cache is None:
            return cache_mod.Prefs()
        prefs = cache_mod.Prefs()
        with anyio.move_on_after(0.5):  # a slow disk never holds a request up
            prefs = await anyio.to_thread.run_sync(cache.prefs, project, abandon_on_cancel=True)
        self._flush_notices()
        return prefs

    def _flush_notices(self) -> None:
        if self.cache is None:
            return
        for msg in self.cache.pop_notices():
            self.events.notice(msg)

    def _link(self, rid: str) -> Link:
        return Link(rid, self.settings, self._http, self.env, self.session_id, self._wire)

    def _secrets(self) -> list[str]:
        """The router key, read now: what no server's answer may carry into zeke."""
        key = read_api_key(self.env, self.settings.api_key_env)
        return [key] if key else []

    def _http(self) -> httpx.AsyncClient:
        if self.http is None:
            raise ZekeError("zeke: the host is still starting; try again", kind="internal")
        return self.http

    def _spawn(self, fn: Callable[[], Any]) -> None:
        if self._tg is not None:
            self._tg.start_soon(_quietly, fn)


def status_of(result: Mapping[str, Any]) -> str:
    """A stats row's status: ok, cancelled (the user's doing, not a failure) or failed."""
    state = result.get("state")
    return "ok" if state == "done" else "cancelled" if state == "cancelled" else "failed"


async def _quietly(fn: Callable[[], Any]) -> None:
    try:
        await fn()
    except Exception:
        log.exception("background task failed")


def _random_hex(n: int) -> str:
    """``n`` random hex digits (not uuid: importing it costs a cold start ~3 ms)."""
    return os.urandom((n + 1) // 2).hex()[:n]
