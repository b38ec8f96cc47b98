"""One live session with a tool server: the reader task and the requests in flight.

Each connection has one reader task, detached from the caller so that requests
coming from different portal tasks can share it; ``aclose`` cancels it and waits
for the transport (and so the child process) to close. Requests the server sends
us are answered here; responses are matched to their waiting request by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from zeke.scrub import Scrubber
from zeke.tools.mcp.results import ToolInfo
from zeke.tools.mcp.wire import PROTOCOL_VERSION, Lost, MCPError, Transport, norm_id

log = logging.getLogger("zeke.tools.mcp")


class _Pending:
    """A request waiting for its response; ``response`` stays None when the
    connection was lost."""

    __slots__ = ("event", "response")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.response: dict[str, Any] | None = None


def _spawn_detached(fn: Callable[[], Awaitable[None]]) -> Any:
    """Start ``fn`` in a task owned by no caller: the reader must outlive the request
    (often a short-lived portal task) that happened to open the connection."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import trio  # the only other backend anyio supports

        trio.lowlevel.spawn_system_task(fn)
        return None
    return loop.create_task(fn())  # type: ignore[arg-type]


class Connection:
    """One live session: the transport, its reader task and the requests in flight."""

    def __init__(
        self, transport: Transport, label: str, scrubber: Callable[[], Scrubber] = Scrubber
    ) -> None:
        self.transport = transport
        self.scrubber = scrubber
        self.label = label
        self.pending: dict[Any, _Pending] = {}
        self.tools: list[ToolInfo] | None = None
        self.server_info: dict[str, Any] = {}
        self.protocol_version = PROTOCOL_VERSION
        self.dead = False
        self.exit_detail = ""
        self._ids = itertools.count(1)
        self._scope: anyio.CancelScope | None = None
        self._close_requested = False
        self._finished = anyio.Event()
        self._task: Any = None  # keeps the asyncio task referenced (else it may be collected)
        self._spawned = False

    def start(self) -> None:
        self._task = _spawn_detached(self._run)
        self._spawned = True

    async def _run(self) -> None:
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                if self._close_requested:
                    scope.cancel()
                async with anyio.create_task_group() as tg:
                    for aux in self.transport.aux_tasks():
                        tg.start_soon(aux)
                    await self._read_loop()
                    tg.cancel_scope.cancel()
        except Exception:  # a detached task must never die with an unhandled error
            log.exception("%s: reader failed", self.label)
        finally:
            self.dead = True
            with anyio.CancelScope(shield=True):
                if not self._close_requested:
                    with contextlib.suppress(Exception):
                        self.exit_detail = await self.transport.exit_detail()
                    log.info("%s: connection lost (%s)", self.label, self.exit_detail or "EOF")
                for slot in list(self.pending.values()):
                    slot.event.set()  # response stays None: lost
                with contextlib.suppress(Exception):
                    await self.transport.aclose()
            self._finished.set()

    async def _read_loop(self) -> None:
        while True:
            payload = await self.transport.receive()
            if payload is None:
                return
            for msg in payload if isinstance(payload, list) else [payload]:
                await self._dispatch(msg)

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        # Once more on the decoded message: a JSON escape can spell the key in the raw
        # line without matching it there. Results, errors, server info, tool lists.
        msg = self.scrubber().deep(msg)
        method = msg.get("method")
        if isinstance(method, str):
            if msg.get("id") is None:
                if method == "notifications/tools/list_changed":
                    self.tools = None
                log.debug("%s notification: %s", self.label, method)
                return
            # A request from the server. We offer no client capabilities, so only ping
            # is answered; anything else gets "method not found" rather than silence.
            if method == "ping":
                reply: dict[str, Any] = {"jsonrpc": "2.0", "id": msg["id"], "result": {}}
            else:
                reply = {
                    "jsonrpc": "2.0",
                    "id": msg["id"],
                    "error": {"code": -32601, "message": f"Method not found: {method}"},
                }
            with anyio.move_on_after(5.0), contextlib.suppress(Lost):
                await self.transport.send(reply)
            return
        slot = self.pending.get(norm_id(msg.get("id")))
        if slot is None:
            log.debug("%s: response to an unknown request id %r", self.label, msg.get("id"))
            return
        slot.response = msg
        slot.event.set()

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.dead:
            raise Lost(sent=False)
        await self.transport.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: dict[str, Any], timeout: float, what: str) -> Any:
        """Send a request and wait for its result; raises MCPError or Lost."""
        if self.dead:
            raise Lost(sent=False)
        rid = next(self._ids)
        slot = _Pending()
        self.pending[rid] = slot
        sent = False
        try:
            with anyio.fail_after(timeout):
                # Glyph rejects requests without params, so there always is an object.
                await self.transport.send(
                    {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
                )
                sent = True
                await slot.event.wait()
        except TimeoutError:
            if sent:
                await self._cancel_remote(rid)
            else:
                # Stuck mid-write: the stream may hold half a line now; start afresh next time.
                self.dead = True
                if self._scope is not None:
                    self._scope.cancel()
            raise MCPError(
                f"{self.label} did not answer {what} within {timeout:g} s.",
                kind="timeout",
                retryable=True,
            ) from None
        finally:
            self.pending.pop(rid, None)
        response = slot.response
        if response is None:
            raise Lost(sent=True, detail=self.exit_detail)
        if "error" in response:
            raise rpc_error(self.label, what, response["error"])
        return response.get("result")

    async def _cancel_remote(self, rid: int) -> None:
        """Tell the server we gave up, so it can stop the work (the answer, if it ever
        comes, is ignored)."""
        with anyio.move_on_after(2.0), contextlib.suppress(Lost):
            await self.notify(
                "notifications/cancelled", {"requestId": rid, "reason": "timed out in zeke"}
            )

    async def aclose(self) -> None:
        self._close_requested = True
        self.dead = True
        if self._scope is not None:
            self._scope.cancel()
        if not self._spawned and not self._finished.is_set():
            # The reader was never started: nobody else will close the transport.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self.transport.aclose()
            self._finished.set()
        with anyio.CancelScope(shield=True):
            await self._finished.wait()


def rpc_error(label: str, what: str, error: Any) -> MCPError:
    if isinstance(error, Mapping):
        code = error.get("code")
        message = str(error.get("message") or "unknown error")
    else:
        code, message = None, str(error)
    return MCPError(
        f"{label}: {what} failed: {message[:500]}",
        kind="http",
        code=None if code is None else str(code),  # Glyph sends "-32000", others -32000
    )
