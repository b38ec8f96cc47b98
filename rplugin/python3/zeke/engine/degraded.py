"""Degraded mode (docs/design.md §9): zeke answers from local Ollama while OMEN is
unreachable, says so once, and watches OMEN's ``/ready`` in the background to
leave by itself — never on a request's path, and not while nobody is asking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx

from zeke.errors import ZekeError
from zeke.protocol import Events

IDLE_AFTER_S = 600.0  # the watcher stops when nobody has asked for this long
FIRST_POLL_S = 1.0
MAX_POLL_S = 15.0  # so OMEN's return is noticed within 30 s


class DegradedMode:
    def __init__(
        self,
        *,
        api_base: Callable[[], str],
        http: Callable[[], httpx.AsyncClient],
        events: Events,
        spawn: Callable[[Callable[[], Any]], None],
    ) -> None:
        self._api_base = api_base
        self._http = http
        self._events = events
        self._spawn = spawn
        self.on = False
        self.model: str | None = None
        self.last_request_at = 0.0
        self._watching = False

    def enter(self, model: str | None, reason: ZekeError) -> None:
        if not self.on:
            self.on = True
            self.model = model
            self._events.degraded(
                {
                    "on": True,
                    "model": model,
                    "message": f"zeke: OMEN unreachable ({reason.message}) — degraded mode on local "
                    f"Ollama ({model}). zeke keeps checking OMEN in the background.",
                }
            )
        self._start_watching()

    def leave(self) -> None:
        if self.on:
            self.on = False
            self._events.degraded(
                {
                    "on": False,
                    "message": f"zeke: OMEN is back at {self._api_base()}; degraded mode is over",
                }
            )

    async def omen_back(self) -> bool:
        """Before a request while degraded: with the watcher asleep (idle), look once."""
        if self._watching:
            return False
        if await self._ready(timeout=0.3):
            self.leave()
            return True
        self._start_watching()
        return False

    def _start_watching(self) -> None:
        if not self._watching:
            self._watching = True
            self._spawn(self._watch)

    async def _watch(self) -> None:
        """Poll /ready with backoff; stop when OMEN is back or when idle for long."""
        delay = FIRST_POLL_S
        try:
            while self.on:
                await anyio.sleep(delay)
                if time.monotonic() - self.last_request_at > IDLE_AFTER_S:
                    return
                if await self._ready(timeout=2.0):
                    self.leave()
                    return
                delay = min(delay * 2, MAX_POLL_S)
        finally:
            self._watching = False

    async def _ready(self, *, timeout: float) -> bool:
        base = self._api_base()
        root = base[: -len("/v1")] if base.endswith("/v1") else base
        try:
            r = await self._http().get(f"{root}/ready", timeout=timeout)
        except (httpx.HTTPError, OSError):
            return False
        return r.status_code == 200
