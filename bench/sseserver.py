#!/usr/bin/env python3
"""A minimal, fast OpenAI-style SSE server for the benchmarks (127.0.0.1 only).

Run as its own process (so it never competes with the driver for the GIL):

    python bench/sseserver.py        # prints "PORT <n>" on stdout, serves until killed

It answers ``POST /v1/chat/completions`` with a stream whose shape is set by
``POST /_mode`` (``{"tokens": n, "token": "w ", "newline_every": k,
"first_byte_delay": s, "prefix": "r1t", "token_delay": s}``), plus
``/ready`` and ``/v1/models`` (the host asks for prices on start). With a
``prefix`` every token is numbered (``r1t0 r1t1 …``): a UI can tell when each one
reached the screen, and the final text shows anything dropped or reordered
(``GET /_expected`` is the whole answer of the current mode). ``token_delay``
makes a slow stream: that many seconds between content frames.

For every chat request it records, with ``time.monotonic_ns()`` (CLOCK_MONOTONIC,
the same clock as Neovim's ``vim.uv.hrtime()``): when the body was read, when the
first content frame was written, when the last one was written (and, for a slow
stream, when each frame was written). ``GET /_stamps`` hands them out (and
forgets them); ``GET /_last_body`` is the last chat body received, so the bare
clients can replay exactly what zeke sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

MODELS = {
    "object": "list",
    "data": [
        {
            "id": "bench-model",
            "object": "model",
            "created": 1_700_000_000,
            "owned_by": "ollama",
            "provider": "ollama",
            "context_length": 16384,
            "pricing": {"input_per_1k": 0.0, "output_per_1k": 0.0},
            "capabilities": ["chat", "streaming"],
        }
    ],
}

# Frames between drains: the producer never waits on the consumer more often
# than this, so a fast stream goes out "as fast as it can" (TCP coalesces).
DRAIN_EVERY = 256


class State:
    def __init__(self) -> None:
        self.mode: dict[str, Any] = {
            "tokens": 8,
            "token": "w ",
            "newline_every": 0,
            "first_byte_delay": 0.0,
            "prefix": "",
            "token_delay": 0.0,
        }
        self.stamps: list[dict[str, Any]] = []
        self.last_body: bytes = b"{}"
        self._frames_key: tuple[int, str, int, str] | None = None
        self._frames: list[bytes] = []
        self._texts: list[str] = []

    def texts(self) -> list[str]:
        """The content of each token for the current mode."""
        self.frames()
        return self._texts

    def frames(self) -> list[bytes]:
        """The chunked-encoded SSE frames for the current mode (rendered once per mode)."""
        n, tok = int(self.mode["tokens"]), str(self.mode["token"])
        every = int(self.mode.get("newline_every") or 0)
        prefix = str(self.mode.get("prefix") or "")
        if self._frames_key != (n, tok, every, prefix):
            out, texts = [], []
            for i in range(n):
                word = f"{prefix}{i}" if prefix else tok.rstrip()
                # an answer has lines: every n-th token ends one (a real reply is not one line)
                if every and (i + 1) % every == 0:
                    text = word + "\n"
                else:
                    text = word + " " if prefix else tok
                texts.append(text)
                delta: dict[str, Any] = {"content": text}
                if i == 0:
                    delta["role"] = "assistant"
                obj = {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion.chunk",
                    "created": 1_700_000_000,
                    "model": "bench-model",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                out.append(_chunk(b"data: " + json.dumps(obj).encode() + b"\n\n"))
            tail = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": "bench-model",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            usage = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": "bench-model",
                "choices": [],
                "usage": {"prompt_tokens": 100, "completion_tokens": n, "total_tokens": 100 + n},
            }
            out.append(_chunk(b"data: " + json.dumps(tail).encode() + b"\n\n"))
            out.append(_chunk(b"data: " + json.dumps(usage).encode() + b"\n\n"))
            out.append(_chunk(b"data: [DONE]\n\n"))
            self._frames_key, self._frames = (n, tok, every, prefix), out
            self._texts = texts
        return self._frames


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _plain(status: int, body: bytes, ctype: str = "application/json") -> bytes:
    reason = {200: "OK", 404: "Not Found"}.get(status, "OK")
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def handle(state: State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        import socket

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            recv_ns = time.monotonic_ns()
            if method == "POST" and path.endswith("/chat/completions"):
                await stream(state, writer, headers.get("x-request-id", ""), recv_ns)
                state.last_body = body
            elif path == "/_mode":
                state.mode.update(json.loads(body or b"{}"))
                state.frames()  # rendered now, not while a request waits
                writer.write(_plain(200, b"{}"))
            elif path == "/_expected":
                writer.write(_plain(200, "".join(state.texts()).encode(), "text/plain"))
            elif path == "/_stamps":
                out, state.stamps = state.stamps, []
                writer.write(_plain(200, json.dumps(out).encode()))
            elif path == "/_last_body":
                writer.write(_plain(200, state.last_body))
            elif path.endswith("/models"):
                writer.write(_plain(200, json.dumps(MODELS).encode()))
            elif path == "/ready":
                writer.write(_plain(200, b'{"status":"ready"}'))
            else:
                writer.write(_plain(404, b"not found", "text/plain"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def stream(state: State, writer: asyncio.StreamWriter, rid: str, recv_ns: int) -> None:
    mode = state.mode
    frames = state.frames()
    if mode.get("first_byte_delay"):
        await asyncio.sleep(float(mode["first_byte_delay"]))
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    # stamped before the write: a busy machine may run the client before we get back
    first_ns = time.monotonic_ns()
    writer.write(frames[0])
    await writer.drain()
    delay = float(mode.get("token_delay") or 0.0)
    n = int(mode["tokens"])
    frame_ns = [first_ns]
    for i in range(1, len(frames)):
        if delay and i < n:
            await asyncio.sleep(delay)
            frame_ns.append(time.monotonic_ns())
            writer.write(frames[i])
            await writer.drain()
            continue
        writer.write(frames[i])
        if i % DRAIN_EVERY == 0:
            await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    stamp = {
        "rid": rid,
        "recv_ns": recv_ns,
        "first_ns": first_ns,
        "last_ns": time.monotonic_ns(),
        "tokens": n,
    }
    if delay:
        stamp["frame_ns"] = frame_ns
    state.stamps.append(stamp)


async def main() -> None:
    state = State()
    server = await asyncio.start_server(
        lambda r, w: handle(state, r, w), "127.0.0.1", 0, limit=1 << 20
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
