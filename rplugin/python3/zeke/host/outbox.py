"""Ordered, batched delivery of UI events to Neovim.

Events are queued on the anyio loop and sent as ONE notification per batch (an
atomic Lua call). The first event after a quiet spell goes out at once, so the
first token is never held back; while a stream is busy, events are coalesced
for ``interval`` seconds (and consecutive text, or facts, of one request merged), which keeps Neovim's main loop free at thousands of
tokens per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio

Event = list[Any]  # [kind, request_id | None, data]


class Outbox:
    def __init__(self, send: Callable[[list[Event]], None], *, interval: float = 0.016) -> None:
        self._send = send
        self._interval = interval
        self._batch: list[Event] = []
        self._wake = anyio.Event()
        self._last_flush = 0.0
        self._answering: set[str | None] = set()  # requests whose first text went out

    def emit(self, kind: str, rid: str | None, data: Any) -> None:
        """Queue one event (call on the anyio loop thread)."""
        batch = self._batch
        if kind == "text" and batch and batch[-1][0] == "text" and batch[-1][1] == rid:
            batch[-1][2] += data  # consecutive deltas of one answer travel as one string
        elif kind == "meta" and batch and batch[-1][0] == "meta" and batch[-1][1] == rid:
            # consecutive facts of one request travel as one: Lua applies a meta field
            # by field (None unsets), so the later value of a field wins either way, and
            # Neovim publishes the status and redraws the bar once, not per meta
            batch[-1][2] = {**batch[-1][2], **data}
        else:
            batch.append([kind, rid, data])
        if kind == "text" and rid not in self._answering:
            # An answer's first token never waits: a "meta" flushed just before (the
            # stream opening) must not start a coalescing window in front of it.
            self._answering.add(rid)
            self.flush()
            return
        if kind == "done":
            self._answering.discard(rid)
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            wait = self._last_flush + self._interval - time.monotonic()
            if wait > 0:
                await anyio.sleep(wait)
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        self._last_flush = time.monotonic()
        self._send(batch)
