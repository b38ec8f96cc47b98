"""The MCP client: one lazily connected session per configured tool server.

``MCPClient.from_config`` reads the user's ``glyph`` table; the client connects on
first use, runs the ``initialize`` handshake, reconnects once when a connection
turns out to be gone (always when the request never left, otherwise only for a
read-only call) and keeps the router key away from the server in both directions.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

import anyio

from zeke.errors import ZekeError
from zeke.scrub import Scrubber
from zeke.tools.mcp.connection import Connection
from zeke.tools.mcp.label import label_for_cmd
from zeke.tools.mcp.network import HttpTransport, WebSocketTransport
from zeke.tools.mcp.processes import ROUTER_KEY_ENV, hidden_values
from zeke.tools.mcp.results import ToolInfo, ToolResult, parse_tools, tool_result
from zeke.tools.mcp.stdio import StdioTransport
from zeke.tools.mcp.wire import PROTOCOL_VERSION, Lost, MCPError, Transport
from zeke.tools.names import classify

log = logging.getLogger("zeke.tools.mcp")

CLIENT_INFO = {"name": "zeke.nvim", "version": "0.1.0"}
_MAX_PAGES = 100  # tools/list pagination guard against a server that loops


def _config_error(message: str) -> ZekeError:
    return ZekeError(message, kind="config")


class MCPClient:
    """A lazily connected client for one MCP server (see ``from_config``)."""

    def __init__(
        self,
        *,
        argv: list[str] | None = None,
        url: str | None = None,
        cwd: str,
        env: Mapping[str, str] | None = None,
        request_timeout: float = 30.0,
        name: str,
        hidden_env: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.request_timeout = request_timeout
        # never handed to a stdio server: the router's key (the defaults, and the
        # user's api_key_env names)
        self.hidden_env = ROUTER_KEY_ENV | frozenset(hidden_env)
        # and never received from one either (it may know the key some other way)
        self._scrubber = lambda: Scrubber(hidden_values(self.hidden_env))
        self._argv = argv
        self._url = url
        self._cwd = cwd
        self._env = dict(env or {})
        self._conn: Connection | None = None
        self._lock: anyio.Lock | None = None
        self._closed = False

    @classmethod
    def from_config(
        cls,
        cfg: Mapping[str, Any],
        *,
        cwd: str,
        request_timeout: float = 30.0,
        hidden_env: Iterable[str] = (),
    ) -> MCPClient:
        """Build a client from the user's ``glyph`` table: ``{cmd = {...}}`` (stdio
        subprocess started in ``cwd``) or ``{url = "ws://…" | "http://…/mcp"}``, and
        optionally ``name``: what the audit and messages call it."""
        example = 'e.g. glyph = { cmd = { "glyph", "serve", "--transport", "stdio" } }'
        if not isinstance(cfg, Mapping):
            raise _config_error(f"glyph must be a table with cmd or url ({example}).")
        cmd, url = cfg.get("cmd"), cfg.get("url")
        if cmd is not None and url is not None:
            raise _config_error("Set either glyph.cmd or glyph.url, not both.")
        if cmd is None and url is None:
            raise _config_error(f"glyph needs glyph.cmd or glyph.url ({example}).")
        label = cfg.get("name")
        if label is not None and (not isinstance(label, str) or not label.strip()):
            raise _config_error('glyph.name must be a non-empty string (e.g. name = "fs").')
        env = cfg.get("env") or {}
        if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise _config_error("glyph.env must be a table of string values.")
        if (
            isinstance(request_timeout, bool)
            or not isinstance(request_timeout, (int, float))
            or request_timeout <= 0
        ):
            raise _config_error("The tool server request timeout must be a positive number.")
        if cmd is not None:
            if isinstance(cmd, str):
                try:
                    argv = shlex.split(cmd)
                except ValueError as exc:
                    raise _config_error(f"glyph.cmd could not be parsed: {exc}.") from exc
            elif isinstance(cmd, (list, tuple)) and all(isinstance(a, str) for a in cmd):
                argv = list(cmd)
            else:
                raise _config_error(f"glyph.cmd must be a list of strings ({example}).")
            if not argv or not argv[0]:
                raise _config_error(f"glyph.cmd is empty ({example}).")
            return cls(
                argv=argv,
                cwd=cwd,
                env=env,
                request_timeout=float(request_timeout),
                name=label.strip() if label else label_for_cmd(argv, cwd),
                hidden_env=hidden_env,
            )
        if not isinstance(url, str):
            raise _config_error('glyph.url must be a string such as "ws://127.0.0.1:7331".')
        parsed = urlparse(url.strip())
        if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.hostname:
            raise _config_error(
                f"glyph.url must start with ws://, wss://, http:// or https:// (got {url!r})."
            )
        name = (
            label.strip() if label else parsed.hostname + (f":{parsed.port}" if parsed.port else "")
        )
        return cls(
            url=url.strip(),
            cwd=cwd,
            env=env,
            request_timeout=float(request_timeout),
            name=name,
            hidden_env=hidden_env,
        )

    # -- state

    @property
    def connected(self) -> bool:
        """True while a session is open (False after an idle drop or crash is noticed)."""
        return self._conn is not None and not self._conn.dead

    @property
    def server_info(self) -> dict[str, Any]:
        """The server's ``serverInfo`` from the last ``initialize`` ({} before)."""
        return dict(self._conn.server_info) if self._conn else {}

    # -- connection management

    async def _open_transport(self) -> Transport:
        if self._argv is not None:
            return await StdioTransport.open(
                self._argv,
                cwd=self._cwd,
                env=self._env,
                label=self.name,
                hidden_env=self.hidden_env,
            )
        assert self._url is not None
        if self._url.startswith(("ws://", "wss://")):
            return await WebSocketTransport.open(
                self._url, label=self.name, timeout=self.request_timeout
            )
        return HttpTransport(self._url, self.name)

    async def _connect(self) -> Connection:
        transport = await self._open_transport()
        transport.scrubber = self._scrubber
        conn = Connection(transport, self.name, self._scrubber)
        try:
            conn.start()
            result = await conn.request(
                "initialize",
                {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": CLIENT_INFO,
                },
                self.request_timeout,
                "initialize",
            )
            if not isinstance(result, dict):
                raise MCPError(f"{self.name} sent a malformed initialize answer.", kind="stream")
            # Glyph answers with protocolVersion "": keep ours then.
            version = result.get("protocolVersion")
            if isinstance(version, str) and version:
                conn.protocol_version = version
            transport.protocol_version = conn.protocol_version
            info = result.get("serverInfo")
            conn.server_info = info if isinstance(info, dict) else {}
            await conn.notify("notifications/initialized", {})
        except Lost as lost:
            await conn.aclose()
            detail = conn.exit_detail or lost.detail
            where = "glyph.cmd" if self._argv is not None else "glyph.url"
            raise MCPError(
                f"{self.name} stopped while starting up"
                + (f" ({detail})" if detail else "")
                + f". Check {where} and the zeke log.",
                kind="unreachable",
            ) from None
        except BaseException:
            await conn.aclose()
            raise
        return conn

    async def _ensure(self) -> Connection:
        if self._closed:
            raise MCPError(f"The {self.name} client is closed.", kind="internal")
        conn = self._conn
        if conn is not None and not conn.dead:
            return conn
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            conn = self._conn
            if conn is not None and not conn.dead:
                return conn
            self._conn = None
            if conn is not None:
                await conn.aclose()  # reap the old process before starting a new one
            if self._closed:
                raise MCPError(f"The {self.name} client is closed.", kind="internal")
            self._conn = await self._connect()
            return self._conn

    async def _discard(self, conn: Connection) -> None:
        if self._conn is conn:
            self._conn = None
        await conn.aclose()

    async def _call(
        self, method: str, params: dict[str, Any], *, timeout: float, idempotent: bool, what: str
    ) -> Any:
        """One request, transparently reconnecting once when the connection turns out
        to be gone (idle drop, crash): always when the request never left, and when it
        did only if it is safe to run twice."""
        for attempt in range(2):
            conn = await self._ensure()
            try:
                return await conn.request(method, params, timeout, what)
            except Lost as lost:
                await self._discard(conn)
                detail = conn.exit_detail or lost.detail
                if attempt == 0 and (not lost.sent or idempotent):
                    log.info(
                        "%s: connection gone (%s); reconnecting for %s", self.name, detail, what
                    )
                    continue
                tail = (
                    " It may or may not have taken effect." if lost.sent and not idempotent else ""
                )
                raise MCPError(
                    f"{self.name} stopped while running {what}"
                    + (f" ({detail})" if detail else "")
                    + f".{tail}",
                    kind="unreachable",
                    retryable=not lost.sent or idempotent,
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- public API

    async def ensure_started(self) -> None:
        """Spawn/connect and initialize, unless a session is already open."""
        await self._ensure()

    async def list_tools(self) -> list[ToolInfo]:
        """All the server's tools (every page), cached until the next reconnect."""
        conn = await self._ensure()
        if conn.tools is not None:
            return list(conn.tools)
        tools: list[ToolInfo] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {} if cursor is None else {"cursor": cursor}
            result = await self._call(
                "tools/list",
                params,
                timeout=self.request_timeout,
                idempotent=True,
                what="tools/list",
            )
            page, cursor = parse_tools(result)
            tools.extend(page)
            if cursor is None or cursor in seen:
                break
            seen.add(cursor)
        if self._conn is not None and not self._conn.dead:
            self._conn.tools = list(tools)
        return tools

    async def call_tool(
        self, name: str, arguments: dict, *, timeout: float | None = None
    ) -> ToolResult:
        """Run a tool. A tool failure (``isError``) is returned, not raised."""
        if not isinstance(arguments, Mapping):
            raise MCPError(f"Arguments for tool {name} must be an object.", kind="refused")
        result = await self._call(
            "tools/call",
            {"name": name, "arguments": dict(arguments)},
            timeout=self.request_timeout if timeout is None else timeout,
            idempotent=classify(name) == "read",
            what=f"tool {name}",
        )
        return tool_result(self.name, name, result)

    async def ping(self) -> None:
        """Check the server answers (also keeps an idle connection from being dropped)."""
        await self._call("ping", {}, timeout=self.request_timeout, idempotent=True, what="ping")

    async def aclose(self) -> None:
        """Close the session, stop the reader and reap the server process. Final."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()
