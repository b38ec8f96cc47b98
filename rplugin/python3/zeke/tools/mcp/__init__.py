"""A small MCP client for Glyph and other MCP tool servers (stdio, WebSocket, streamable HTTP).

Runs on the host's anyio event loop. It is written for the servers as they are,
not as the spec idealises them: Glyph prints banners and log lines on stdout,
sends error codes as strings, answers ``initialize`` with an empty
``protocolVersion``, wants ``"params": {}`` on every request, stops on a blank
stdin line and drops a connection idle for 30 s. The official ``mcp`` SDK is
never imported here: it costs ~0.6 s to import and we need a tenth of it.

The parts, from the bottom up:

- ``wire``: the JSON-RPC message format, the transport interface, ``MCPError``;
- ``processes``: a stdio server's environment, launch and process group, and
  ``stop_all_servers`` for the host's exit path;
- ``stdio``, ``network``: the transports (child process; WebSocket, HTTP);
- ``results``: ``ToolInfo`` and ``ToolResult``, read from the server's answers;
- ``connection``: one live session, its reader task and the requests in flight;
- ``label``: the name a server goes by when the config gives it none;
- ``client``: ``MCPClient``, what the rest of zeke uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zeke.tools.mcp.client import CLIENT_INFO, MCPClient
    from zeke.tools.mcp.processes import stop_all_servers
    from zeke.tools.mcp.results import ToolInfo, ToolResult
    from zeke.tools.mcp.wire import PROTOCOL_VERSION, MCPError

# Each name loads its part on first use (PEP 562): the host imports this package at
# start, and a request that uses no tool server never pays for the client and its
# transports (about 5 ms of a cold start).
_WHERE = {
    "CLIENT_INFO": "client",
    "MCPClient": "client",
    "stop_all_servers": "processes",
    "ToolInfo": "results",
    "ToolResult": "results",
    "PROTOCOL_VERSION": "wire",
    "MCPError": "wire",
}

__all__ = [
    "CLIENT_INFO",
    "PROTOCOL_VERSION",
    "MCPClient",
    "MCPError",
    "ToolInfo",
    "ToolResult",
    "stop_all_servers",
]


def __getattr__(name: str) -> Any:
    part = _WHERE.get(name)
    if part is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{part}"), name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value
