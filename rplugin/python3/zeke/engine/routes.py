"""Which backend answers a turn (docs/design.md §9, §12).

The first turn goes to the router; when the router answers that it does not know
the name sent (``fallback.cannot_resolve``), once more with a stand-in model chosen
by intent (remembered for that endpoint for ``REMEMBER_STAND_IN_S``, then the alias
is tried again); when the router is unreachable, or degraded mode is on, to local
Ollama. Every later turn goes to the backend the first one settled on, naming the
concrete model that answered it (so a router cannot switch model mid-conversation),
with no fallback. Layered like httpx's ``send``: ``open`` → ``_open_router`` (the
retry, the fallback decision) / ``_open_local`` (the degraded announcement) →
``Backend.open``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

import anyio

from zeke import protocol
from zeke.backends import http as client
from zeke.engine import facts, fallback, routing, thread
from zeke.engine.backend import Backend, Messages, OllamaBackend, OmenBackend, Tools
from zeke.engine.catalog import Catalog
from zeke.engine.degraded import DegradedMode
from zeke.engine.request import Request
from zeke.engine.streamed import Answer
from zeke.engine.wording import capitalized, router_name
from zeke.errors import ZekeError
from zeke.settings import Settings

log = logging.getLogger("zeke.engine.routes")

# How long a stand-in is used without asking the router for the alias again: long
# enough not to pay a failed attempt per request, short enough that a router that
# learns the alias (or was restarting) gets it back within minutes.
REMEMBER_STAND_IN_S = 300.0
# A router that has not answered the request by then is asked whether it is down
# (/ready 503): a stalled router then costs this, not the whole read timeout.
READY_CHECK_AFTER_S = 2.0


@dataclass
class Turn:
    backend: Backend
    stream: client.OpenedStream
    sent: float  # when the attempt that answered was sent (perf_counter)


class Routes:
    def __init__(
        self, *, catalog: Catalog, degraded: DegradedMode, events: protocol.Events
    ) -> None:
        self._catalog = catalog
        self._degraded = degraded
        self._events = events
        # (endpoint, name asked) -> (label, model, until): the router did not know the
        # name; use the stand-in until then (docs/design.md §12)
        self._stand_ins: dict[tuple[str, str], tuple[str, str, float]] = {}
        self._omen_at: set[str] = set()  # endpoints that answered like OMEN

    def server_name(self, settings: Settings) -> str:
        """The router as the user's messages name it."""
        known = settings.api_base in self._omen_at or bool(self._catalog.prices)
        return router_name(settings.api_base, known_omen=known)

    @asynccontextmanager
    async def open(
        self, req: Request, messages: Messages, tools: Tools, answer: Answer
    ) -> AsyncIterator[Turn]:
        """One turn's opened stream; sets ``req.backend`` (and ``req.degraded``)."""
        async with AsyncExitStack() as stack:
            if req.backend is not None:  # later turns: the same server and model
                if isinstance(req.backend, OllamaBackend):
                    yield await self._enter_local(stack, req.backend, messages, tools, None)
                else:
                    req.backend = self._pinned(req.backend, answer)
                    yield await _enter(stack, req.backend, messages, tools)
            elif (
                self._degraded.on
                and req.link.settings.fallback
                and not await self._degraded.omen_back()
            ):
                yield await self._open_local(stack, req, messages, tools, reason=None)
            else:
                turn = await self._open_router(stack, req, messages, tools, answer)
                if routing.is_omen(turn.stream.headers):
                    self._omen_at.add(req.link.settings.api_base)
                yield turn

    def _pinned(self, backend: OmenBackend, answer: Answer) -> OmenBackend:
        """A later turn names the concrete model that answered the first, when the
        router takes that name (``pin_for``)."""
        model = self.pin_for(backend, answer)
        return backend if model == backend.model else replace(backend, model=model)

    def pin_for(self, backend: OmenBackend, answer: Answer) -> str:
        """The model a later turn (a tool turn, a follow-up) names: the concrete one
        that answered, when the router takes that name — OMEN resolves its models,
        other routers take what their list names; LiteLLM reports the deployment
        behind a model group, which it does not accept: there the name asked stays."""
        seen = facts.observed(backend, answer, self._catalog)
        return thread.pin_choice(
            seen.model,
            seen.sources.get("model"),
            backend.model,
            omen=backend.link.settings.api_base in self._omen_at,
            listed=self._catalog.models,
        )

    async def _open_router(
        self,
        stack: AsyncExitStack,
        req: Request,
        messages: Messages,
        tools: Tools,
        answer: Answer,
    ) -> Turn:
        s = req.link.settings
        alias = req.alias
        assert alias is not None
        label = self.server_name(s)
        key = (s.api_base, alias.name)
        remembered = self._stand_ins.get(key)
        if remembered and remembered[2] > time.monotonic():
            req.retried_as = remembered[0]
            req.retry_reason = "the router did not know this name a few minutes ago"
            req.backend = OmenBackend(
                req.link, remembered[1], alias, req.tags, req.omen, label=label
            )
            self._events.meta(req.rid, {"retried_as": req.retried_as})
            try:
                return await _enter(stack, req.backend, messages, tools)
            except ZekeError as e:
                req.backend, req.retried_as = None, None
                self._stand_ins.pop(key, None)
                if e.headers:
                    answer.headers = dict(e.headers)
                action = fallback.decide(
                    e,
                    fallback_enabled=bool(s.fallback),
                    unresolved=False,
                    stand_in_available=False,
                    already_retried=True,
                )
                if action is fallback.Action.DEGRADE:
                    return await self._open_local(stack, req, messages, tools, reason=e)
                raise
        self._stand_ins.pop(key, None)
        req.backend = OmenBackend(req.link, alias.name, alias, req.tags, req.omen, label=label)
        try:
            return await self._enter_watched(stack, req.backend, messages, tools)
        except ZekeError as e:
            req.backend = None
            if e.headers:  # a refusal's routing facts still go to the trace
                answer.headers = dict(e.headers)
            first_error = e
        listed = list(self._catalog.models)
        unresolved = fallback.cannot_resolve(first_error, alias.name, listed)
        pick = (
            fallback.stand_in(
                asked=alias.name,
                alias_model=alias.model,
                intent=req.intent,
                aliases=s.aliases,
                listed=listed,
            )
            if unresolved
            else None
        )
        action = fallback.decide(
            first_error,
            fallback_enabled=bool(s.fallback),
            unresolved=unresolved,
            stand_in_available=pick is not None,
            already_retried=False,
        )
        log.info("router attempt with %s failed (%s): %s", alias.name, action.value, first_error)
        if action is fallback.Action.DEGRADE:
            return await self._open_local(stack, req, messages, tools, reason=first_error)
        if action is not fallback.Action.RETRY_CONCRETE or pick is None:
            raise first_error
        stand_label, model = pick
        req.retried_as = stand_label
        req.retry_reason = first_error.message.removeprefix("zeke: ")
        req.backend = OmenBackend(req.link, model, alias, req.tags, req.omen, label=label)
        self._events.meta(req.rid, {"retried_as": stand_label})
        try:
            turn = await _enter(stack, req.backend, messages, tools)
        except ZekeError as e:
            req.backend, req.retried_as = None, None
            self._events.meta(req.rid, {"retried_as": None})
            log.info("the stand-in %s failed too: %s", model, e)
            # the user asked for the alias: its error is the one that explains
            raise ZekeError(
                f"{first_error.message} (zeke then asked for {model} instead, and that "
                f"failed too: {e.message.removeprefix('zeke: ')})",
                kind=first_error.kind,
                status=first_error.status,
            ) from e
        self._stand_ins[key] = (stand_label, model, time.monotonic() + REMEMBER_STAND_IN_S)
        return turn

    async def _enter_watched(
        self, stack: AsyncExitStack, backend: OmenBackend, messages: Messages, tools: Tools
    ) -> Turn:
        """``_enter``, unless the router says it is down (``/ready`` 503) while the
        request waits: then it is unreachable now, and degraded mode can answer."""
        down = False
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                nonlocal down
                await anyio.sleep(READY_CHECK_AFTER_S)
                if await self._degraded.says_down():
                    down = True
                    tg.cancel_scope.cancel()

            tg.start_soon(watch)
            turn: Turn | None = None
            failure: ZekeError | None = None
            try:
                turn = await _enter(stack, backend, messages, tools)
            except ZekeError as e:  # raised out here, not wrapped in an ExceptionGroup
                failure = e
            finally:
                tg.cancel_scope.cancel()
        if failure is not None and not down:
            raise failure
        if turn is None or down:
            raise ZekeError(
                f"{backend.label} has not answered, and its /ready says it has no healthy "
                "provider (503)",
                kind="http",
                status=503,
            )
        return turn

    async def _open_local(
        self,
        stack: AsyncExitStack,
        req: Request,
        messages: Messages,
        tools: Tools,
        *,
        reason: ZekeError | None,
    ) -> Turn:
        """Ollama in the router's place; ``reason``: why the router did not answer
        (None: degraded mode was already on)."""
        name = self.server_name(req.link.settings)
        model = await self._catalog.local_model(req.alias)
        if model is None:
            raise ZekeError(
                both_down(req.link.settings, name, reason, "no local model is configured or pulled")
            )
        req.backend = backend = OllamaBackend(req.link, model)
        turn = await self._enter_local(stack, backend, messages, tools, reason, name)
        # Only now that Ollama answers: when it is down too, the user gets one
        # message (the both-down error), not a degraded banner that then fails.
        req.degraded = True
        req.degraded_reason = (
            f"{name} is unreachable ({reason.message.removeprefix('zeke: ')})"
            if reason is not None
            else f"degraded mode was already on ({name} unreachable)"
        )
        if reason is not None:
            self._degraded.enter(model, reason)
        self._events.banner(
            req.rid,
            f"⚠ {capitalized(name)} is unreachable — degraded mode on local Ollama ({model})",
        )
        self._events.meta(req.rid, {"provider": "ollama", "model": model, "degraded": True})
        return turn

    async def _enter_local(
        self,
        stack: AsyncExitStack,
        backend: OllamaBackend,
        messages: Messages,
        tools: Tools,
        reason: ZekeError | None,
        name: str | None = None,
    ) -> Turn:
        try:
            return await _enter(stack, backend, messages, tools)
        except ZekeError as e:
            settings = backend.link.settings
            name = name or self.server_name(settings)
            if e.kind in ("unreachable", "timeout"):
                raise ZekeError(both_down(settings, name, reason, e.message), kind=e.kind) from e
            if reason is not None:  # say why we were on Ollama at all
                raise ZekeError(
                    f"zeke: {name} is unreachable ({reason.message}), and the local fallback "
                    f"failed: {e.message}",
                    kind=e.kind,
                    status=e.status,
                ) from e
            raise


async def _enter(stack: AsyncExitStack, backend: Backend, messages: Messages, tools: Tools) -> Turn:
    sent = time.perf_counter()
    stream = await stack.enter_async_context(backend.open(messages, tools))
    return Turn(backend, stream, sent)


def both_down(s: Settings, name: str, router_error: ZekeError | None, ollama_problem: str) -> str:
    router_part = (
        f"{name} is unreachable" if name != "OMEN" else f"OMEN at {s.api_base} is unreachable"
    )
    if router_error is not None:
        router_part += f" ({router_error.message})"
    return (
        f"zeke: {router_part}, and the local fallback failed too: Ollama at {s.ollama_host}: "
        f"{ollama_problem}. Tried the router, then Ollama /api/chat. Run :checkhealth zeke."
    )
