"""A small MCP client for Glyph and other MCP tool servers (stdio, WebSocket, streamable HTTP).

Runs on the host's anyio event loop. It is written for the servers as they are,
not as the spec idealises them: Glyph prints banners and log lines on stdout,
sends error codes as strings, answers ``initialize`` with an empty
``protocolVersion``, wants ``"params": {}`` on every request, stops on a blank
stdin line and drops a connection idle for 30 s. The official ``mcp`` SDK is
never imported here: it costs ~0.6 s to import and we need a tenth of it.

Each live connection has one reader task, detached from the caller so that
requests coming from different portal tasks can share it; ``aclose`` cancels it
and waits for the child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import anyio
import anyio.abc

from zeke.errors import ZekeError
from zeke.scrub import Scrubber
from zeke.tools.names import classify

log = logging.getLogger("zeke.tools.mcp")

PROTOCOL_VERSION = "2025-06-18"
CLIENT_INFO = {"name": "zeke.nvim", "version": "0.1.0"}
_MAX_MESSAGE = 64 * 1024 * 1024  # a read_file of a big file is one JSON line
_MAX_PAGES = 100  # tools/list pagination guard against a server that loops
# The router's key is zeke's one secret (docs/design.md §1); a tool server (third-party
# code, often with a shell tool) has no use for it.
_ROUTER_KEY_ENV = frozenset({"ZEKE_API_KEY", "OMEN_API_KEY"})


def _inherited_env(hidden: frozenset[str] = _ROUTER_KEY_ENV) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in hidden}


def _hidden_values(hidden: Iterable[str]) -> list[str]:
    """The router key as the host has it now (every variable it may be read from)."""
    return [v for k in hidden if (v := os.environ.get(k))]


# --------------------------------------------------------------------------- lifetime
#
# Every stdio server runs in its own process group. The groups still alive are kept
# here, so that the host's exit path (``stop_all_servers``) can end them even when a
# server is stuck inside a call and ignores the end of its stdin. On Linux each
# server also gets a parent-death signal, so it goes even when the host is killed
# outright and has no exit path at all.

_LIVE_GROUPS: set[int] = set()
_GROUPS_LOCK = threading.Lock()

# Sets PR_SET_PDEATHSIG (SIGKILL when the host goes), checks the host did not go
# before that, then becomes the server (same pid, same process group).
_PARENT_DEATH_LAUNCHER = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
if os.getppid() != int(sys.argv[1]):
    os._exit(0)
try:
    os.execv(sys.argv[2], sys.argv[3:])
except OSError as e:
    sys.stderr.write(f"cannot run {sys.argv[2]}: {e.strerror}\\n")
    os._exit(127)
"""


def _resolve_command(argv0: str, *, cwd: str, env: Mapping[str, str]) -> str | None:
    """The executable ``argv0`` names, as the child would find it (its PATH and cwd)."""
    if os.sep in argv0:
        path = argv0 if os.path.isabs(argv0) else os.path.join(cwd, argv0)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which(argv0, path=env.get("PATH", os.defpath))


def _spawn_argv(argv: list[str], executable: str) -> list[str]:
    """``argv`` run through the parent-death launcher where Linux and our interpreter
    allow it; as it is elsewhere."""
    if not sys.platform.startswith("linux") or not sys.executable:
        return argv
    return [
        sys.executable, "-I", "-S", "-c", _PARENT_DEATH_LAUNCHER,
        str(os.getpid()), executable, *argv,
    ]  # fmt: skip


def _track(pgid: int) -> None:
    with _GROUPS_LOCK:
        _LIVE_GROUPS.add(pgid)


def _untrack(pgid: int) -> None:
    with _GROUPS_LOCK:
        _LIVE_GROUPS.discard(pgid)


