"""Reading a response body: capped reads, and a started 2xx stream turned into events.

A pipe is a wire parser (SSE frames, NDJSON lines) feeding a decoder of zeke
events. ``decoded`` drives one over the body and always ends with ``End``: an idle
read timeout, a dropped connection, undecodable bytes or a body that is not a
stream at all become a ``StreamFailure`` first, so a partial answer survives.
Error pages and JSON documents are read with a byte cap instead.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol

import anyio
import httpx

from zeke.backends.events import StreamEvent, StreamFailure
from zeke.backends.http.failures import snippet
from zeke.backends.ollama_stream import NDJSONParser, OllamaStreamDecoder
from zeke.backends.openai_stream import OpenAIStreamDecoder, load_json
from zeke.backends.sse import SSEParser

JSON_BODY_CAP = 32 * 1024 * 1024
# After a finish_reason only a usage chunk and [DONE] can follow; a server that
# then keeps the connection open must not make the user wait a full read timeout.
_AFTER_END_GRACE = 2.0
_HEAD_BYTES = 512
# After [DONE] the body's last bytes (the chunked terminator) are read before the
# response closes, so the connection goes back to the pool: closing a response that
# is not fully read drops its connection, and every next request would open a new
# one (1.5 ms on loopback; a round trip and a TLS handshake to a remote router). A
# server that keeps the body open after [DONE] gets only this long.
_DRAIN_SECONDS = 0.05
_DRAIN_BYTES = 64 * 1024


class Pipe(Protocol):
    """What ``decoded`` drives: bytes in, events out, and whether the answer ended."""

    done: bool
    ended: bool
    decoded: int

    def feed(self, chunk: bytes) -> list[StreamEvent]: ...
    def close(self) -> list[StreamEvent]: ...
    def finish(self) -> list[StreamEvent]: ...


class _DecodePipe:
    """Bytes → a line/frame parser → a decoder of zeke events."""

    def __init__(self, parser: Any, dec: Any) -> None:
        self.parser = parser
        self.dec = dec

    done = property(lambda self: self.dec.done)
    ended = property(lambda self: self.dec.ended)
    decoded = property(lambda self: self.dec.decoded)

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return [e for item in self.parser.feed(chunk) for e in self.dec.feed(item)]

    def close(self) -> list[StreamEvent]:
        return [e for item in self.parser.close() for e in self.dec.feed(item)]

    def finish(self) -> list[StreamEvent]:
        return self.dec.finish()


class SSEPipe(_DecodePipe):
    """SSE bytes → OpenAI decoder."""

    def __init__(self) -> None:
        super().__init__(SSEParser(), OpenAIStreamDecoder())

    def whole(self, obj: Any) -> list[StreamEvent]:
        return self.dec.feed_completion(obj)


class NDJSONPipe(_DecodePipe):
    """NDJSON bytes → Ollama decoder. Also used for a plain JSON answer
    (stream ignored): Ollama writes that as one line, i.e. one NDJSON object."""

    def __init__(self) -> None:
        super().__init__(NDJSONParser(), OllamaStreamDecoder())


async def decoded(
    response: httpx.Response, pipe: Pipe, *, endpoint_name: str, read_timeout: float
) -> AsyncGenerator[StreamEvent, None]:
    """Read the body, decode it, and end with ``End`` whatever happens."""
    failure: str | None = None
    head = bytearray()
    chunks = response.aiter_bytes()
    exhausted = False
    try:
        if _is_json(response.headers.get("content-type", "")) and isinstance(pipe, SSEPipe):
            # A router that ignored stream:true answers one completion object.
            body, failure = await _read_all(chunks, endpoint_name, read_timeout)
            if failure is None:
                obj = load_json(body.decode("utf-8", "replace"))
                if isinstance(obj, dict):
                    for ev in pipe.whole(obj):
                        yield ev
                else:
                    failure = f"{endpoint_name} sent JSON zeke could not read: {snippet(body)}"
        else:
            grace = min(_AFTER_END_GRACE, read_timeout)
            while not pipe.done:
                try:
                    if pipe.ended:
                        chunk = None
                        with anyio.move_on_after(grace):
                            chunk = await chunks.__anext__()
                        if chunk is None:
                            break
                    else:
                        chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                except httpx.TimeoutException:
                    failure = (
                        f"{endpoint_name} sent nothing for {read_timeout:g} s; "
                        "the answer is incomplete."
                    )
                    break
                except httpx.DecodingError:
                    failure = f"{endpoint_name} sent a body that could not be decoded."
                    break
                except (httpx.HTTPError, httpx.StreamError):
                    failure = f"The connection to {endpoint_name} dropped mid-answer."
                    break
                if len(head) < _HEAD_BYTES:
                    head += chunk[: _HEAD_BYTES - len(head)]
                for ev in pipe.feed(chunk):
                    yield ev
            if pipe.done and not exhausted:
                await _drain(chunks)
            for ev in pipe.close():
                yield ev
        if not pipe.ended:
            if failure is None and pipe.decoded == 0:
                failure = (
                    f"{endpoint_name} sent something that is not a stream: {snippet(bytes(head))}"
                    if head.strip()
                    else f"{endpoint_name} closed the stream without sending anything."
                )
            if failure is not None:
                yield StreamFailure(message=failure)
        for ev in pipe.finish():
            yield ev
    finally:
        with anyio.CancelScope(shield=True):
            await chunks.aclose()


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows the end of the answer, briefly and capped (ignored)."""
    seen = 0
    with anyio.move_on_after(_DRAIN_SECONDS):
        try:
            async for chunk in chunks:
                seen += len(chunk)
                if seen > _DRAIN_BYTES:
                    return
        except (httpx.HTTPError, httpx.StreamError):
            return


async def _read_all(
    chunks: AsyncIterator[bytes], endpoint_name: str, read_timeout: float
) -> tuple[bytes, str | None]:
    buf = bytearray()
    try:
        async for chunk in chunks:
            buf += chunk
            if len(buf) > JSON_BODY_CAP:
                return bytes(buf), f"{endpoint_name} sent a response too large to read."
    except httpx.TimeoutException:
        return bytes(buf), f"{endpoint_name} sent nothing for {read_timeout:g} s."
    except (httpx.HTTPError, httpx.StreamError):
        return bytes(buf), f"The connection to {endpoint_name} dropped mid-answer."
    return bytes(buf), None


async def read_capped(
    response: httpx.Response, cap: int, seconds: float | None, *, strict: bool = False
) -> bytes:
    """At most ``cap`` bytes of the body. Error bodies are best effort (a failure
    just shortens them); with ``strict`` transport errors propagate."""
    buf = bytearray()
    with anyio.move_on_after(seconds if seconds is not None else math.inf):
        try:
            async for chunk in response.aiter_bytes():
                buf += chunk
                if len(buf) >= cap:
                    break
        except (httpx.HTTPError, httpx.StreamError):
            if strict:
                raise
    return bytes(buf[:cap])


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")
