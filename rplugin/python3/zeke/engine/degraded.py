"""Degraded mode (docs/design.md §9): zeke answers from local Ollama while the router
is unreachable, says so once, and watches the router in the background to leave by
itself — never on a request's path, and not while nobody is asking.

"Is the router back?" works on any OpenAI-compatible router: OMEN's ``/ready``;
where that is missing (LiteLLM and llama.cpp's server answer 404), the model list
``{api_base}/models`` with the key; then ``/health``. Any 2xx from any of them is
back. "Is it down?" (``says_down``) is only OMEN's ``/ready`` answering 503: it lets a
request that hangs on a stalled router fall back at once instead of waiting out the
read timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
        secrets: Callable[[], Sequence[str]] = tuple,
        name: Callable[[], str] = lambda: "the router",
    ) -> None:
        self._api_base = api_base
        self._http = http
        self._events = events
        self._spawn = spawn
        self._secrets = secrets  # the router's key: a keyed router's /models needs it
        self._name = name  # the router as messages name it (wording.router_name)
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
                    "message": f"zeke: {self._name()} is unreachable ({reason.message}) — degraded "
                    f"mode on local Ollama ({model}). zeke keeps checking it in the background.",
                }
            )
        self._start_watching()

    def leave(self) -> None:
        if self.on:
            self.on = False
            self._events.degraded(
                {
                    "on": False,
                    "message": f"zeke: the router is back at {self._api_base()}; degraded mode "
                    "is over",
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

    async def says_down(self, *, timeout: float = 1.0) -> bool:
        """Does the router's ``/ready`` answer 503 (no healthy provider) right now?"""
        try:
            r = await self._http().get(f"{_root(self._api_base())}/ready", timeout=timeout)
        except (httpx.HTTPError, OSError):
            return False
        return r.status_code == 503

    async def _ready(self, *, timeout: float) -> bool:
        """Is the router answering? ``/ready``, else ``/models`` (with the key), else
        ``/health``: the first that exists decides; any 2xx is yes."""
        base = self._api_base()
        root = _root(base)
        secrets = list(self._secrets())
        auth = {"Authorization": f"Bearer {secrets[0]}"} if secrets else {}
        for url, headers in (
            (f"{root}/ready", {}),
            (f"{base}/models", auth),
            (f"{root}/health", auth),
        ):
            try:
                r = await self._http().get(url, headers=headers, timeout=timeout)
            except (httpx.HTTPError, OSError):
                return False  # nothing listens: no other path will answer either
            if 200 <= r.status_code < 300:
                return True
            if r.status_code not in (404, 405):
                return False  # it exists and says no (503: no healthy provider)
        return False


def _root(base: str) -> str:
    """The server's root, for /ready and /health (the API base ends in /v1)."""
    return base[: -len("/v1")] if base.endswith("/v1") else base