def _group_alive(pgid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pgid, os.WNOHANG)  # our own child, exited: reap it, or it counts
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def stop_all_servers(grace: float = 0.5) -> None:
    """End every tool server still running, and whatever it started: SIGTERM to each
    process group, then SIGKILL to those still there after ``grace`` seconds.

    Synchronous, and safe from any thread or at exit: this is the host's last word,
    when the event loop may be stuck or gone."""
    with _GROUPS_LOCK:
        groups = list(_LIVE_GROUPS)
        _LIVE_GROUPS.clear()
    if not groups or not hasattr(os, "killpg"):
        return
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = [g for g in groups if _group_alive(g)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [g for g in alive if _group_alive(g)]
    for pgid in alive:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


@dataclass
class ToolInfo:
    """One tool as the server describes it."""

    name: str
    description: str
    input_schema: dict


@dataclass
class ToolResult:
    """A ``tools/call`` result. ``is_error`` is the server's ``isError`` (a tool
    failure is an answer, not an exception); ``raw`` is the result object as sent."""

    text: str
    is_error: bool
    raw: dict


class MCPError(ZekeError):
    """A tool server failed: could not be reached (``unreachable``), did not answer in
    time (``timeout``), answered with a JSON-RPC error (``http``, ``code`` = the
    server's code as a string) or sent something we cannot read (``stream``)."""


class _Lost(Exception):
    """The connection went away. ``sent`` says whether the request may have reached
    the server (then retrying is only safe for read-only calls)."""

    def __init__(self, *, sent: bool, detail: str = "") -> None:
        super().__init__(detail or "connection lost")
        self.sent = sent
        self.detail = detail


def _is_message(obj: Any) -> bool:
    """A JSON-RPC message, as opposed to a JSON-formatted log line."""
    return isinstance(obj, dict) and (
        "method" in obj or ("id" in obj and ("result" in obj or "error" in obj))
    )


def _parse_payload(data: bytes | str) -> Any:
    """A JSON-RPC message or batch from one line/frame, or None for anything else."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    if not text:
        return None
    if text[0] not in "{[":
        log.debug("skipping non-JSON output: %.200s", text)
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        log.debug("skipping unparsable line: %.200s", text)
        return None
    if isinstance(obj, list):
        batch = [m for m in obj if _is_message(m)]
        return batch or None
    return obj if _is_message(obj) else None


def _dumps(msg: Mapping[str, Any]) -> str:
    # json.dumps escapes newlines inside strings, so this is always one non-blank line:
    # a blank line on Glyph's stdin would stop it.
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"))


def _norm_id(value: Any) -> Any:
    """Servers may echo our integer ids as strings."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


# --------------------------------------------------------------------------- transports


class _Transport:
    """Moves JSON-RPC messages. ``receive`` returns None at end of stream; ``send``
    raises ``_Lost`` when the peer is gone."""

    protocol_version: str = PROTOCOL_VERSION
    # Set by the client: what nothing from the server may carry into zeke (the
    # router key). Applied to every line, frame, body and stderr line received.
    scrubber: Callable[[], Scrubber] = Scrubber

    def _parse(self, data: bytes | str) -> Any:
        scrub = self.scrubber()
        return _parse_payload(scrub.data(data) if isinstance(data, bytes) else scrub.text(data))

    async def send(self, msg: Mapping[str, Any]) -> None:
        raise NotImplementedError

    async def receive(self) -> Any:
        raise NotImplementedError

    def aux_tasks(self) -> list[Callable[[], Awaitable[None]]]:
        return []

    async def exit_detail(self) -> str:
        """Why the peer went away, for the user's error message ("" if unknown)."""
        return ""

    async def aclose(self) -> None:
        raise NotImplementedError


class _StdioTransport(_Transport):
    """A child process speaking newline-delimited JSON-RPC on stdin/stdout."""

    def __init__(self, proc: anyio.abc.Process, label: str) -> None:
        self._proc = proc
        self._label = label
        self._buf = bytearray()
        self._lock = anyio.Lock()
        self._stderr_tail: deque[str] = deque(maxlen=3)

    @classmethod
    async def open(
        cls,
        argv: list[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        label: str,
        hidden_env: frozenset[str] = _ROUTER_KEY_ENV,
    ) -> _StdioTransport:
        if not os.path.isdir(cwd):
            raise MCPError(f"Cannot start {label}: directory {cwd} does not exist.", kind="config")
        child_env = {**_inherited_env(hidden_env), **env}
        executable = _resolve_command(argv[0], cwd=cwd, env=child_env)
        if executable is None:
            raise MCPError(
                f"Cannot start {label}: command {argv[0]!r} not found. Check glyph.cmd "
                "(and that the program is installed and on PATH).",
                kind="unreachable",
            )
        try:
            proc = await anyio.open_process(
                _spawn_argv(argv, executable),
                cwd=cwd,
                env=child_env,
                # Its own process group, so closing can reach helpers it spawned (npx → node).
                start_new_session=True,
            )
        except OSError as exc:
            raise MCPError(
                f"Cannot start {label} ({argv[0]}): {exc.strerror or exc}. Check glyph.cmd.",
                kind="unreachable",
            ) from exc
        _track(proc.pid)
        log.info("started %s (pid %s): %s", label, proc.pid, shlex.join(argv))
        return cls(proc, label)

    async def send(self, msg: Mapping[str, Any]) -> None:
        data = (_dumps(msg) + "\n").encode("utf-8")
        assert self._proc.stdin is not None
        async with self._lock:  # one whole line at a time
            try:
                await self._proc.stdin.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise _Lost(sent=False, detail=f"cannot write to {self._label}: {exc}") from exc

    async def receive(self) -> Any:
        assert self._proc.stdout is not None
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                msg = self._parse(line)
                if msg is not None:
                    return msg
                continue
            if len(self._buf) > _MAX_MESSAGE:
                log.warning("%s: dropping an over-long stdout line", self._label)
                self._buf.clear()
            try:
                chunk = await self._proc.stdout.receive(65536)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                tail = bytes(self._buf)
                self._buf.clear()
                return self._parse(tail) if tail.strip() else None
            self._buf.extend(chunk)

    def aux_tasks(self) -> list[Callable[[], Awaitable[None]]]:
        return [self._drain_stderr]

    async def _drain_stderr(self) -> None:
        """Stderr goes to our log, never to the user; draining it also keeps a chatty
        server from blocking on a full pipe."""
        if self._proc.stderr is None:
            return
        pending = b""
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async for chunk in self._proc.stderr:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = self.scrubber().text(raw.decode("utf-8", "replace").rstrip())
                    if line:
                        self._stderr_tail.append(line)
                        log.debug("%s stderr: %s", self._label, line)

    async def exit_detail(self) -> str:
        with anyio.move_on_after(0.5):
            await self._proc.wait()
        parts = []
        if self._proc.returncode is not None:
            parts.append(f"exit status {self._proc.returncode}")
        if self._stderr_tail:
            parts.append(self._stderr_tail[-1][:200])
        return "; ".join(parts)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if hasattr(os, "killpg"):
                os.killpg(self._proc.pid, sig)
            elif sig == signal.SIGTERM:
                self._proc.terminate()
            else:
                self._proc.kill()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._proc.stdin is not None:
                # EOF on stdin is how a stdio server is asked to stop (never a blank line).
                with contextlib.suppress(Exception):
                    await self._proc.stdin.aclose()
            exited = False
            with anyio.move_on_after(2.0):
                await self._proc.wait()
                exited = True
            if not exited:
                self._signal_group(signal.SIGTERM)
                with anyio.move_on_after(2.0):
                    await self._proc.wait()
                    exited = True
            if not exited:
                self._signal_group(signal.SIGKILL)
            else:
                # Anything still in the group is a helper it left behind.
                self._signal_group(signal.SIGTERM)
            with contextlib.suppress(Exception):
                await self._proc.aclose()  # closes the pipes and reaps the child
            _untrack(self._proc.pid)
            log.info("%s stopped (exit status %s)", self._label, self._proc.returncode)


class _WebSocketTransport(_Transport):
    """One JSON-RPC message per text frame (Glyph's default transport)."""

    def __init__(self, ws: Any, label: str) -> None:
        self._ws = ws
        self._label = label

    @classmethod
    async def open(cls, url: str, *, label: str, timeout: float) -> _WebSocketTransport:
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
                max_size=_MAX_MESSAGE,
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
            await self._ws.send(_dumps(msg))
        except ConnectionClosed as exc:
            raise _Lost(sent=False, detail=f"{self._label} closed the connection") from exc

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


class _HttpTransport(_Transport):
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
                "POST", self._url, content=_dumps(msg).encode("utf-8"), headers=headers
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
                    raise _Lost(sent=False, detail="the server ended the session")
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
        except _Lost:
            raise
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Lost(sent=False, detail=f"cannot connect: {exc}") from exc
        except httpx.TransportError as exc:
            raise _Lost(sent=True, detail=f"connection broke: {exc}") from exc

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
                "method" not in m and _norm_id(m.get("id")) == want for m in msgs
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


# --------------------------------------------------------------------------- connection


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


class _Connection:
    """One live session: the transport, its reader task and the requests in flight."""

    def __init__(
        self, transport: _Transport, label: str, scrubber: Callable[[], Scrubber] = Scrubber
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
            with anyio.move_on_after(5.0), contextlib.suppress(_Lost):
                await self.transport.send(reply)
            return
        slot = self.pending.get(_norm_id(msg.get("id")))
        if slot is None:
            log.debug("%s: response to an unknown request id %r", self.label, msg.get("id"))
            return
        slot.response = msg
        slot.event.set()

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.dead:
            raise _Lost(sent=False)
        await self.transport.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: dict[str, Any], timeout: float, what: str) -> Any:
        """Send a request and wait for its result; raises MCPError or _Lost."""
        if self.dead:
            raise _Lost(sent=False)
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
            raise _Lost(sent=True, detail=self.exit_detail)
        if "error" in response:
            raise _rpc_error(self.label, what, response["error"])
        return response.get("result")

    async def _cancel_remote(self, rid: int) -> None:
        """Tell the server we gave up, so it can stop the work (the answer, if it ever
        comes, is ignored)."""
        with anyio.move_on_after(2.0), contextlib.suppress(_Lost):
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


def _rpc_error(label: str, what: str, error: Any) -> MCPError:
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


def _tool_result(label: str, name: str, result: Any) -> ToolResult:
    if not isinstance(result, dict):
        raise MCPError(f"{label}: tool {name} returned a malformed result.", kind="stream")
    parts: list[str] = []
    content = result.get("content")
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text" and isinstance(item.get("text"), str):
            parts.append(item["text"])
        elif kind == "resource" and isinstance(item.get("resource"), dict):
            res = item["resource"]
            parts.append(
                res["text"]
                if isinstance(res.get("text"), str)
                else f"[resource {res.get('uri', '')}]"
            )
        elif kind == "resource_link":
            parts.append(f"[resource {item.get('uri', '')}]")
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {item.get('mimeType', '')}]".replace(" ]", "]"))
    if not parts and result.get("structuredContent") is not None:
        parts.append(json.dumps(result["structuredContent"], ensure_ascii=False))
    return ToolResult(text="\n".join(parts), is_error=result.get("isError") is True, raw=result)


