"""Shared plumbing for the fake HTTP servers (OMEN, Ollama).

A real ``ThreadingHTTPServer`` on 127.0.0.1 in a background thread, HTTP/1.1 with
keep-alive, streamed replies in chunked transfer encoding with one flush per
write (so a test decides exactly where the bytes are cut). Every request is
recorded. While a reply is paced, stalled or hung, the server watches the
socket, so a test can see the client go away (``Recorded.disconnected``), and
``stop()`` never waits on a hung reply.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

Ending = Literal["end", "drop", "stall", "hang"]


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None
    raw: bytes
    port: int = 0
    """The client's port: one per TCP connection, so two requests on one connection
    share it."""
    disconnected: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set when the server saw the client close the connection mid-reply."""
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set when the reply ended, however it ended."""


@dataclass
class Reply:
    """What to send. Each element of ``chunks`` is one write + flush."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    delay: float = 0.0  # pause between writes
    first_byte_delay: float = 0.0  # pause before the status line
    ending: Ending = "end"  # end: proper end; drop: cut the TCP connection;
    # stall: send nothing more, keep it open; hang: never even send headers
    chunked: bool = True  # else a Content-Length body


def json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    """A plain JSON answer."""
    return Reply(
        status=status,
        headers={"content-type": "application/json", **(headers or {})},
        chunks=[json.dumps(obj).encode()],
        chunked=False,
    )


def text_reply(status: int, text: str | bytes, content_type: str = "text/plain") -> Reply:
    """A plain text answer."""
    data = text.encode() if isinstance(text, str) else text
    return Reply(
        status=status, headers={"content-type": content_type}, chunks=[data], chunked=False
    )


class FakeServer:
    """Base for the fakes: lifecycle, recording, scripted replies for the chat
    endpoint, and sending ``Reply`` objects."""

    chat_path = ""  # each fake's chat endpoint (what ``queue`` scripts)

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: deque[Any] = deque()
        self.port: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()

    def queue(self, *replies: Any) -> None:
        """Replies for the next chat requests, first in first out."""
        with self._lock:
            self._queue.extend(replies)

    def chat_requests(self) -> list[Recorded]:
        """Only the ``POST`` requests to the chat endpoint."""
        return [
            r
            for r in list(self.requests)
            if r.method == "POST" and urlsplit(r.path).path == self.chat_path
        ]

    # -- lifecycle ---------------------------------------------------------

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> FakeServer:
        """Listen on ``port`` (a free one when None) and serve in a thread."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping = threading.Event()
        fake = self

        class Handler(_Handler):
            owner = fake

        server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; cut every open connection (hung and stalled replies too)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            handlers = list(self._handlers)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for t in handlers:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(2.0)

    def __enter__(self):
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- to override -------------------------------------------------------

    def route(self, rec: Recorded) -> Reply:
        raise NotImplementedError

    # -- sending -----------------------------------------------------------

    def _wait(self, handler: _Handler, rec: Recorded, seconds: float | None) -> bool:
        """Pause while watching the socket. False when the server is stopping or
        the client went away (then the reply must be abandoned)."""
        sock = handler.connection
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if self._stopping.is_set():
                return False
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                return True
            try:
                readable, _, _ = select.select([sock], [], [], left)
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    rec.disconnected.set()
                    return False
            except (OSError, ValueError):
                rec.disconnected.set()
                return False
            if readable:
                time.sleep(left)  # the client sent more bytes; don't spin

    def _send(self, handler: _Handler, rec: Recorded, reply: Reply) -> None:
        if reply.first_byte_delay and not self._wait(handler, rec, reply.first_byte_delay):
            handler.close_connection = True
            return
        if reply.ending == "hang":
            self._wait(handler, rec, None)
            handler.close_connection = True
            return
        try:
            handler.send_response(reply.status)
            names = {k.lower() for k in reply.headers}
            for k, v in reply.headers.items():
                handler.send_header(k, v)
            if reply.chunked:
                handler.send_header("Transfer-Encoding", "chunked")
            else:
                body = b"".join(reply.chunks)
                if "content-length" not in names:
                    handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            out = handler.wfile
            if not reply.chunked:
                out.write(body)
                out.flush()
                return
            for i, chunk in enumerate(reply.chunks):
                if i and reply.delay and not self._wait(handler, rec, reply.delay):
                    handler.close_connection = True
                    return
                if chunk:
                    out.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    out.flush()
            if reply.ending == "end":
                out.write(b"0\r\n\r\n")
                out.flush()
            elif reply.ending == "drop":
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
            elif reply.ending == "stall":
                self._wait(handler, rec, None)
                handler.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            rec.disconnected.set()
            handler.close_connection = True
        except OSError:
            handler.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FakeServer

    def setup(self) -> None:
        super().setup()
        # One write must be one TCP segment: no Nagle coalescing of our writes.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner._lock:
            self.owner._conns.add(self.connection)
            self.owner._handlers.add(threading.current_thread())

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.owner._lock:
                self.owner._conns.discard(self.connection)
                self.owner._handlers.discard(threading.current_thread())

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = Recorded(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
            port=self.client_address[1],
        )
        owner = self.owner
        with owner._lock:
            owner.requests.append(rec)
        try:
            reply = owner.route(rec)
            if self.command == "HEAD":
                reply = Reply(status=reply.status, headers=reply.headers, chunked=False)
            owner._send(self, rec, reply)
        finally:
            rec.finished.set()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


# -- cutting a stream into writes ---------------------------------------------

SEED = 20240917


def cut(events: list[bytes], split: str, *, seed: int = SEED) -> list[bytes]:
    """Writes for ``events`` (each one complete frame or line).

    ``none``: one event per write. ``bytewise``: one byte per write. ``random``
    (seeded, deterministic): cuts at random byte positions such that, when the
    stream has at least three events, some event is split across writes AND
    some write holds two or more whole events — both real OMEN behaviours.
    """
    events = [e for e in events if e]
    if split == "none":
        return list(events)
    data = b"".join(events)
    if split == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    if split != "random":
        raise ValueError(f"split must be none, random or bytewise, not {split!r}")
    if len(events) < 3:
        return _random_cuts(data, random.Random(seed), max(2, len(data) // 3))
    bounds = _boundaries(events)
    avg = max(2, len(data) // len(events))
    for attempt in range(64):
        writes = _random_cuts(data, random.Random(seed + attempt), int(avg * 2.5))
        if _good(writes, bounds):
            return writes
    # Deterministic fallback: two whole events plus half of the third, then the rest.
    first = len(events[0]) + len(events[1]) + max(1, len(events[2]) // 2)
    return [data[:first], *_random_cuts(data[first:], random.Random(seed), avg)]


def _random_cuts(data: bytes, rng: random.Random, max_size: int) -> list[bytes]:
    writes, pos = [], 0
    while pos < len(data):
        size = rng.randint(1, max(1, max_size))
        writes.append(data[pos : pos + size])
        pos += size
    return writes


def _boundaries(events: list[bytes]) -> list[int]:
    out, pos = [0], 0
    for e in events:
        pos += len(e)
        out.append(pos)
    return out


def _good(writes: list[bytes], bounds: list[int]) -> bool:
    starts, pos = [], 0
    for w in writes:
        starts.append((pos, pos + len(w)))
        pos += len(w)
    cuts = {end for _, end in starts}
    split_event = any(any(a < c < b for c in cuts) for a, b in itertools.pairwise(bounds))
    # a write containing two whole events: three event boundaries inside [start, end]
    several = any(sum(1 for b in bounds if s <= b <= e) >= 3 for s, e in starts)
    return split_event and several
