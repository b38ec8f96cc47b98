"""Degraded mode on its own (docs/design.md §9): said once on entering and once on
leaving, OMEN's /ready watched in the background, never while nobody asks. /ready is
answered in-process (httpx.MockTransport)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from zeke.engine import degraded as degraded_mod
from zeke.engine.degraded import DegradedMode
from zeke.errors import ZekeError
from zeke.protocol import Events

REASON = ZekeError("connection refused", kind="unreachable")


class Ready:
    """/ready's answers in order (the last one repeats), and the URLs asked."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return httpx.Response(status)


def _mode(
    ready: Ready, *, api_base: str = "http://127.0.0.1:8080/v1"
) -> tuple[DegradedMode, list[Any], list[Callable[[], Any]]]:
    sent: list[Any] = []
    spawned: list[Callable[[], Any]] = []
    http = httpx.AsyncClient(transport=httpx.MockTransport(ready))
    mode = DegradedMode(
        api_base=lambda: api_base,
        http=lambda: http,
        events=Events(lambda kind, rid, data: sent.append((kind, data))),
        spawn=spawned.append,
    )
    mode.last_request_at = time.monotonic()
    return mode, sent, spawned


def test_entering_is_said_once_and_starts_one_watcher() -> None:
    mode, sent, spawned = _mode(Ready(503))
    mode.enter("qwen:7b", REASON)
    mode.enter("qwen:7b", REASON)
    assert mode.on and mode.model == "qwen:7b"
    ((kind, data),) = sent
    assert kind == "degraded" and data["on"] is True and data["model"] == "qwen:7b"
    assert "the router is unreachable (connection refused)" in data["message"]
    assert len(spawned) == 1


def test_leaving_is_said_once_with_where_omen_is() -> None:
    mode, sent, _ = _mode(Ready(200))
    mode.leave()  # not on: nothing to say
    assert sent == []
    mode.enter("qwen:7b", REASON)
    mode.leave()
    mode.leave()
    assert [d["on"] for _k, d in sent] == [True, False]
    assert sent[-1][1]["message"] == (
        "zeke: the router is back at http://127.0.0.1:8080/v1; degraded mode is over"
    )


@pytest.mark.anyio
async def test_the_watcher_polls_ready_until_omen_is_back(monkeypatch) -> None:
    monkeypatch.setattr(degraded_mod, "FIRST_POLL_S", 0.0)
    ready = Ready(503, 503, 200)
    mode, sent, spawned = _mode(ready)
    mode.enter("qwen:7b", REASON)
    await spawned[0]()
    assert not mode.on and [d["on"] for _k, d in sent] == [True, False]
    # the server's root, not the OpenAI base path
    assert ready.urls == ["http://127.0.0.1:8080/ready"] * 3


@pytest.mark.anyio
async def test_the_watcher_stops_when_nobody_asks(monkeypatch) -> None:
    monkeypatch.setattr(degraded_mod, "FIRST_POLL_S", 0.0)
    monkeypatch.setattr(degraded_mod, "IDLE_AFTER_S", -1.0)  # idle already
    ready = Ready(200)
    mode, _sent, spawned = _mode(ready)
    mode.enter("qwen:7b", REASON)
    await spawned[0]()
    assert mode.on and ready.urls == []
    # the next request looks once itself, since no watcher is running
    assert await mode.omen_back() is True
    assert not mode.on and len(ready.urls) == 1


@pytest.mark.anyio
async def test_a_request_does_not_look_while_the_watcher_runs() -> None:
    ready = Ready(200)
    mode, _sent, _spawned = _mode(ready)
    mode.enter("qwen:7b", REASON)  # the watcher is started (not yet run)
    assert await mode.omen_back() is False
    assert ready.urls == [] and mode.on


@pytest.mark.anyio
async def test_omen_still_down_at_a_request_restarts_the_watcher(monkeypatch) -> None:
    monkeypatch.setattr(degraded_mod, "FIRST_POLL_S", 0.0)
    monkeypatch.setattr(degraded_mod, "IDLE_AFTER_S", -1.0)
    ready = Ready(503)
    mode, _sent, spawned = _mode(ready)
    mode.enter("qwen:7b", REASON)
    await spawned[0]()  # gave up: idle
    assert await mode.omen_back() is False
    assert mode.on and len(spawned) == 2
