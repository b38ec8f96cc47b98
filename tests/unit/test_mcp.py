"""The MCP client against the Glyph double (stdio and WebSocket) and a streamable-HTTP double.

Each quirk of the real Glyph (docs/design.md §13) is first shown to be present in the
double, then shown not to bother the client.
"""

from __future__ import annotations

import asyncio
import http.server
import importlib.util
import itertools
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from zeke.errors import ZekeError
from zeke.tools.mcp import MCPClient, MCPError, ToolInfo

REPO = Path(__file__).resolve().parents[2]
FAKE = REPO / "tests" / "fakes" / "glyph.py"
GLYPH_TOOLS = [
    "echo",
    "read_file",
    "write_file",
    "list_directory",
    "delete_file",
    "shell_execute",
    "http_request",
]


def _load_fake() -> Any:
    spec = importlib.util.spec_from_file_location("glyph_fake", FAKE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


glyph_fake = _load_fake()


async def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll with a deadline (no fixed sleeps standing in for synchronisation)."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


def _pid_of_server(text: str) -> int:
    """Glyph's pid, from `cat /proc/self/status` run by its shell_execute (cat's PPid)."""
    match = re.search(r"^PPid:\s+(\d+)", text, re.M)
    assert match, text
    return int(match.group(1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ------------------------------------------------------------------ Glyph double servers


class WsGlyph:
    """The double's WebSocket transport, in its own process."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(FAKE),
                "serve",
                "--transport",
                "websocket",
                "--address",
                "127.0.0.1:0",
                "--root",
                str(root),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + 10
        self.url = ""
        while not self.url:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Glyph WebSocket double did not start")
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line.startswith("Glyph listening on "):
                self.url = line.split()[-1]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(params=["stdio", "websocket"])
def make_client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., MCPClient]]:
    """Factory: a client for a fresh Glyph double over the parametrised transport.
    ``env`` reaches the server process (GLYPH_IDLE_SECONDS, GLYPH_CRASH_ON, …)."""
    servers: list[WsGlyph] = []

    def factory(env: dict[str, str] | None = None, timeout: float = 10.0) -> MCPClient:
        env = env or {}
        if request.param == "stdio":
            cmd = [
                sys.executable,
                str(FAKE),
                "serve",
                "--transport",
                "stdio",
                "--root",
                str(tmp_path),
            ]
            return MCPClient.from_config(
                {"cmd": cmd, "env": env}, cwd=str(tmp_path), request_timeout=timeout
            )
        server = WsGlyph(tmp_path, env)
        servers.append(server)
        return MCPClient.from_config(
            {"url": server.url}, cwd=str(tmp_path), request_timeout=timeout
        )

    factory.transport = request.param  # type: ignore[attr-defined]
    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
async def client(make_client: Callable[..., MCPClient]) -> AsyncIterator[MCPClient]:
    c = make_client()
    yield c
    await c.aclose()


# ------------------------------------------------------------------ the double has the quirks


def test_double_reproduces_glyph_stdio_quirks(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), "serve", "--transport", "stdio", "--root", str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}},
    ]
    payload = "".join(json.dumps(r) + "\n" for r in requests) + "\n"  # blank line: stop
    out, _ = proc.communicate(payload, timeout=10)
    lines = out.splitlines()
    assert not lines[0].startswith("{"), "banner first"
    responses = {}
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "id" in obj:
            responses[obj["id"]] = obj
    assert len(lines) > len(responses) + 2, "log lines between the JSON-RPC lines"
    assert responses[1]["result"]["protocolVersion"] == ""
    assert responses[2]["error"]["code"] == "-32602"  # params omitted → error, string code
    assert [t["name"] for t in responses[3]["result"]["tools"]] == GLYPH_TOOLS
    assert proc.returncode == 0  # the blank line stopped it


# ------------------------------------------------------------------ basics over both transports


@pytest.mark.anyio
async def test_initialize_and_list_tools(client: MCPClient) -> None:
    tools = await client.list_tools()
    assert [t.name for t in tools] == GLYPH_TOOLS  # needed params {} despite banner/log lines
    assert all(isinstance(t, ToolInfo) for t in tools)
    read = next(t for t in tools if t.name == "read_file")
    assert read.input_schema["required"] == ["path"]
    assert client.server_info["name"] == "glyph"  # empty protocolVersion tolerated
    assert await client.list_tools() == tools


@pytest.mark.anyio
async def test_echo_keeps_blank_lines_inside_arguments(client: MCPClient) -> None:
    # A blank stdin line stops Glyph: newlines inside arguments must stay escaped.
    message = "first\n\nthird\n"
    result = await client.call_tool("echo", {"message": message})
    assert result.text == message
    assert result.is_error is False
    again = await client.call_tool("echo", {"message": "still alive"})
    assert again.text == "still alive"


@pytest.mark.anyio
async def test_write_then_read_a_file(client: MCPClient, tmp_path: Path) -> None:
    wrote = await client.call_tool("write_file", {"path": "notes/a.txt", "content": "héllo\n"})
    assert not wrote.is_error
    assert (tmp_path / "notes" / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    read = await client.call_tool("read_file", {"path": "notes/a.txt"})
    assert read.text == "héllo\n"


@pytest.mark.anyio
async def test_tool_failures_are_results_not_exceptions(client: MCPClient, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    missing = await client.call_tool("read_file", {"path": "missing.txt"})
    assert missing.is_error is True
    assert "No such file" in missing.text
    assert missing.raw["isError"] is True
    denied = await client.call_tool("shell_execute", {"command": "rm keep.txt"})
    assert denied.is_error is True
    assert "not allowed" in denied.text
    assert (tmp_path / "keep.txt").exists()
    fetched = await client.call_tool("http_request", {"method": "GET", "url": "http://example.com"})
    assert fetched.is_error is True


@pytest.mark.anyio
async def test_rpc_error_with_string_code(client: MCPClient) -> None:
    with pytest.raises(MCPError) as info:
        await client.call_tool("no_such_tool", {})
    assert info.value.code == "-32000"
    assert "Tool not found: no_such_tool" in info.value.message
    assert isinstance(info.value, ZekeError)
    assert (await client.call_tool("echo", {"message": "ok"})).text == "ok"


@pytest.mark.anyio
async def test_ping(client: MCPClient) -> None:
    await client.ping()
    assert client.connected


@pytest.mark.anyio
async def test_concurrent_calls_are_matched_by_id(make_client: Callable[..., MCPClient]) -> None:
    c = make_client({"GLYPH_HANG_ON": "list_directory"})
    try:
        results: dict[str, Any] = {}

        async def hang() -> None:
            with pytest.raises(MCPError) as info:
                await c.call_tool("list_directory", {"path": "."}, timeout=0.8)
            results["hang"] = info.value.kind

        async def echo(i: int) -> None:
            results[f"echo{i}"] = (await c.call_tool("echo", {"message": str(i)})).text

        await c.ensure_started()
        async with anyio.create_task_group() as tg:
            tg.start_soon(hang)
            for i in range(5):
                tg.start_soon(echo, i)
        assert results == {"hang": "timeout", **{f"echo{i}": str(i) for i in range(5)}}
    finally:
        await c.aclose()


# ------------------------------------------------------------------ failures


@pytest.mark.anyio
async def test_idle_drop_then_transparent_reconnect(make_client: Callable[..., MCPClient]) -> None:
    c = make_client({"GLYPH_IDLE_SECONDS": "1"})
    try:
        assert (await c.call_tool("echo", {"message": "one"})).text == "one"
        assert c.connected
        await _wait_for(lambda: not c.connected)  # Glyph dropped us
        # Not a read-only tool: only retried because it was never sent.
        wrote = await c.call_tool("write_file", {"path": "after.txt", "content": "x"})
        assert not wrote.is_error
        assert c.connected
        assert [t.name for t in await c.list_tools()] == GLYPH_TOOLS
    finally:
        await c.aclose()


@pytest.mark.anyio
async def test_crash_mid_call_is_reported_promptly(make_client: Callable[..., MCPClient]) -> None:
    c = make_client({"GLYPH_CRASH_ON": "write_file"}, timeout=20)
    try:
        await c.ensure_started()
        started = time.monotonic()
        with pytest.raises(MCPError) as info:
            await c.call_tool("write_file", {"path": "a.txt", "content": "x"})
        assert time.monotonic() - started < 5  # not after the 20 s timeout
        assert info.value.kind == "unreachable"
        assert "write_file" in info.value.message
        if make_client.transport == "stdio":  # type: ignore[attr-defined]
            assert "exit status 101" in info.value.message
            assert "may or may not have taken effect" in info.value.message
            # the next call respawns it
            assert (await c.call_tool("echo", {"message": "back"})).text == "back"
    finally:
        await c.aclose()


@pytest.mark.anyio
async def test_crash_on_read_tool_retried_once_then_reported(
    make_client: Callable[..., MCPClient],
) -> None:
    c = make_client({"GLYPH_CRASH_ON": "read_file"}, timeout=20)
    try:
        started = time.monotonic()
        with pytest.raises(MCPError) as info:
            await c.call_tool("read_file", {"path": "a.txt"})
        assert time.monotonic() - started < 8
        assert info.value.kind == "unreachable"
    finally:
        await c.aclose()


@pytest.mark.anyio
async def test_hang_times_out_and_is_cancelled(
    make_client: Callable[..., MCPClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="zeke.tools.mcp")
    c = make_client({"GLYPH_HANG_ON": "echo"}, timeout=20)
    try:
        await c.ensure_started()
        started = time.monotonic()
        with pytest.raises(MCPError) as info:
            await c.call_tool("echo", {"message": "never"}, timeout=0.5)
        assert time.monotonic() - started < 3
        assert info.value.kind == "timeout"
        assert "echo" in info.value.message
        # the connection is still good for other calls
        assert not (await c.call_tool("write_file", {"path": "b.txt", "content": "y"})).is_error
        if make_client.transport == "stdio":  # type: ignore[attr-defined]
            # Glyph logs on stdout that it got notifications/cancelled; we log what we skip.
            await _wait_for(lambda: "cancelled request id=" in caplog.text)
    finally:
        await c.aclose()


@pytest.mark.anyio
async def test_aclose_reaps_the_server_and_stops_the_reader(tmp_path: Path) -> None:
    cmd = [sys.executable, str(FAKE), "serve", "--transport", "stdio", "--root", str(tmp_path)]
    c = MCPClient.from_config({"cmd": cmd}, cwd=str(tmp_path))
    before = set(asyncio.all_tasks())
    status = await c.call_tool("shell_execute", {"command": "cat /proc/self/status"})
    pid = _pid_of_server(status.text)
    assert _alive(pid)
    assert len(asyncio.all_tasks() - before) >= 1  # the reader
    await c.aclose()
    assert not _alive(pid)  # exited and reaped: no zombie
    assert asyncio.all_tasks() - before == set()
    with pytest.raises(MCPError):
        await c.call_tool("echo", {"message": "closed"})


@pytest.mark.anyio
async def test_missing_command_is_a_clear_error(tmp_path: Path) -> None:
    c = MCPClient.from_config({"cmd": ["zeke-no-such-glyph", "serve"]}, cwd=str(tmp_path))
    with pytest.raises(MCPError) as info:
        await c.ensure_started()
    assert info.value.kind == "unreachable"
    assert "glyph.cmd" in info.value.message
    assert "zeke-no-such-glyph" in info.value.message
    await c.aclose()


@pytest.mark.anyio
async def test_server_exiting_at_start_is_a_clear_error(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-c",
        "import sys; print('boom: bad flag', file=sys.stderr); sys.exit(2)",
    ]
    c = MCPClient.from_config({"cmd": cmd}, cwd=str(tmp_path))
    started = time.monotonic()
    with pytest.raises(MCPError) as info:
        await c.list_tools()
    assert time.monotonic() - started < 5
    assert info.value.kind == "unreachable"
    assert "exit status 2" in info.value.message
    assert "boom: bad flag" in info.value.message
    await c.aclose()


@pytest.mark.anyio
async def test_websocket_refused_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = MCPClient.from_config({"url": f"ws://127.0.0.1:{port}"}, cwd=str(tmp_path))
    with pytest.raises(MCPError) as info:
        await c.ensure_started()
    assert info.value.kind == "unreachable"
    assert "glyph.url" in info.value.message
    await c.aclose()


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({}, "glyph.cmd"),
        ("glyph", "glyph"),
        ({"cmd": ["glyph"], "url": "ws://x"}, "glyph.url"),
        ({"cmd": []}, "glyph.cmd"),
        ({"cmd": ["glyph", 3]}, "glyph.cmd"),
        ({"cmd": {"a": 1}}, "glyph.cmd"),
        ({"url": "ftp://host/mcp"}, "glyph.url"),
        ({"url": "ws://"}, "glyph.url"),
        ({"url": 7331}, "glyph.url"),
        ({"cmd": ["glyph"], "env": {"A": 1}}, "glyph.env"),
    ],
)
def test_bad_config_names_the_key(cfg: Any, key: str) -> None:
    with pytest.raises(ZekeError) as info:
        MCPClient.from_config(cfg, cwd="/")
    assert info.value.kind == "config"
    assert key in info.value.message


@pytest.mark.parametrize(
    ("cfg", "name"),
    [
        ({"cmd": ["glyph", "serve", "--transport", "stdio"]}, "glyph"),
        ({"cmd": ["/usr/local/bin/glyph", "serve"]}, "glyph"),
        ({"cmd": ["python3", "-u", "tests/fakes/glyph.py", "serve"]}, "glyph"),
        (
            {"cmd": ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/x"]},
            "@modelcontextprotocol/server-filesystem",
        ),
        ({"cmd": ["npx", "-y", "@scope/tool@1.2.3", "--root", "."]}, "@scope/tool"),
        ({"cmd": ["npx", "-p", "mcp-pkg@2", "mcp-bin"]}, "mcp-pkg"),
        ({"cmd": ["pnpm", "dlx", "some-mcp@latest"]}, "some-mcp"),
        ({"cmd": ["npm", "exec", "--yes", "other-mcp"]}, "other-mcp"),
        ({"cmd": ["uvx", "mcp-server-git==2026.10.19", "--repository", "."]}, "mcp-server-git"),
        ({"cmd": ["uvx", "--from", "mcp-tools[git]", "git-tool"]}, "mcp-tools"),
        ({"cmd": ["pipx", "run", "mcp-server-time"]}, "mcp-server-time"),
        ({"cmd": ["python3.12", "-m", "mcp_server_git", "-r", "."]}, "mcp_server_git"),
        ({"cmd": ["/usr/bin/env", "FOO=1", "python", "-u", "srv.py"]}, "srv"),
        ({"cmd": ["sh", "-c", "exec npx -y @x/y"]}, "@x/y"),
        ({"cmd": ["bash", "-c", "npx -y @x/y"]}, "@x/y"),
        ({"cmd": ["node", "/opt/tools/server.js"]}, "server"),  # no package.json above it
        ({"cmd": "glyph serve --transport stdio"}, "glyph"),
        ({"url": "ws://127.0.0.1:7331"}, "127.0.0.1:7331"),
        ({"url": "http://tools.invalid/mcp"}, "tools.invalid"),
        ({"name": "fs", "cmd": ["node", "/opt/x/index.js"]}, "fs"),
        ({"name": " tools ", "url": "ws://127.0.0.1:1"}, "tools"),
    ],
)
def test_client_label(cfg: dict[str, Any], name: str) -> None:
    assert MCPClient.from_config(cfg, cwd="/").name == name


def test_a_node_script_is_named_by_its_package(tmp_path: Path) -> None:
    """``node …/dist/index.js`` is the package it belongs to, not "index"."""
    pkg = tmp_path / "node_modules" / "@modelcontextprotocol" / "server-filesystem"
    (pkg / "dist").mkdir(parents=True)
    (pkg / "dist" / "index.js").write_text("")
    (pkg / "package.json").write_text('{"name": "@modelcontextprotocol/server-filesystem"}')
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "fs-server").symlink_to(pkg / "dist" / "index.js")
    for script in (pkg / "dist" / "index.js", "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js", tmp_path / "bin" / "fs-server"):  # fmt: skip
        cfg = {"cmd": ["node", "--no-warnings", str(script), str(tmp_path)]}
        name = MCPClient.from_config(cfg, cwd=str(tmp_path)).name
        assert name == "@modelcontextprotocol/server-filesystem", script


@pytest.mark.parametrize("bad", ["", "  ", 3])
def test_a_bad_glyph_name_is_a_config_error(bad: Any) -> None:
    with pytest.raises(ZekeError, match=r"glyph\.name"):
        MCPClient.from_config({"name": bad, "cmd": ["glyph"]}, cwd="/")


# ------------------------------------------------------------------ streamable HTTP


class HttpGlyph:
    """A streamable-HTTP MCP endpoint around the double's session logic: sessions by
    Mcp-Session-Id, JSON or SSE answers, server→client requests, paginated tools."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sessions: dict[str, Any] = {}
        self.replies: list[dict[str, Any]] = []
        self.initializes = 0
        self.deleted: list[str] = []
        self._ids = itertools.count(1)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_DELETE(self) -> None:
                sid = self.headers.get("Mcp-Session-Id", "")
                outer.sessions.pop(sid, None)
                outer.deleted.append(sid)
                self._send(200, b"", "text/plain")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.handle(self, json.loads(body))

            def _send(
                self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.Handler = Handler
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mcp"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def handle(self, h: Any, msg: dict[str, Any]) -> None:
        if msg.get("method") == "initialize":
            self.initializes += 1
            sid = f"session-{next(self._ids)}"
            session = glyph_fake.Session(self.root, lambda line: None)
            self.sessions[sid] = session
            response = asyncio.run(session.handle(msg))
            h._send(200, json.dumps(response).encode(), "application/json", {"Mcp-Session-Id": sid})
            return
        sid = h.headers.get("Mcp-Session-Id")
        if not sid:
            h._send(400, b"Bad Request: missing Mcp-Session-Id", "text/plain")
            return
        if sid not in self.sessions:
            h._send(404, b"session not found", "text/plain")
            return
        session = self.sessions[sid]
        if "method" not in msg:  # our request answered by the client
            self.replies.append(msg)
            h._send(202, b"", "text/plain")
            return
        response = asyncio.run(session.handle(msg))
        if "id" not in msg:
            h._send(202, b"", "text/plain")
            return
        if msg["method"] == "tools/list" and "result" in response:
            tools = response["result"]["tools"]
            if not (msg.get("params") or {}).get("cursor"):
                response["result"] = {"tools": tools[:3], "nextCursor": "page-2"}
            else:
                response["result"] = {"tools": tools[3:]}
        if msg["method"] != "tools/call":
            h._send(200, json.dumps(response).encode(), "application/json")
            return
        # tools/call answers as SSE: server requests and a notification first, and the
        # stream stays open after the answer (the client must not wait for it to close).
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.end_headers()
        events = [
            {"jsonrpc": "2.0", "id": "srv-1", "method": "ping"},
            {
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "info", "data": "x"},
            },
            {"jsonrpc": "2.0", "id": "srv-2", "method": "roots/list", "params": {}},
            response,
        ]
        try:
            h.wfile.write(b": keepalive\n\n")
            for event in events:
                h.wfile.write(f"event: message\r\ndata: {json.dumps(event)}\r\n\r\n".encode())
                h.wfile.flush()
            time.sleep(3)
        except OSError:
            pass
        h.close_connection = True

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_glyph(tmp_path: Path) -> Iterator[HttpGlyph]:
    server = HttpGlyph(tmp_path)
    yield server
    server.stop()


@pytest.mark.anyio
async def test_http_session_pagination_and_sse(http_glyph: HttpGlyph, tmp_path: Path) -> None:
    c = MCPClient.from_config({"url": http_glyph.url}, cwd=str(tmp_path), request_timeout=10)
    try:
        tools = await c.list_tools()
        assert [t.name for t in tools] == GLYPH_TOOLS  # both pages
        started = time.monotonic()
        result = await c.call_tool("echo", {"message": "over http"})
        assert result.text == "over http"
        assert time.monotonic() - started < 2  # did not wait for the open SSE stream
        # the server's requests got answers: pong, and "method not found" for roots/list
        await _wait_for(lambda: len(http_glyph.replies) >= 2)
        by_id = {r["id"]: r for r in http_glyph.replies}
        assert by_id["srv-1"]["result"] == {}
        assert by_id["srv-2"]["error"]["code"] == -32601
        failed = await c.call_tool("read_file", {"path": "nope.txt"})
        assert failed.is_error
    finally:
        await c.aclose()
    assert http_glyph.deleted == ["session-1"]


@pytest.mark.anyio
async def test_http_expired_session_reinitializes(http_glyph: HttpGlyph, tmp_path: Path) -> None:
    c = MCPClient.from_config({"url": http_glyph.url}, cwd=str(tmp_path), request_timeout=10)
    try:
        await c.ping()
        http_glyph.sessions.clear()  # the server restarted
        wrote = await c.call_tool("write_file", {"path": "h.txt", "content": "z"})
        assert not wrote.is_error
        assert (tmp_path / "h.txt").read_text() == "z"
        assert http_glyph.initializes == 2
    finally:
        await c.aclose()


@pytest.mark.anyio
async def test_http_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = MCPClient.from_config({"url": f"http://127.0.0.1:{port}/mcp"}, cwd=str(tmp_path))
    with pytest.raises(MCPError) as info:
        await c.list_tools()
    assert info.value.kind == "unreachable"
    await c.aclose()


# ------------------------------------------------------------------ other servers' habits

# A minimal stdio server unlike Glyph: integer error codes, ids echoed as strings, and
# a request to the client ("ask") that it must answer before the call completes.
_SCRIPTED = r"""
import json, sys
for raw in sys.stdin:
    msg = json.loads(raw)
    if "id" not in msg:
        continue
    rid = str(msg["id"])
    if msg["method"] == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "s"}}
        print(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}), flush=True)
    elif msg["params"]["name"] == "ask":
        print(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "sampling/createMessage",
                          "params": {}}), flush=True)
        reply = json.loads(sys.stdin.readline())
        print(json.dumps({"jsonrpc": "2.0", "id": rid, "result": {
            "content": [{"type": "text", "text": json.dumps(reply)},
                        {"type": "image", "data": "", "mimeType": "image/png"}],
            "structuredContent": {"n": 1}}}), flush=True)
    else:
        print(json.dumps({"jsonrpc": "2.0", "id": rid,
                          "error": {"code": -32000, "message": "boom"}}), flush=True)
"""


@pytest.mark.anyio
async def test_integer_codes_string_ids_and_server_requests(tmp_path: Path) -> None:
    c = MCPClient.from_config(
        {"cmd": [sys.executable, "-c", _SCRIPTED]}, cwd=str(tmp_path), request_timeout=5
    )
    try:
        with pytest.raises(MCPError) as info:
            await c.call_tool("fail", {})
        assert info.value.code == "-32000"
        assert "boom" in info.value.message
        result = await c.call_tool("ask", {})
        reply_text, image = result.text.split("\n")
        reply = json.loads(reply_text)
        assert reply["id"] == 99
        assert reply["error"]["code"] == -32601  # we support no sampling: method not found
        assert image == "[image image/png]"
    finally:
        await c.aclose()
