"""One request end to end — pack, hint, stream, record — and the routing state
(degraded mode, prices, unresolvable aliases) shared between requests.

Knows nothing of Neovim: it reports through ``protocol.Events`` (one method per
event) and is driven by the host adapter, or directly by tests.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from zeke import protocol
from zeke.backends import http as client
from zeke.backends.events import (
    End,
    Meta,
    ReasoningDelta,
    StreamFailure,
    TextDelta,
    ToolCall,
    ToolCalls,
    Usage,
)
from zeke.changes import proposal as changes
from zeke.engine import context, fallback, routing, tags
from zeke.engine.catalog import Catalog
from zeke.engine.degraded import DegradedMode
from zeke.errors import ZekeError
from zeke.project import project_config, project_of, tool_root
from zeke.settings import Settings, read_api_key, thawed
from zeke.store import cache as cache_mod
from zeke.tools import policy as tool_policy
from zeke.tools import runner as toolrun
from zeke.tools.service import ApplyInBuffer, Tooling

log = logging.getLogger("zeke.engine.core")

WRITE_QUEUE = 1000  # pending cache writes before new ones are dropped (a stuck disk)


@dataclass
class Attempt:
    """What one streamed answer produced."""

    text: str = ""
    reasoning: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    chunk_model: str | None = None
    routing_metadata: dict[str, Any] | None = None
    usage: Usage | None = None
    tool_calls: list[Any] = field(default_factory=list)
    failure: str | None = None
    finish_reason: str | None = None
    truncated: bool = False
    ttfb_ms: int | None = None


@dataclass
class RequestState:
    rid: str
    project: str = ""
    alias: tags.Alias | None = None
    intent: str = ""
    size_hint: str | None = None
    started: float = field(default_factory=time.perf_counter)
    provider: str | None = None
    model: str | None = None
    degraded: bool = False
    text: str = ""
    max_cloud_cost_cents: int | None = None
    # what the request was about (for the proposed change)
    path: str | None = None
    root: str = ""
    tool_root: str | None = None  # None: no project root, no tools (tool_root)
    filetype: str = ""
    selection: list[str] = field(default_factory=list)
    start_line: int = 1
    # the backend chosen on the first turn: ("omen", model) or ("ollama", model)
    backend: tuple[str, str] | None = None
    shown_facts: tuple[Any, ...] | None = None


class Engine:
    def __init__(
        self,
        events: protocol.Events,
        *,
        env: Mapping[str, str] | None = None,
        session_id: str | None = None,
    ) -> None:
        self.events = events
        self.env = env if env is not None else os.environ
        self.session_id = session_id or uuid.uuid4().hex[:16]
        self.settings = Settings.defaults()
        self.cache: cache_mod.Cache | None = None
        self.http: httpx.AsyncClient | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._writes: MemoryObjectSendStream[Callable[[], Any]] | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        self.catalog = Catalog(
            settings=lambda: self.settings, http=self._http, secrets=self._secrets
        )
        self.degraded = DegradedMode(
            api_base=lambda: self.settings.api_base,
            http=self._http,
            events=self.events,
            spawn=self._spawn,
        )
        # endpoint -> model names the router could not resolve (docs/design.md §12)
        self._unresolvable: dict[str, set[str]] = {}
        self._proposals: dict[str, changes.Proposal] = {}
        self.tooling = Tooling(
            settings=lambda: self.settings, events=self.events, audit=self._audit
        )
        # project -> alias picked with :ZekeModel in this session; holds even when
        # the cache could not store it (or cannot be read right now)
        self._chosen_alias: dict[str, str] = {}
        # protocol.CALLS, one handler each
        self._calls: dict[str, Callable[[Mapping[str, Any]], Awaitable[Any]]] = {
            "apply": self._apply,
            "discard": self._discard,
            "aliases": self._aliases,
            "set_alias": self._set_alias,
            "stats": self._stats,
            "audit": self._audit_rows,
            "config": self._config,
        }

    # Lifecycle ------------------------------------------------------------------

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until cancelled; background work (recording, watching OMEN) lives here."""
        send, receive = anyio.create_memory_object_stream[Callable[[], Any]](WRITE_QUEUE)
        async with (
            httpx.AsyncClient(trust_env=False, transport=_LazyTLSTransport()) as http,
            anyio.create_task_group() as tg,
            send,
        ):
            self.http = http
            self._tg = tg
            self._writes = send
            tg.start_soon(self._write_in_order, receive)
            task_status.started()
            await anyio.sleep_forever()

    async def _write_in_order(self, jobs: MemoryObjectReceiveStream[Callable[[], Any]]) -> None:
        """Every cache write, one after another in a worker thread: off the request
        path, and rows land in the order things happened (audit rows of one request
        in call order, its stats row last)."""
        async with jobs:
            async for job in jobs:
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
        rid = str(payload.get("id") or uuid.uuid4().hex[:12])
        state = RequestState(rid=rid, intent=str(payload.get("intent") or "code"))
        self.degraded.last_request_at = time.monotonic()
        self._spawn(self.catalog.refresh)  # in the background; a no-op while fresh
        scope = anyio.CancelScope()
        self._scopes[rid] = scope
        result: protocol.DonePayload = {"state": "done"}
        attempt = Attempt()
        try:
            with scope:
                attempt = await self._run(state, payload, attempt)
                result.update(self._finish(state, attempt))
                if result["state"] == "done":
                    await self._propose(state, attempt, result)
            if scope.cancelled_caught:
                kept = "the text so far is kept" if attempt.text else "no text had arrived"
                result = {"state": "cancelled", "error": f"zeke: cancelled; {kept}"}
        except ZekeError as e:
            result = {"state": "error", "error": _prefixed(e.message)}
        except Exception as e:  # a bug: say so briefly, keep the details in the log
            log.exception("request %s failed", rid)
            result = {
                "state": "error",
                "error": f"zeke: internal error ({type(e).__name__}: {e}); details in the zeke log",
            }
        finally:
            self._scopes.pop(rid, None)
        result.setdefault("latency_ms", _ms_since(state.started))
        result.setdefault("ttfb_ms", attempt.ttfb_ms)
        result.setdefault("degraded", state.degraded)
        if result["state"] == "error":
            # at the default level: a failure is what someone reads the log for
            log.warning("request %s failed: %s", rid, result.get("error"))
        self.events.done(rid, result)
        self._record(state, attempt, result)

    async def _run(
        self, state: RequestState, payload: Mapping[str, Any], attempt: Attempt
    ) -> Attempt:
        s = self.settings
        path = payload.get("path") or None
        cwd = str(payload.get("cwd") or os.getcwd())
        name, root = await anyio.to_thread.run_sync(project_of, path, cwd, s.project_root)
        state.tool_root = await anyio.to_thread.run_sync(tool_root, path, cwd, s.project_root)
        state.project = project_config(payload.get("project"))[0] or s.project_name or name
        state.path, state.root = path, root
        state.filetype = str(payload.get("filetype") or "")
        state.start_line = int(payload.get("start_line") or 1)
        prefs = await self._prefs(state.project)
        alias_name = s.alias
        chosen = self._chosen_alias.get(state.project) or prefs.last_alias
        if chosen and (chosen == "auto" or chosen in s.aliases):
            alias_name = chosen
        state.alias = alias = tags.resolve_alias(alias_name, s.aliases)

        packed = context.pack(
            context.PackRequest(
                intent=state.intent,
                instruction=str(payload.get("instruction") or ""),
                lines=[str(x) for x in payload.get("lines") or []],
                window_start=int(payload.get("window_start") or 1),
                start_line=int(payload.get("start_line") or 1),
                end_line=int(payload.get("end_line") or 1),
                path=path,
                root=root,
                filetype=str(payload.get("filetype") or ""),
                diagnostics=list(payload.get("diagnostics") or []),
                context_lines=s.context_lines,
                max_context_tokens=s.max_context_tokens,
                total_lines=payload.get("total_lines"),
            )
        )
        state.size_hint = packed.size_hint
        state.selection = changes.split_lines(packed.selection) if packed.selection else [""]
        merged = tags.merge_tags(
            s.tags,
            alias.tags,
            {"intent": state.intent},
            {"project": state.project, "size_hint": packed.size_hint},
        )
        merged, omen = tags.apply_prefs(
            merged,
            s.omen,
            {
                "prefer_local": prefs.prefer_local,
                "max_cloud_cost_cents": prefs.max_cloud_cost_cents,
            },
            omen_configured=s.omen is not None,
        )
        state.max_cloud_cost_cents = prefs.max_cloud_cost_cents
        self.events.meta(state.rid, {"alias": alias.name})
        if packed.notes:
            self.events.notes(state.rid, packed.notes)

        return await self._converse(state, packed.messages, merged, omen, attempt)

    async def _converse(
        self,
        state: RequestState,
        first_messages: list[dict[str, Any]],
        merged: dict[str, str],
        omen: dict[str, Any] | None,
        attempt: Attempt,
    ) -> Attempt:
        """Turns of the conversation: answer, tool calls, tool results, … up to the limit."""
        runner, offered = await self.tooling.runner(
            rid=state.rid, intent=state.intent, root=state.tool_root, project=state.project
        )
        specs = tool_policy.to_openai_tools(offered) if offered else None
        messages = list(first_messages)
        for turn in range(self.settings.tools.max_turns):
            turn_start = len(attempt.text)
            attempt.tool_calls = []
            if state.backend is None:
                if (
                    self.degraded.on
                    and self.settings.fallback
                    and not await self.degraded.omen_back()
                ):
                    attempt = await self._stream_ollama(
                        state, messages, specs, attempt, reason=None
                    )
                else:
                    attempt = await self._stream_omen(state, messages, merged, omen, specs, attempt)
            elif state.backend[0] == "omen":
                attempt = await self._stream_omen(state, messages, merged, omen, specs, attempt)
            else:
                attempt = await self._stream_ollama(state, messages, specs, attempt, reason=None)
            calls = attempt.tool_calls
            if not calls or runner is None or attempt.failure or attempt.truncated:
                return attempt
            if turn == self.settings.tools.max_turns - 1:
                # its results could never reach the model: run nothing more
                limit = f"Not run: the conversation reached tools.max_turns ({turn + 1})."
                for call in calls:
                    self._tool_done(state, runner.skip(call, "refused", limit))
                break
            messages.append(_assistant_message(state, attempt.text[turn_start:], calls))
            for n, call in enumerate(calls):
                try:
                    outcome = await runner.run(call)
                except toolrun.CancelAll as cancelled:
                    if cancelled.outcome is not None:
                        self._tool_done(state, cancelled.outcome)
                    for rest in calls[n + 1 :]:  # on record too: cancelled with the others
                        self._tool_done(
                            state,
                            runner.skip(rest, "cancel", "Not run: the user cancelled all calls."),
                        )
                    self.events.notes(
                        state.rid, ["zeke: tool calls cancelled; nothing more was run"]
                    )
                    return attempt
                self._tool_done(state, outcome)
                messages.append(_tool_message(state, call, outcome.content))
            self._flush_notices()
            sep = "\n\n" if attempt.text and not attempt.text.endswith("\n\n") else ""
            if sep:
                attempt.text += sep
                self.events.text(state.rid, sep)
        self.events.notes(
            state.rid,
            [
                f"zeke: stopped after {self.settings.tools.max_turns} turns (config tools.max_turns); "
                f"the model's last {len(attempt.tool_calls)} tool call(s) were not run"
            ],
        )
        return attempt

    def _tool_done(self, state: RequestState, outcome: toolrun.Outcome) -> None:
        """A call's outcome, for last().tool_calls and the UI."""
        self.events.tool(state.rid, outcome.summary())

    async def _stream_omen(
        self,
        state: RequestState,
        messages: list[dict[str, Any]],
        merged_tags: dict[str, str],
        omen: dict[str, Any] | None,
        specs: list[dict[str, Any]] | None,
        attempt: Attempt,
    ) -> Attempt:
        s = self.settings
        alias = state.alias
        assert alias is not None
        if state.backend is not None:  # later turns: same router, same model, no fallback
            model = state.backend[1]
            return await self._consume(
                state, self._open_omen(state, messages, model, merged_tags, omen, specs), attempt
            )
        model = alias.name
        concrete = self.catalog.concrete_model(alias)
        unresolvable = self._unresolvable.setdefault(s.api_base, set())
        if model in unresolvable and concrete:
            model = concrete
        retried = False
        while True:
            try:
                state.backend = ("omen", model)
                return await self._consume(
                    state,
                    self._open_omen(state, messages, model, merged_tags, omen, specs),
                    attempt,
                )
            except ZekeError as e:
                state.backend = None
                if e.headers:  # a refusal's routing facts still go to the trace
                    attempt.headers = dict(e.headers)
                action = fallback.decide(
                    e,
                    fallback_enabled=bool(s.fallback),
                    model_is_concrete=model == concrete and concrete is not None,
                    concrete_available=concrete is not None,
                    already_retried=retried,
                )
                log.info("OMEN attempt with model %s failed (%s): %s", model, action.value, e)
                if action is fallback.Action.RETRY_CONCRETE and concrete:
                    unresolvable.add(model)
                    model, retried = concrete, True
                    continue
                if action is fallback.Action.DEGRADE:
                    return await self._stream_ollama(state, messages, specs, attempt, reason=e)
                raise

    def _open_omen(
        self,
        state: RequestState,
        messages: list[dict[str, Any]],
        model: str,
        merged_tags: dict[str, str],
        omen: dict[str, Any] | None,
        specs: list[dict[str, Any]] | None,
    ) -> AbstractAsyncContextManager[client.OpenedStream]:
        s = self.settings
        body = tags.build_body(
            model=model, messages=messages, tags=merged_tags, omen=omen, tools=specs
        )
        headers = tags.build_headers(
            api_key=read_api_key(self.env, s.api_key_env),
            request_id=state.rid,
            session_id=self.session_id,
            tags=merged_tags,
        )
        return client.open_openai_stream(
            self._http(),
            f"{s.api_base}/chat/completions",
            body,
            headers,
            connect_timeout=s.timeouts.connect,
            read_timeout=s.timeouts.read,
            first_byte_timeout=s.timeouts.first_byte,
            endpoint_name="OMEN",
            secrets=self._secrets(),
        )

    async def _consume(
        self,
        state: RequestState,
        opener: AbstractAsyncContextManager[client.OpenedStream],
        attempt: Attempt,
        on_open: Callable[[], None] | None = None,
    ) -> Attempt:
        sent = time.perf_counter()
        async with opener as opened:
            if on_open is not None:
                on_open()
            attempt.headers = dict(opened.headers)
            self._emit_facts(state, attempt)
            async for ev in opened.events:
                if isinstance(ev, TextDelta):
                    if attempt.ttfb_ms is None:
                        attempt.ttfb_ms = _ms_since(sent)
                    attempt.text += ev.text
                    state.text = attempt.text
                    self.events.text(state.rid, ev.text)
                elif isinstance(ev, ReasoningDelta):
                    attempt.reasoning += ev.text
                elif isinstance(ev, Meta):
                    if ev.model:
                        attempt.chunk_model = ev.model
                    if ev.routing:
                        attempt.routing_metadata = dict(ev.routing)
                    self._emit_facts(state, attempt)
                elif isinstance(ev, Usage):
                    attempt.usage = ev
                elif isinstance(ev, ToolCalls):
                    attempt.tool_calls = list(ev.calls)
                elif isinstance(ev, StreamFailure):
                    attempt.failure = ev.message
                elif isinstance(ev, End):
                    attempt.finish_reason = ev.finish_reason
                    attempt.truncated = ev.truncated
        return attempt

    async def _stream_ollama(
        self,
        state: RequestState,
        messages: list[dict[str, Any]],
        specs: list[dict[str, Any]] | None,
        attempt: Attempt,
        *,
        reason: ZekeError | None,
    ) -> Attempt:
        s = self.settings
        announce: Callable[[], None] | None = None
        if state.backend is not None:
            model: str | None = state.backend[1]
        else:
            model = await self.catalog.local_model(state.alias)
            state.provider, state.model = "ollama", model
            if model is None:
                raise ZekeError(
                    self._both_down_message(reason, "no local model is configured or pulled")
                )
            state.backend = ("ollama", model)

            def announce() -> None:
                # Only once Ollama answers: when it is down too, the user gets one
                # message (the both-down error), not a degraded banner that then fails.
                state.degraded = True
                if reason is not None:
                    self.degraded.enter(model, reason)
                self.events.banner(
                    state.rid, f"⚠ OMEN unreachable — degraded mode on local Ollama ({model})"
                )
                self.events.meta(
                    state.rid, {"provider": "ollama", "model": model, "degraded": True}
                )

        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        if specs:
            body["tools"] = specs
        try:
            return await self._consume(
                state,
                client.open_ollama_stream(
                    self._http(),
                    f"{s.ollama_host}/api/chat",
                    body,
                    connect_timeout=s.timeouts.connect,
                    read_timeout=s.timeouts.read,
                    first_byte_timeout=max(s.timeouts.first_byte, 60.0),  # cold model loads
                    endpoint_name="Ollama",
                    secrets=self._secrets(),
                ),
                attempt,
                on_open=announce,
            )
        except ZekeError as e:
            if e.kind in ("unreachable", "timeout"):
                raise ZekeError(self._both_down_message(reason, e.message), kind=e.kind) from e
            if reason is not None:  # say why we were on Ollama at all
                raise ZekeError(
                    f"zeke: OMEN is unreachable ({reason.message}), and the local fallback "
                    f"failed: {e.message}",
                    kind=e.kind,
                    status=e.status,
                ) from e
            raise

    # Results --------------------------------------------------------------------

    def _facts(self, state: RequestState, attempt: Attempt) -> routing.RoutingFacts:
        alias = state.alias
        if state.degraded:
            return routing.resolve_facts(
                headers={},
                routing_metadata=None,
                usage_cost=None,
                chunk_model=attempt.chunk_model,
                alias_provider="ollama",
                alias_model=state.model,
            )
        facts = routing.resolve_facts(
            headers=attempt.headers,
            routing_metadata=attempt.routing_metadata,
            usage_cost=attempt.usage.cost_usd if attempt.usage else None,
            chunk_model=attempt.chunk_model,
            alias_provider=alias.provider if alias else None,
            alias_model=alias.model if alias else None,
        )
        if facts.provider is None and self.catalog.provider_of(facts.model):
            # today's OMEN names no provider, but its model list does
            facts.provider = self.catalog.provider_of(facts.model)
            facts.sources["provider"] = "models"
        return facts

    def _emit_facts(self, state: RequestState, attempt: Attempt) -> None:
        """Tell the badge who is answering as soon as it is known, and when it changes
        (speculate_k can switch provider mid-answer)."""
        facts = self._facts(state, attempt)
        shown = (facts.provider, facts.model, facts.cost_usd)
        if shown != state.shown_facts:
            state.shown_facts = shown
            state.provider, state.model = facts.provider, facts.model
            self.events.meta(
                state.rid,
                {"provider": facts.provider, "model": facts.model, "cost_usd": facts.cost_usd},
            )

    def _finish(self, state: RequestState, attempt: Attempt) -> protocol.DonePayload:
        facts = self._facts(state, attempt)
        state.provider, state.model = facts.provider, facts.model
        usage = attempt.usage or Usage()
        tokens_in = usage.tokens_in
        tokens_out = usage.tokens_out
        if tokens_out is None and attempt.text:
            tokens_out = context.estimate_tokens(attempt.text)
        cost = facts.cost_usd
        if cost is None:
            cost = routing.estimate_cost(
                provider=facts.provider,
                model=facts.model,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                prices=self.catalog.prices,
            )
        over = routing.over_budget(cost, state.max_cloud_cost_cents, facts.provider)
        out: protocol.DonePayload = {
            "state": "done",
            "provider": facts.provider,
            "model": facts.model,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": cost,
            "over_budget": over,
            "finish_reason": attempt.finish_reason,
            "truncated": attempt.truncated,
            "ttfb_ms": attempt.ttfb_ms,
            "degraded": state.degraded,
        }
        who = "Ollama" if state.degraded else "OMEN"
        if attempt.truncated:
            cause = f" ({_printable(attempt.failure).rstrip('.')})" if attempt.failure else ""
            out["state"] = "error"
            kept = "the text so far is kept" if attempt.text else "no text had arrived"
            out["error"] = (
                f"zeke: the answer from {who} stopped before it was complete{cause}; {kept}"
            )
        elif attempt.failure:
            out["state"] = "error"
            out["error"] = _prefixed(f"{who} reported an error mid-answer: {attempt.failure}")
        elif attempt.finish_reason == "length":
            out["warning"] = "zeke: the answer hit the model's length limit and may be cut short"
        return out

    def _record(self, state: RequestState, attempt: Attempt, result: Mapping[str, Any]) -> None:
        cache = self.cache
        if cache is None or not state.project:
            return
        rec = cache_mod.RequestRecord(
            request_id=state.rid,
            project=state.project,
            alias=state.alias.name if state.alias else None,
            model=result.get("model") or state.model,
            provider=result.get("provider") or state.provider,
            intent=state.intent,
            size_hint=state.size_hint,
            latency_ms=result.get("latency_ms"),
            ttfb_ms=attempt.ttfb_ms,
            tokens_in=result.get("tokens_in"),
            tokens_out=result.get("tokens_out"),
            cost_usd=result.get("cost_usd"),
            success=result.get("state") == "done",
            degraded=state.degraded,
            over_budget=bool(result.get("over_budget")),
            error=result.get("error"),
            finish_reason=attempt.finish_reason,
        )
        trace: dict[str, Any] = dict(routing.omen_trace(attempt.headers))
        if attempt.routing_metadata:
            trace["routing_metadata"] = attempt.routing_metadata

        def write() -> None:
            cache.record_request(rec, trace or None)
            if rec.success and rec.model:
                cache.set_last_model(rec.project, rec.model)

        self._write(write)

    # Proposed changes and tools ---------------------------------------------------

    async def _propose(
        self, state: RequestState, attempt: Attempt, result: protocol.DonePayload
    ) -> None:
        """Turn the answer's code into a change the user can review (never applied here)."""
        s = self.settings
        try:
            proposal, note = await anyio.to_thread.run_sync(
                lambda: changes.from_answer(
                    pid=state.rid,
                    intent=state.intent,
                    text=attempt.text,
                    filetype=state.filetype,
                    selection=state.selection,
                    start_line=state.start_line,
                    path=state.path,
                    root=state.root,
                    test_paths=s.test_paths,
                    read_file=changes.read_text,
                )
            )
        except ZekeError as e:
            proposal, note = None, _prefixed(e.message)
        if note:
            result["note"] = note
        if proposal is not None:
            self._proposals[proposal.id] = proposal
            while len(self._proposals) > 20:
                self._proposals.pop(next(iter(self._proposals)))
            result["proposal"] = proposal.to_wire()

    async def _apply(self, args: Mapping[str, Any]) -> protocol.ApplyResult:
        pid = str(args.get("proposal") or "")
        proposal = self._proposals.get(pid)
        if proposal is None:
            raise ZekeError(
                "zeke: that change is no longer pending; run the command again", kind="refused"
            )
        lines = [str(x) for x in args.get("lines") or []]
        accepted = [int(i) for i in args.get("accepted") or []]
        hint = args.get("hint")  # where the UI's extmark says the original starts now
        applied = await anyio.to_thread.run_sync(
            lambda: changes.apply(
                proposal, lines, accepted, hint=hint if isinstance(hint, int) else None
            )
        )
        out: protocol.ApplyResult = {
            "start": applied.start,
            "end": applied.end,
            "lines": applied.lines,
            "accepted": applied.accepted,
            "total": applied.total,
            "written": False,
        }
        if self.settings.glyph and proposal.path and accepted:
            if args.get("modified"):
                raise ZekeError(
                    f"zeke: {proposal.path} has unsaved edits; save it (:w) and apply again — "
                    "zeke never overwrites a buffer with unsaved edits from disk",
                    kind="refused",
                )
            try:
                notes = await self.tooling.write_change(
                    proposal,
                    lines,
                    applied,
                    fileformat=str(args.get("fileformat") or "unix"),
                    fileencoding=str(args.get("fileencoding") or ""),
                )
            except ApplyInBuffer as e:
                # nothing written: the UI applies it in the buffer (one undo step)
                notes = [e.message]
            else:
                out["written"] = True
            for note in notes:
                self.events.notice(note)
        if out["written"]:
            self._proposals.pop(pid, None)
        # else the UI applies it in the buffer and settles it with "discard" once it
        # has: if the buffer changed meanwhile, the change stays pending for a retry
        return out

    def _audit(self, rec: cache_mod.ToolAuditRecord) -> None:
        cache = self.cache
        if cache is None:
            return

        self._write(lambda: cache.record_tool_call(rec))

    def consent_reply(self, token: str, decision: str, reason: str | None) -> None:
        self.tooling.consent_reply(token, decision, reason)

    # Calls from the UI (picker, stats, audit) ------------------------------------

    async def call(self, method: str, args: Mapping[str, Any]) -> Any:
        """Answer a question from the Lua side (``protocol.CALLS``); disk work runs in
        a worker thread."""
        handler = self._calls.get(method)
        if handler is None:
            raise ZekeError(f"zeke: unknown host call '{method}'", kind="internal")
        return await handler(args)

    async def _config(self, args: Mapping[str, Any]) -> protocol.ConfigResult:
        """What Lua sent, and the typed view the engine reads."""
        return {"sent": thawed(self.settings.table), "held": self.settings.as_table()}

    async def _discard(self, args: Mapping[str, Any]) -> bool:
        self._proposals.pop(str(args.get("proposal") or ""), None)
        return True

    async def _project_asked(self, args: Mapping[str, Any]) -> str:
        """The project a UI question is about (``protocol.Where``)."""
        project = project_config(args.get("project"))[0] or ""
        if project:
            return project
        name, _root = await anyio.to_thread.run_sync(
            project_of,
            args.get("path") or None,
            str(args.get("cwd") or os.getcwd()),
            self.settings.project_root,
        )
        return self.settings.project_name or name

    async def _aliases(self, args: Mapping[str, Any]) -> protocol.AliasesResult:
        project = await self._project_asked(args)
        cache = self.cache
        summaries: dict[str, Any] = {}
        prefs = cache_mod.Prefs()
        if cache is not None:
            summaries = await anyio.to_thread.run_sync(cache.alias_summaries, project)
            prefs = await anyio.to_thread.run_sync(cache.prefs, project)
        self._flush_notices()
        names = ["auto", *sorted(self.settings.aliases)]
        chosen = self._chosen_alias.get(project) or prefs.last_alias
        current = chosen if chosen in names else self.settings.alias
        return {
            "project": project,
            "current": current,
            "aliases": [
                {
                    "name": n,
                    "provider": self.settings.aliases.get(n, {}).get("provider"),
                    "model": self.settings.aliases.get(n, {}).get("model"),
                    "summary": protocol.pick(summaries.get(n), protocol.AliasSummary),
                }
                for n in names
            ],
        }

    async def _set_alias(self, args: Mapping[str, Any]) -> protocol.SetAliasResult:
        project = await self._project_asked(args)
        cache = self.cache
        alias = str(args.get("alias") or "")
        tags.resolve_alias(alias, self.settings.aliases)  # unknown -> a clear ZekeError
        self._chosen_alias[project] = alias
        ok = cache is not None and await anyio.to_thread.run_sync(
            cache.set_last_alias, project, alias
        )
        self._flush_notices()
        return {"project": project, "alias": alias, "saved": bool(ok)}

    async def _stats(self, args: Mapping[str, Any]) -> protocol.StatsResult:
        project = await self._project_asked(args)
        cache = self.cache
        rows = []
        if cache is not None:
            scope = None if args.get("all") else project
            rows = await anyio.to_thread.run_sync(cache.stats, scope)
        self._flush_notices()
        return {"project": project, "rows": [protocol.pick(r, protocol.StatsRow) for r in rows]}

    async def _audit_rows(self, args: Mapping[str, Any]) -> protocol.AuditResult:
        project = await self._project_asked(args)
        cache = self.cache
        rows = []
        if cache is not None:
            scope = None if args.get("all") else project
            rows = await anyio.to_thread.run_sync(cache.tool_calls, scope, 50)
        self._flush_notices()
        return {"project": project, "rows": [protocol.pick(r, protocol.AuditRow) for r in rows]}

    # Shared routing state -------------------------------------------------------

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

    def _both_down_message(self, omen_error: ZekeError | None, ollama_problem: str) -> str:
        s = self.settings
        omen_part = f"OMEN at {s.api_base} is unreachable"
        if omen_error is not None:
            omen_part += f" ({omen_error.message})"
        return (
            f"zeke: {omen_part}, and the local fallback failed too: Ollama at {s.ollama_host}: "
            f"{ollama_problem}. Tried OMEN, then Ollama /api/chat. Run :checkhealth zeke."
        )

    # Helpers --------------------------------------------------------------------

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