def _parse_tools(result: Any) -> tuple[list[ToolInfo], str | None]:
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        raise MCPError("The tool server's tools/list answer has no tools list.", kind="stream")
    tools = []
    for item in result["tools"]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        schema = item.get("inputSchema")
        desc = item.get("description")
        tools.append(
            ToolInfo(
                name=item["name"],
                description=desc if isinstance(desc, str) else "",
                input_schema=schema
                if isinstance(schema, dict)
                else {"type": "object", "properties": {}},
            )
        )
    cursor = result.get("nextCursor")
    return tools, cursor if isinstance(cursor, str) and cursor else None


# --------------------------------------------------------------------------- client


def _config_error(message: str) -> ZekeError:
    return ZekeError(message, kind="config")


def _label_for_cmd(argv: list[str], cwd: str | None = None) -> str:
    """The tool server's name for the audit and for messages: the package it comes
    from, not the file that happens to start it (``node …/dist/index.js`` is
    ``@modelcontextprotocol/server-filesystem``, not "index").

    ``npx``/``bunx``/``pnpm dlx``/``npm exec``: the package named in argv;
    ``uvx``/``pipx run``/``uv tool run``: the Python package; ``python -m mod``: the
    module; ``node``/``deno``/``bun`` a script: the ``name`` in the nearest
    ``package.json`` above it, else the script's name; ``python script.py``: the
    script's name; anything else: the executable's name. A config ``glyph.name``
    overrides all of this."""
    args = [a for a in argv if isinstance(a, str)]
    while args and _stem(args[0]) == "env":  # env [-i] [VAR=value …] cmd …
        args = args[1:]
        while args and (args[0].startswith("-") or "=" in args[0]):
            args = args[1:]
    if not args:
        return "tool server"
    stem, rest = _stem(args[0]), args[1:]
    sub = rest[0] if rest else ""
    if stem in ("npx", "bunx", "pnpx") or (
        (stem, sub) in {("pnpm", "dlx"), ("npm", "exec"), ("npm", "x"), ("yarn", "dlx")}
    ):
        rest = rest[1:] if stem in ("pnpm", "npm", "yarn") else rest
        package = _option(rest, ("-p", "--package")) or _first_operand(rest)
        return _npm_name(package) if package else stem
    if stem in ("uvx", "pipx") or (stem, sub) == ("uv", "tool"):
        rest = [a for a in rest if a not in ("run", "tool")]
        package = _option(rest, ("--from",)) or _first_operand(rest, ("--with", "--python"))
        return _python_name(package) if package else stem
    if stem in ("python", "uv"):
        if "-m" in rest[:-1]:
            return rest[rest.index("-m") + 1]
        script = _first_operand([a for a in rest if a != "run"])
        return _script_stem(script) if script else stem
    if stem in ("node", "nodejs", "deno", "bun", "tsx", "ts-node"):
        script = _first_operand([a for a in rest if a != "run"])
        if not script:
            return stem
        return _package_json_name(script, cwd) or _script_stem(script)
    if stem in ("sh", "bash", "zsh", "dash"):
        if "-c" in rest[:-1]:  # sh -c "npx …": name what the command line runs
            with contextlib.suppress(ValueError):
                inner = shlex.split(rest[rest.index("-c") + 1])
                inner = inner[1:] if inner[:1] == ["exec"] else inner
                if inner:
                    return _label_for_cmd(inner, cwd)
        script = _first_operand(rest)
        return _script_stem(script) if script else stem
    return os.path.basename(args[0].rstrip("/")) or args[0]


