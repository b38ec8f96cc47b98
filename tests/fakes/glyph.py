#!/usr/bin/env python3
"""A test double of Glyph, the Rust MCP server, with its real quirks (docs/design.md §13).

    python tests/fakes/glyph.py serve --transport stdio|websocket \\
        [--address 127.0.0.1:PORT] [--root DIR]

Quirks reproduced on purpose:
- a banner and log lines are printed to stdout, before and between JSON-RPC lines;
- ``initialize`` answers ``protocolVersion: ""``;
- ``tools/list`` / ``tools/call`` without ``params`` is an error;
- JSON-RPC error codes are strings ("-32000");
- tool failures are ``{content:[{type:"text", text}], isError:true}``;
- no apply_patch/edit tool; shell_execute runs only a few read-only programs;
  http_request never fetches anything;
- a blank stdin line stops the server (stdio);
- a connection idle for 30 s is dropped (``GLYPH_IDLE_SECONDS`` overrides):
  on stdio the process exits, on WebSocket that connection is closed.

Test hooks: ``GLYPH_CRASH_ON=<tool>`` exits the whole process mid-call (like a Rust
panic, status 101); ``GLYPH_HANG_ON=<tool>`` never answers calls of that tool.
WebSocket: ``--address 127.0.0.1:0`` picks a free port; the actual address is printed
as ``Glyph listening on ws://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import shlex
import sys
import threading
from pathlib import Path
from typing import Any

VERSION = "0.4.2"
SUPPORTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18")
SHELL_ALLOWED = frozenset(
    {"ls", "cat", "grep", "find", "head", "tail", "wc", "sort", "uniq", "echo"}
)

TOOLS: list[dict[str, Any]] = [
    {
        "name": "echo",
        "description": "Echo the message back",
        "inputSchema": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
    },
    {
        "name": "read_file",
        "description": "Read the contents of a file",
        "inputSchema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
    {
        "name": "write_file",
        "description": "Write content to a file (replaces the whole file)",
        "inputSchema": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
    {
        "name": "list_directory",
        "description": "List the entries of a directory",
        "inputSchema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
    {
        "name": "delete_file",
        "description": "Delete a file",
        "inputSchema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
    {
        "name": "shell_execute",
        "description": "Execute an allowed shell command (ls, cat, grep, find, head, tail, "
        "wc, sort, uniq, echo)",
        "inputSchema": {
            "type": "object",
            "properties": {
                "command": {"type": "string"},
                "cwd": {"type": "string"},
                "timeout_seconds": {"type": "integer"},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["command"],
        },
    },
    {
        "name": "http_request",
        "description": "Make an HTTP request",
        "inputSchema": {
            "type": "object",
            "properties": {
                "method": {"type": "string"},
                "url": {"type": "string"},
                "headers": {"type": "object"},
                "body": {"type": "string"},
            },
            "required": ["method", "url"],
        },
    },
]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_line(level: str, target: str, message: str) -> str:
    """A tracing-style log line, as Glyph prints them on stdout."""
    return f"{_now()}  {level:>5} {target}: {message}"


def _text(text: str, *, error: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if error:
        result["isError"] = True
    return result


def _rpc_error(rid: Any, code: str, message: str) -> dict[str, Any]:
    # Glyph serialises the code as a string.
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


class Crash(Exception):
    """Raised to make the server process exit mid-call."""


class Session:
    """One MCP session: what a single stdio process or WebSocket connection sees."""

    def __init__(self, root: Path, log: Any) -> None:
        self.root = root
        self.log = log  # callable(str): where log lines go (stdout)
        self.initialized = False
        self.crash_on = os.environ.get("GLYPH_CRASH_ON", "")
        self.hang_on = os.environ.get("GLYPH_HANG_ON", "")

    async def handle(self, msg: Any) -> dict[str, Any] | None:
        """The response to one message, or None (notification, or a hung call)."""
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            return _rpc_error(None, "-32600", "Invalid Request")
        method = msg.get("method")
        if "id" not in msg:
            if method == "notifications/cancelled":
                params = msg.get("params") or {}
                self.log(
                    log_line(
                        "INFO", "glyph::mcp", f"cancelled request id={params.get('requestId')}"
                    )
                )
            elif method == "notifications/initialized":
                # Some of its log output is structured: JSON, but not JSON-RPC.
                self.log(
                    json.dumps(
                        {
                            "timestamp": _now(),
                            "level": "INFO",
                            "fields": {"message": "client initialized"},
                            "target": "glyph::mcp",
                        }
                    )
                )
            return None
        rid = msg["id"]
        self.log(log_line("DEBUG", "glyph::mcp", f"request method={method} id={rid}"))
        if method == "initialize":
            params = msg.get("params") or {}
            version = params.get("protocolVersion")
            if version not in SUPPORTED_VERSIONS:
                return _rpc_error(rid, "-32602", f"Unsupported protocol version: {version}")
            self.initialized = True
            return {
                "jsonrpc": "2.0",
                "id": rid,
                "result": {
                    "protocolVersion": "",
                    "capabilities": {"tools": {"listChanged": False}},
                    "serverInfo": {"name": "glyph", "version": VERSION},
                },
            }
        if method == "ping":
            return {"jsonrpc": "2.0", "id": rid, "result": {}}
        if not self.initialized:
            return _rpc_error(rid, "-32002", "Server not initialized")
        if method in ("tools/list", "tools/call") and "params" not in msg:
            return _rpc_error(rid, "-32602", "Invalid params: missing field `params`")
        if method == "tools/list":
            return {"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}}
        if method == "tools/call":
            params = msg["params"] if isinstance(msg["params"], dict) else {}
            name = params.get("name")
            args = params.get("arguments") or {}
            if name not in {t["name"] for t in TOOLS}:
                return _rpc_error(rid, "-32000", f"Tool not found: {name}")
            if name == self.crash_on:
                raise Crash(name)
            if name == self.hang_on:
                self.log(log_line("WARN", "glyph::tools", f"{name} is taking a long time"))
                return None
            result = await self.call(name, args)
            return {"jsonrpc": "2.0", "id": rid, "result": result}
        return _rpc_error(rid, "-32601", f"Method not found: {method}")

    def _path(self, args: dict[str, Any], key: str = "path") -> Path:
        value = args.get(key)
        if not isinstance(value, str):
            raise ValueError(f"missing field `{key}`")
        path = Path(value)
        return path if path.is_absolute() else self.root / path

    async def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return await getattr(self, f"tool_{name}")(args)
        except ValueError as exc:
            return _text(f"Invalid arguments: {exc}", error=True)
        except OSError as exc:
            return _text(f"{name} failed: {exc.strerror} (os error {exc.errno})", error=True)

    async def tool_echo(self, args: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(args.get("message"), str):
            raise ValueError("missing field `message`")
        return _text(args["message"])

    async def tool_read_file(self, args: dict[str, Any]) -> dict[str, Any]:
        return _text(self._path(args).read_text(encoding="utf-8"))

    async def tool_write_file(self, args: dict[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        if not isinstance(args.get("content"), str):
            raise ValueError("missing field `content`")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = args["content"].encode("utf-8")
        path.write_bytes(data)
        return _text(f"Successfully wrote {len(data)} bytes to {args['path']}")

    async def tool_list_directory(self, args: dict[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        lines = [
            f"[DIR] {p.name}" if p.is_dir() else f"[FILE] {p.name}"
            for p in sorted(path.iterdir(), key=lambda p: p.name)
        ]
        return _text("\n".join(lines))

    async def tool_delete_file(self, args: dict[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        path.unlink()
        return _text(f"Deleted {args['path']}")

    async def tool_shell_execute(self, args: dict[str, Any]) -> dict[str, Any]:
        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ValueError("missing field `command`")
        argv = shlex.split(command)
        if argv[0] not in SHELL_ALLOWED:
            return _text(
                f"Command '{argv[0]}' is not allowed. Allowed: {', '.join(sorted(SHELL_ALLOWED))}",
                error=True,
            )
        cwd = self._path(args, "cwd") if args.get("cwd") else self.root
        env = {**os.environ, **{str(k): str(v) for k, v in (args.get("env") or {}).items()}}
        timeout = float(args.get("timeout_seconds") or 30)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return _text(f"Command timed out after {timeout:g} seconds", error=True)
        text = out.decode("utf-8", "replace")
        if proc.returncode != 0:
            text += err.decode("utf-8", "replace") + f"\n[exit code {proc.returncode}]"
            return _text(text, error=True)
        return _text(text)

    async def tool_http_request(self, args: dict[str, Any]) -> dict[str, Any]:
        # The real one would fetch; a test double must never touch the network.
        return _text(
            f"http_request to {args.get('url')!r} failed: network access is disabled", error=True
        )


def _idle_seconds() -> float:
    return float(os.environ.get("GLYPH_IDLE_SECONDS", "30"))


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _crash(name: str) -> None:
    sys.stderr.write(
        f"thread 'tokio-runtime-worker' panicked at src/tools/mod.rs:214:9:\ntool {name} crashed\n"
    )
    sys.stderr.flush()
    os._exit(101)


def _banner(transport: str, root: Path) -> None:
    _out(f"Glyph v{VERSION} - MCP server")
    _out(log_line("INFO", "glyph", f"starting transport={transport} root={root}"))


async def serve_stdio(root: Path) -> int:
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()

    def pump() -> None:  # a daemon thread: blocking stdin reads never hold up exit
        for raw in sys.stdin.buffer:
            loop.call_soon_threadsafe(lines.put_nowait, raw)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=pump, daemon=True).start()
    _banner("stdio", root)
    session = Session(root, _out)
    idle = _idle_seconds()
    while True:
        try:
            raw = await asyncio.wait_for(lines.get(), idle)
        except asyncio.TimeoutError:
            _out(log_line("INFO", "glyph::transport", f"idle for {idle:g}s, closing connection"))
            return 0
        if raw is None:
            return 0
        if not raw.strip():
            _out(log_line("INFO", "glyph::transport", "empty line on stdin, shutting down"))
            return 0
        try:
            msg = json.loads(raw)
        except ValueError:
            _out(json.dumps(_rpc_error(None, "-32700", "Parse error")))
            continue
        try:
            response = await session.handle(msg)
        except Crash as crash:
            _crash(str(crash))
        if response is not None:
            _out(log_line("DEBUG", "glyph::mcp", f"response id={response.get('id')}"))
            _out(json.dumps(response))


async def serve_websocket(root: Path, address: str) -> int:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    host, _, port = address.rpartition(":")
    idle = _idle_seconds()

    async def handler(ws: Any) -> None:
        session = Session(root, _out)
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), idle)
            except asyncio.TimeoutError:
                _out(
                    log_line("INFO", "glyph::transport", f"idle for {idle:g}s, closing connection")
                )
                await ws.close(1000, "idle timeout")
                return
            except ConnectionClosed:
                return
            try:
                msg = json.loads(frame)
            except ValueError:
                await ws.send(json.dumps(_rpc_error(None, "-32700", "Parse error")))
                continue
            try:
                response = await session.handle(msg)
            except Crash as crash:
                _crash(str(crash))
            if response is not None:
                try:
                    await ws.send(json.dumps(response))
                except ConnectionClosed:
                    return

    _banner("websocket", root)
    async with serve(handler, host or "127.0.0.1", int(port), max_size=None) as server:
        bound = next(iter(server.sockets)).getsockname()
        _out(f"Glyph listening on ws://{bound[0]}:{bound[1]}")
        await asyncio.Future()  # until killed
    return 0


def main(argv: list[str] | None = None) -> int:
    # Run as a script, this directory is sys.path[0]; other modules here
    # would shadow standard modules that websockets imports.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    parser = argparse.ArgumentParser(prog="glyph")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve")
    serve_p.add_argument("--transport", choices=("stdio", "websocket"), default="websocket")
    serve_p.add_argument("--address", default="127.0.0.1:7331")
    serve_p.add_argument("--root", default=".")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    if args.transport == "stdio":
        code = asyncio.run(serve_stdio(root))
    else:
        try:
            code = asyncio.run(serve_websocket(root, args.address))
        except KeyboardInterrupt:
            code = 0
    sys.stdout.flush()
    os._exit(code)  # do not wait for the stdin thread


if __name__ == "__main__":
    sys.exit(main())
