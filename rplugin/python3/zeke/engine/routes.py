"""Which backend answers a turn (docs/design.md §9, §12).

The first turn goes to OMEN; when OMEN cannot resolve the alias, once more with a
concrete model (and that alias is remembered per endpoint); when OMEN is unreachable,
or degraded mode is on, to local Ollama. Every later turn goes to the backend and
model the first one settled on, with no fallback. Layered like httpx's ``send``:
``open`` → ``_open_router`` (the retry, the fallback decision) / ``_open_local`` (the
degraded announcement) → ``Backend.open``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from zeke import protocol
from zeke.backends import http as client
from zeke.engine import fallback
from zeke.engine.backend import Backend, Messages, OllamaBackend, OmenBackend, Tools
from zeke.engine.catalog import Catalog
from zeke.engine.degraded import DegradedMode
from zeke.engine.request import Request
from zeke.engine.streamed import Answer
from zeke.errors import ZekeError
from zeke.settings import Settings

log = logging.getLogger("zeke.engine.routes")


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
        # endpoint -> model names the router could not resolve (docs/design.md §12)
        self._unresolvable: dict[str, set[str]] = {}

    @asynccontextmanager
    async def open(
        self, req: Request, messages: Messages, tools: Tools, answer: Answer
    ) -> AsyncIterator[Turn]:
        """One turn's opened stream; sets ``req.backend`` (and ``req.degraded``)."""
        async with AsyncExitStack() as stack:
            if req.backend is not None:  # later turns: the same server and model
                # (pinning the concrete model that answered would go here)
                if isinstance(req.backend, OllamaBackend):
                    yield await self._enter_local(stack, req.backend, messages, tools, None)
                else:
                    yield await _enter(stack, req.backend, messages, tools)
            elif (
                self._degraded.on
                and req.link.settings.fallback
                and not await self._degraded.omen_back()
            ):
                yield await self._open_local(stack, req, messages, tools, reason=None)
            else:
                yield await self._open_router(stack, req, messages, tools, answer)

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
        model = alias.name
        concrete = self._catalog.concrete_model(alias)
        unresolvable = self._unresolvable.setdefault(s.api_base, set())
        if model in unresolvable and concrete:
            model = concrete
        retried = False
        while True:
            req.backend = OmenBackend(req.link, model, alias, req.tags, req.omen)
            try:
                return await _enter(stack, req.backend, messages, tools)
            except ZekeError as e:
                req.backend = None
                if e.headers:  # a refusal's routing facts still go to the trace
                    answer.headers = dict(e.headers)
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
                    return await self._open_local(stack, req, messages, tools, reason=e)
                raise

    async def _open_local(
        self,
        stack: AsyncExitStack,
        req: Request,
        messages: Messages,
        tools: Tools,
        *,
        reason: ZekeError | None,
    ) -> Turn:
        """Ollama in OMEN's place; ``reason``: why OMEN did not answer (None: degraded
        mode was already on)."""
        model = await self._catalog.local_model(req.alias)
        if model is None:
            raise ZekeError(
                both_down(req.link.settings, reason, "no local model is configured or pulled")
            )
        req.backend = backend = OllamaBackend(req.link, model)
        turn = await self._enter_local(stack, backend, messages, tools, reason)
        # Only now that Ollama answers: when it is down too, the user gets one
        # message (the both-down error), not a degraded banner that then fails.
        req.degraded = True
        if reason is not None:
            self._degraded.enter(model, reason)
        self._events.banner(
            req.rid, f"⚠ OMEN unreachable — degraded mode on local Ollama ({model})"
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
    ) -> Turn:
        try:
            return await _enter(stack, backend, messages, tools)
        except ZekeError as e:
            settings = backend.link.settings
            if e.kind in ("unreachable", "timeout"):
                raise ZekeError(both_down(settings, reason, e.message), kind=e.kind) from e
            if reason is not None:  # say why we were on Ollama at all
                raise ZekeError(
                    f"zeke: OMEN is unreachable ({reason.message}), and the local fallback "
                    f"failed: {e.message}",
                    kind=e.kind,
                    status=e.status,
                ) from e
            raise


async def _enter(stack: AsyncExitStack, backend: Backend, messages: Messages, tools: Tools) -> Turn:
    sent = time.perf_counter()
    stream = await stack.enter_async_context(backend.open(messages, tools))
    return Turn(backend, stream, sent)


def both_down(s: Settings, omen_error: ZekeError | None, ollama_problem: str) -> str:
    omen_part = f"OMEN at {s.api_base} is unreachable"
    if omen_error is not None:
        omen_part += f" ({omen_error.message})"
    return (
        f"zeke: {omen_part}, and the local fallback failed too: Ollama at {s.ollama_host}: "
        f"{ollama_problem}. Tried OMEN, then Ollama /api/chat. Run :checkhealth zeke."
    )
