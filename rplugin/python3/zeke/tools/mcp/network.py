"""The transports that reach a server over the network: WebSocket and streamable HTTP.

Each imports its library (``websockets``, ``httpx``) only when a connection is
opened, so a user of a stdio server pays for neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from typing import Any

import anyio

from zeke.tools.mcp.wire import MAX_MESSAGE, Lost, MCPError, Transport, dumps, norm_id

log = logging.getLogger("zeke.tools.mcp")


class WebSocketTransport(Transport):
    """One JSON-RPC message per text frame (Glyph's default transport)."""

    def __init__(self, ws: Any, label: str) -> None:
        self._ws = ws
        self._label = label

    @classmethod
    async def open(cls, url: str, *, label: str, timeout: float) -> WebSocketTransport:
        try:  # imported here only: stdio users need not have it
            from websockets.asyncio.client import connect
        except ImportError as exc:
            raise MCPError(
                "glyph.url is a WebSocket URL but the Python package 'websockets' is not "
                "installed in zeke's environment.",
                kind="config",
            ) from exc
        try:
            asyncio.get_running_loop()
        except RuntimeError as exc:
            raise MCPError("The WebSocket transport needs the asyncio event loop.") from exc
        try:
            ws = await connect(
                url,
                subprotocols=["mcp"],
                max_size=MAX_MESSAGE,
                open_timeout=timeout,  # type: ignore[list-item]
            )
        except Exception as exc:  # refused, DNS, handshake rejected, timeout
            raise MCPError(
                f"Cannot connect to {label} at {url}: {exc or type(exc).__name__}. "
                "Is the server running? (glyph.url)",
                kind="unreachable",
            ) from exc
        return cls(ws, label)

    async def send(self, msg: Mapping[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._ws.send(dumps(msg))
        except ConnectionClosed as exc:
            raise Lost(sent=False, detail=f"{self._label} closed the connection") from exc

    async def receive(self) -> Any:
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                frame = await self._ws.recv()
            except ConnectionClosed:
                return None
            msg = self._parse(frame)
            if msg is not None:
                return msg

    async def exit_detail(self) -> str:
        code, reason = self._ws.close_code, self._ws.close_reason
        if code is None:
            return ""
        return f"connection closed ({code}{': ' + reason if reason else ''})"

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            await self._ws.close()


class HttpTransport(Transport):
    """Streamable HTTP: each message is a POST; the answer comes back as JSON or as an
    SSE stream. Server messages are queued for the reader task."""

    def __init__(self, url: str, label: str) -> None:
        import httpx  # imported here only: stdio users need not pay for it

        self._httpx = httpx
        self._url = url
        self._label = label
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=10.0, read=None, write=30.0, pool=10.0)
        )
        self.session_id: str | None = None
        self._inbox_send, self._inbox_recv = anyio.create_memory_object_stream[Any](math.inf)

    def _push(self, payload: Any) -> None:
        """Queue a parsed message or batch for the reader task."""
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._inbox_send.send_nowait(payload)

    async def send(self, msg: Mapping[str, Any]) -> None:
        httpx = self._httpx
        want = msg.get("id") if "method" in msg else None
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": self.protocol_version,
        }
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        try:
            async with self._client.stream(
                "POST", self._url, content=dumps(msg).encode("utf-8"), headers=headers
            ) as resp:
                sid = resp.headers.get("mcp-session-id")
                if sid:
                    self.session_id = sid
                if (
                    resp.status_code == 404
                    and self.session_id
                    and msg.get("method") != "initialize"
                ):
                    # The server forgot our session: start a new one (the request was not run).
                    raise Lost(sent=False, detail="the server ended the session")
                if resp.status_code >= 400:
                    await self._http_error(resp, want)
                    return
                if resp.status_code in (202, 204):
                    return
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype == "text/event-stream":
                    await self._read_sse(resp, want)
                else:
                    payload = self._parse(await resp.aread())
                    if payload is not None:
                        self._push(payload)
        except Lost:
            raise
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Lost(sent=False, detail=f"cannot connect: {exc}") from exc
        except httpx.TransportError as exc:
            raise Lost(sent=True, detail=f"connection broke: {exc}") from exc

    async def _http_error(self, resp: Any, want: Any) -> None:
        body = self.scrubber().data((await resp.aread())[:4000])
        payload = self._parse(body)
        if payload is not None:  # a JSON-RPC error sent with an error status
            self._push(payload)
            return
        text = body.decode("utf-8", "replace").strip()[:200]
        if want is None:
            log.warning("%s: HTTP %s for a notification: %s", self._label, resp.status_code, text)
            return
        message = f"HTTP {resp.status_code}" + (f": {text}" if text else "")
        self._push(
            {"jsonrpc": "2.0", "id": want, "error": {"code": resp.status_code, "message": message}}
        )

    async def _read_sse(self, resp: Any, want: Any) -> None:
        data: list[str] = []

        def flush() -> bool:
            if not data:
                return False
            payload = self._parse("\n".join(data))
            data.clear()
            if payload is None:
                return False
            self._push(payload)
            msgs = payload if isinstance(payload, list) else [payload]
            return want is not None and any(
                "method" not in m and norm_id(m.get("id")) == want for m in msgs
            )

        async for line in resp.aiter_lines():
            if line == "":
                if flush():
                    return  # got our answer; do not wait for the server to close the stream
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value[1:] if value.startswith(" ") else value)
        flush()

    async def receive(self) -> Any:
        try:
            return await self._inbox_recv.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return None

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            self._inbox_send.close()
            if self.session_id:
                with anyio.move_on_after(2.0), contextlib.suppress(Exception):
                    await self._client.delete(
                        self._url, headers={"Mcp-Session-Id": self.session_id}
                    )
            with contextlib.suppress(Exception):
                await self._client.aclose()