def _stem(arg: str) -> str:
    """``/usr/bin/python3.12`` → ``python``; ``node.exe`` → ``node``."""
    base = os.path.basename(arg)
    if base.lower().endswith(".exe"):
        base = base[:-4]
    return "python" if base.startswith("python") else base


def _option(args: list[str], names: tuple[str, ...]) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _first_operand(args: list[str], valued: tuple[str, ...] = ()) -> str | None:
    """The first argument that is not an option (nor the value of one in ``valued``)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in valued:
            skip = True
            continue
        if arg == "--":
            continue
        if not arg.startswith("-"):
            return arg
    return None


def _npm_name(spec: str) -> str:
    """``@scope/name@1.2.3`` → ``@scope/name``; ``name@latest`` → ``name``."""
    at = spec.find("@", 1)
    return spec[:at] if at > 0 else spec


def _python_name(spec: str) -> str:
    """``mcp-server-git==1.0`` / ``pkg[extra]>=2`` / ``pkg@1.0`` → the distribution name."""
    name = re.split(r"[\[<>=!~@; ]", spec, maxsplit=1)[0]
    return name or spec


def _script_stem(script: str) -> str:
    name = os.path.basename(script.rstrip("/"))
    return os.path.splitext(name)[0] or name


def _package_json_name(script: str, cwd: str | None) -> str | None:
    """The ``name`` of the nearest package.json above ``script`` (a few levels at most)."""
    path = script if os.path.isabs(script) or cwd is None else os.path.join(cwd, script)
    try:
        d = os.path.dirname(os.path.realpath(path))
    except (OSError, ValueError):
        return None
    for _ in range(8):
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(d, "package.json"), encoding="utf-8") as f:
                meta = json.load(f)
            name = meta.get("name") if isinstance(meta, dict) else None
            if isinstance(name, str) and name.strip():
                return name.strip()
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return None


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
        self.hidden_env = _ROUTER_KEY_ENV | frozenset(hidden_env)
        # and never received from one either (it may know the key some other way)
        self._scrubber = lambda: Scrubber(_hidden_values(self.hidden_env))
        self._argv = argv
        self._url = url
        self._cwd = cwd
        self._env = dict(env or {})
        self._conn: _Connection | None = None
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
                name=label.strip() if label else _label_for_cmd(argv, cwd),
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

    async def _open_transport(self) -> _Transport:
        if self._argv is not None:
            return await _StdioTransport.open(
                self._argv,
                cwd=self._cwd,
                env=self._env,
                label=self.name,
                hidden_env=self.hidden_env,
            )
        assert self._url is not None
        if self._url.startswith(("ws://", "wss://")):
            return await _WebSocketTransport.open(
                self._url, label=self.name, timeout=self.request_timeout
            )
        return _HttpTransport(self._url, self.name)

    async def _connect(self) -> _Connection:
        transport = await self._open_transport()
        transport.scrubber = self._scrubber
        conn = _Connection(transport, self.name, self._scrubber)
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
        except _Lost as lost:
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

    async def _ensure(self) -> _Connection:
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

    async def _discard(self, conn: _Connection) -> None:
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
            except _Lost as lost:
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
            page, cursor = _parse_tools(result)
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
        return _tool_result(self.name, name, result)

    async def ping(self) -> None:
        """Check the server answers (also keeps an idle connection from being dropped)."""
        await self._call("ping", {}, timeout=self.request_timeout, idempotent=True, what="ping")

    async def aclose(self) -> None:
        """Close the session, stop the reader and reap the server process. Final."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()