class _LazyTLSTransport(httpx.AsyncBaseTransport):
    """http:// (OMEN and Ollama on the machine or the LAN) needs no TLS; building the
    verifying context loads the CA bundle, ~60 ms of every host start. It is made on
    the first https:// request instead."""

    def __init__(self) -> None:
        # Only ever used for http:// URLs (see below), so no TLS happens on it and
        # verify=False merely skips loading the CA bundle.
        self._plain = httpx.AsyncHTTPTransport(verify=False, trust_env=False)
        self._tls: httpx.AsyncHTTPTransport | None = None
        self._lock = anyio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https":
            return await self._plain.handle_async_request(request)
        async with self._lock:
            if self._tls is None:
                self._tls = await anyio.to_thread.run_sync(
                    lambda: httpx.AsyncHTTPTransport(trust_env=False)
                )
        return await self._tls.handle_async_request(request)

    async def aclose(self) -> None:
        await self._plain.aclose()
        if self._tls is not None:
            await self._tls.aclose()


async def _quietly(fn: Callable[[], Any]) -> None:
    try:
        await fn()
    except Exception:
        log.exception("background task failed")


def _assistant_message(state: RequestState, text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The model's tool-calling turn, in the shape its backend expects back."""
    ollama = state.backend is not None and state.backend[0] == "ollama"
    if ollama:
        return {
            "role": "assistant",
            "content": text,
            "tool_calls": [
                {"function": {"name": c.name, "arguments": c.arguments or {}}} for c in calls
            ],
        }
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.raw_arguments or json.dumps(c.arguments or {}),
                },
            }
            for c in calls
        ],
    }


def _tool_message(state: RequestState, call: ToolCall, content: str) -> dict[str, Any]:
    if state.backend is not None and state.backend[0] == "ollama":
        return {"role": "tool", "content": content, "tool_name": call.name}
    return {"role": "tool", "tool_call_id": call.id, "content": content}


def _ms_since(t0: float) -> int:
    return max(0, math.floor((time.perf_counter() - t0) * 1000))


def _printable(text: str) -> str:
    """Text from a server, safe to show: control characters become "?"."""
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


def _prefixed(msg: str) -> str:
    """A user-facing message: "zeke:" first, no control characters from a server."""
    msg = _printable(msg)
    return msg if msg.startswith("zeke:") else f"zeke: {msg}"
