"""The engine in-process, without Neovim and without HTTP: a scripted model server
behind the engine's ``Wire`` (each POST takes the next scripted reply), a recorder
of the events it emits, a scripted tool server, and the engine serving in a task group.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from zeke import protocol
from zeke.backends.events import End, StreamEvent, TextDelta, ToolCall, ToolCalls, Usage
from zeke.backends.http import OpenedStream
from zeke.engine.backend import Wire
from zeke.engine.core import Engine
from zeke.errors import ZekeError
from zeke.tools.mcp import ToolInfo, ToolResult


@dataclass
class Reply:
    """One scripted answer: the stream's headers and events; with ``hold``, the stream
    then stalls until that event is set (or the request is cancelled)."""

    events: list[StreamEvent] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    hold: anyio.Event | None = None


def answer(text: str, *, finish: str = "stop", usage: Usage | None = None) -> Reply:
    return Reply([TextDelta(text), *([usage] if usage else []), End(finish)])


def tool_turn(*calls: ToolCall, text: str = "") -> Reply:
    return Reply([*([TextDelta(text)] if text else []), ToolCalls(list(calls)), End("tool_calls")])


def call(cid: str, name: str, **args: Any) -> ToolCall:
    return ToolCall(cid, name, args, raw_arguments=json.dumps(args))


@dataclass
class Sent:
    server: str  # "omen" | "ollama"
    url: str
    body: dict[str, Any]
    headers: dict[str, str]


class ScriptedModel:
    """OMEN's and Ollama's streaming POSTs, scripted. A reply that is a ZekeError is
    raised before the stream starts (the server is down, or refused)."""

    def __init__(self) -> None:
        self._replies: dict[str, deque[Reply | ZekeError]] = {"omen": deque(), "ollama": deque()}
        self.sent: list[Sent] = []
        self.closed = 0  # streams the engine closed (done with, or cancelled)

    def omen(self, *replies: Reply | ZekeError) -> None:
        self._replies["omen"].extend(replies)

    def ollama(self, *replies: Reply | ZekeError) -> None:
        self._replies["ollama"].extend(replies)

    def bodies(self, server: str) -> list[dict[str, Any]]:
        return [s.body for s in self.sent if s.server == server]

    def wire(self) -> Wire:
        return Wire(openai=self._opener("omen"), ollama=self._opener("ollama"))

    def _opener(self, server: str) -> Any:
        @asynccontextmanager
        async def open_stream(
            http: httpx.AsyncClient,
            url: str,
            body: dict[str, Any],
            headers: dict[str, str] | None = None,
            **_options: Any,
        ) -> AsyncIterator[OpenedStream]:
            # a copy: the engine appends the next turn's messages to the same list
            self.sent.append(Sent(server, url, copy.deepcopy(body), dict(headers or {})))
            queue = self._replies[server]
            assert queue, f"scripted model: no reply queued for {server}"
            reply = queue.popleft()
            if isinstance(reply, ZekeError):
                raise reply
            try:
                yield OpenedStream(200, dict(reply.headers), _events(reply))
            finally:
                self.closed += 1

        return open_stream


async def _events(reply: Reply) -> AsyncIterator[StreamEvent]:
    for ev in reply.events:
        yield ev
    if reply.hold is not None:
        await reply.hold.wait()


class Recorder:
    """Every event the engine emits, in order; ``wait`` for the first of a kind."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, Any]] = []
        self._arrived: dict[str, anyio.Event] = {}
        self.events = protocol.Events(self._send)

    def _send(self, kind: str, rid: str | None, data: Any) -> None:
        self.sent.append((kind, rid, data))
        self._arrived.setdefault(kind, anyio.Event()).set()

    async def wait(self, kind: str) -> None:
        await self._arrived.setdefault(kind, anyio.Event()).wait()

    def of(self, kind: str, rid: str | None = None) -> list[Any]:
        return [d for k, r, d in self.sent if k == kind and (rid is None or r == rid)]

    def text(self, rid: str) -> str:
        return "".join(self.of("text", rid))

    def done(self, rid: str) -> protocol.DonePayload:
        (result,) = self.of("done", rid)
        return result


class ScriptedTools:
    """A tool server with ``tools``, acting on the real disk; ``calls`` it received."""

    name = "scripted-tools"

    def __init__(self, *tools: str) -> None:
        self.tools = tools
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def list_tools(self) -> list[ToolInfo]:
        schema = {"type": "object", "properties": {"path": {"type": "string"}}}
        return [ToolInfo(name, f"{name} a file", schema) for name in self.tools]

    async def call_tool(self, name: str, args: dict[str, Any], **_: Any) -> ToolResult:
        self.calls.append((name, args))
        if name == "read_file":
            return ToolResult(Path(args["path"]).read_text(encoding="utf-8"), False, {})
        return ToolResult("ok", False, {})


def _nothing_listens(request: httpx.Request) -> httpx.Response:
    """The side requests (/models, /ready, /api/tags) find no server."""
    raise httpx.ConnectError("nothing listens here (in-process test)", request=request)


def _listing(models: list[dict[str, Any]]) -> Any:
    """The router's ``/models`` answers with ``models``; other side requests find nothing."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": models})
        return _nothing_listens(request)

    return handle


@asynccontextmanager
async def serving(
    config: Mapping[str, Any],
    model: ScriptedModel,
    *,
    tools: ScriptedTools | None = None,
    listed: list[dict[str, Any]] | None = None,
) -> AsyncIterator[tuple[Engine, Recorder]]:
    """An engine configured with ``config``, serving until the block ends. ``listed``:
    what the router's ``/models`` lists (loaded before the block starts)."""
    rec = Recorder()
    engine = Engine(
        rec.events,
        env={},
        session_id="session-1",
        wire=model.wire(),
        transport=httpx.MockTransport(_listing(listed) if listed is not None else _nothing_listens),
    )
    if tools is not None:

        async def client(root: str) -> ScriptedTools:
            return tools

        engine.tooling.client = client  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        await tg.start(engine.serve)
        engine.configure(dict(config))
        if listed is not None:
            await engine.catalog.refresh()  # a no-op when configure's fetch already ran
            with anyio.fail_after(10):  # configure's own fetch may still be on its way
                while not engine.catalog.models and listed:
                    await anyio.sleep(0.01)
        try:
            yield engine, rec
        finally:
            tg.cancel_scope.cancel()
    if engine.cache is not None:
        engine.cache.close()


def request(rid: str, project: Path, **over: Any) -> dict[str, Any]:
    """An :ZekeExplain-like payload on line 1 of ``project``/a.py."""
    payload: dict[str, Any] = {
        "id": rid,
        "intent": "reason",
        "instruction": "what does this do?",
        "path": str(project / "a.py"),
        "cwd": str(project),
        "filetype": "python",
        "lines": ["x = 1"],
        "window_start": 1,
        "start_line": 1,
        "end_line": 1,
        "total_lines": 1,
    }
    payload.update(over)
    return payload


def rows(db: Path, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()
