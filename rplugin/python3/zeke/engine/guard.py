"""The budget guard: before a request is sent, its forecast cost (forecast.py) against
the project's cap (:ZekeBudget); over it, the user is asked through the UI (a
``guard`` event, answered by ``guard_reply``) while the request waits on the anyio
loop — Neovim's main loop never blocks. The choices: send anyway, send to a local
alias (one whose provider is Ollama; offered only when the config has one), cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from zeke import protocol
from zeke.engine import context, fallback, forecast, tags
from zeke.engine.backend import Messages
from zeke.engine.catalog import Catalog
from zeke.engine.request import Request
from zeke.errors import ZekeError

WAIT_PRICES_S = 1.5  # the first request of a session waits this long for the price list


class NotSent(ZekeError):
    """The user cancelled at the guard's prompt: nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="refused")


def local_aliases(aliases: Mapping[str, Any]) -> list[str]:
    """The config's aliases whose provider is local (Ollama), sorted."""
    return sorted(
        str(n)
        for n, spec in aliases.items()
        if isinstance(spec, Mapping) and str(spec.get("provider") or "").lower() == "ollama"
    )


def tokens_of(req: Request, messages: Messages) -> int:
    """zeke's estimate of what the request sends."""
    if req.prompt_tokens is not None:
        return req.prompt_tokens
    total = 0
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            total += context.estimate_tokens(content)
    return total


class Guard:
    def __init__(
        self, *, catalog: Catalog, events: protocol.Events, degraded: Callable[[], bool]
    ) -> None:
        self._catalog = catalog
        self._events = events
        self._degraded = degraded
        self._waiters: dict[str, tuple[anyio.Event, list[tuple[str, str | None]]]] = {}

    def reply(self, token: str, choice: str, alias: str | None) -> None:
        waiter = self._waiters.get(token)
        if waiter is None:
            return
        event, box = waiter
        box.append((choice if choice in ("send", "local") else "cancel", alias or None))
        event.set()

    async def check(self, req: Request, messages: Messages) -> None:
        """Forecast ``req``'s cost (kept on it for the receipt) and, over the cap, ask.
        Raises NotSent on cancel; "local" re-points the request at that alias."""
        alias = req.alias
        if alias is None:
            return
        await self._catalog.ready(WAIT_PRICES_S)
        s = req.settings
        stand = fallback.stand_in(
            asked=alias.name,
            alias_model=alias.model,
            intent=req.intent,
            aliases=s.aliases,
            listed=list(self._catalog.models),
        )
        fc = forecast.forecast(
            intent=req.intent,
            tokens_in=tokens_of(req, messages),
            alias_name=alias.name,
            alias_provider=alias.provider,
            alias_model=alias.model,
            prices=self._catalog.prices,
            stand_in=stand[1] if stand and alias.name != "auto" else None,
        )
        req.forecast = fc
        cap = req.max_cloud_cost_cents
        if self._degraded():
            req.guard = "not asked: the router is down, local Ollama answers (free)"
            return
        if not forecast.asks(fc, cap):
            if not fc.known:
                req.guard = f"no guard: {fc.note or forecast.NO_PRICES}"
            elif cap is None:
                req.guard = "not asked: no budget cap (:ZekeBudget off)"
            else:
                req.guard = f"not asked: the forecast is within the {cap}¢ cap"
            return
        assert cap is not None
        locals_ = [n for n in local_aliases(s.aliases) if n != alias.name]
        choices: list[protocol.GuardChoice] = [{"key": "send", "label": "Send anyway"}]
        for name in locals_:
            choices.append(
                {"key": "local", "alias": name, "label": f"Send to {name} (local, free)"}
            )
        choices.append({"key": "cancel", "label": "Cancel (nothing is sent)"})
        choice, name = await self._ask(req.rid, forecast.prompt(fc, cap, alias.name), choices)
        if choice == "send":
            req.guard = f"asked (over the {cap}¢ cap): sent anyway"
        elif choice == "local" and name in locals_:
            req.alias = tags.resolve_alias(name, s.aliases)
            req.guard = f"asked (over the {cap}¢ cap): sent to the local alias {name}"
            self._events.meta(req.rid, {"alias": name})
        else:
            req.guard = f"asked (over the {cap}¢ cap): cancelled, nothing sent"
            raise NotSent(
                f"zeke: not sent: the forecast {forecast.usd(fc.low_usd)}–"
                f"{forecast.usd(fc.high_usd)} is over this project's budget of {cap}¢ "
                "(:ZekeBudget changes it)"
            )

    async def _ask(
        self, rid: str, prompt: str, choices: list[protocol.GuardChoice]
    ) -> tuple[str, str | None]:
        token = f"{rid}:{time.monotonic_ns()}"
        event = anyio.Event()
        box: list[tuple[str, str | None]] = []
        self._waiters[token] = (event, box)
        try:
            self._events.guard({"token": token, "id": rid, "prompt": prompt, "choices": choices})
            await event.wait()
        finally:
            self._waiters.pop(token, None)
        return box[0] if box else ("cancel", None)
