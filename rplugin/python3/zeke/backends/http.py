"""Streaming HTTP clients for OMEN (OpenAI SSE) and Ollama (NDJSON), on httpx + anyio.

The split of responsibilities:

* Before the stream starts, every problem RAISES a ``ZekeError`` (``unreachable``,
  ``timeout``, ``http``, ``config``) so the engine can decide on degraded mode.
* Once a 2xx response has started, problems are NOT raised: an idle read timeout,
  a dropped connection or unreadable bytes become ``StreamFailure`` then
  ``End(truncated=True)``, so the partial answer survives.

Timeouts are connect + per-read idle, never a total: a long answer that keeps
flowing is never cut. Leaving the context manager closes the response, which is
how cancellation reaches the server.
"""

from __future__ import annotations

import dataclasses
import email.utils
import html
import json
import math
import re
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from zeke.backends.events import (
    End,
    Meta,
    ReasoningDelta,
    StreamEvent,
    StreamFailure,
    TextDelta,
    ToolCall,
    ToolCalls,
)
from zeke.backends.ollama_stream import NDJSONParser, OllamaStreamDecoder
from zeke.backends.openai_stream import OpenAIStreamDecoder, load_json
from zeke.backends.sse import SSEParser
from zeke.errors import ZekeError
from zeke.scrub import Scrubber, StreamScrubber

__all__ = [
    "OpenedStream",
    "describe_http_error",
    "get_json",
    "open_ollama_stream",
    "open_openai_stream",
]

_ERROR_BODY_CAP = 64 * 1024
_ERROR_BODY_SECONDS = 5.0  # a server that stalls mid-error-page must not hold us
_JSON_BODY_CAP = 32 * 1024 * 1024
# After a finish_reason only a usage chunk and [DONE] can follow; a server that
# then keeps the connection open must not make the user wait a full read timeout.
_AFTER_END_GRACE = 2.0
_HEAD_BYTES = 512


@dataclass
class OpenedStream:
    """A started 2xx response. ``events`` ends right after ``End``."""

    status: int
    headers: dict[str, str]  # names lower-cased
    events: AsyncIterator[StreamEvent]


# --------------------------------------------------------------------------
# Public entry points


@asynccontextmanager
async def open_openai_stream(
    http: httpx.AsyncClient,
    url: str,
    body: dict,
    headers: dict[str, str],
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    first_byte_timeout: float | None = None,
    endpoint_name: str = "OMEN",
    secrets: Sequence[str] = (),
) -> AsyncIterator[OpenedStream]:
    """POST a streaming chat completion; yield the opened stream of events.

    Nothing the server sends back (headers, events, an error) carries a credential
    we sent or any of ``secrets``."""
    req_headers = dict(headers)
    if not any(k.lower() == "accept" for k in req_headers):
        req_headers["accept"] = "text/event-stream"
    async with _open(
        http,
        url,
        body,
        req_headers,
        pipe=_SSEPipe,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        first_byte_timeout=first_byte_timeout,
        endpoint_name=endpoint_name,
        secrets=secrets,
    ) as opened:
        yield opened


@asynccontextmanager
async def open_ollama_stream(
    http: httpx.AsyncClient,
    url: str,
    body: dict,
    *,
    connect_timeout: float = 3.0,
    read_timeout: float = 120.0,
    first_byte_timeout: float | None = None,
    endpoint_name: str = "Ollama",
    secrets: Sequence[str] = (),
) -> AsyncIterator[OpenedStream]:
    """POST to Ollama's ``/api/chat``; yield the opened stream of events (scrubbed of
    ``secrets`` like the OMEN stream)."""
    async with _open(
        http,
        url,
        body,
        {"accept": "application/x-ndjson"},
        pipe=_NDJSONPipe,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        first_byte_timeout=first_byte_timeout,
        endpoint_name=endpoint_name,
        secrets=secrets,
    ) as opened:
        yield opened


async def get_json(
    http: httpx.AsyncClient,
    url: str,
    *,
    timeout: float = 2.0,
    headers: dict | None = None,
    endpoint_name: str = "server",
    secrets: Sequence[str] = (),
) -> Any:
    """GET a JSON document; any failure is a ``ZekeError`` written for the user.
    The document and any error never carry a credential we sent or ``secrets``."""
    where = safe_url(url)
    scrub = Scrubber([*_sent_credentials(headers or {}), *secrets])
    try:
        async with http.stream("GET", url, headers=headers, timeout=httpx.Timeout(timeout)) as resp:
            if not 200 <= resp.status_code < 300:
                body = scrub.data(await _read_capped(resp, _ERROR_BODY_CAP, _ERROR_BODY_SECONDS))
                err = describe_http_error(
                    resp.status_code, resp.headers, body, endpoint_name=endpoint_name
                )
                err.headers = scrub.headers(_lower_headers(resp.headers))
                raise err
            data = scrub.data(await _read_capped(resp, _JSON_BODY_CAP, None, strict=True))
            status = resp.status_code
    except httpx.InvalidURL as e:
        raise _bad_url(endpoint_name, where) from e
    except httpx.HTTPError as e:
        raise _transport_error(
            e,
            endpoint_name=endpoint_name,
            where=where,
            connect_timeout=timeout,
            read_timeout=timeout,
        ) from e
    try:
        # scrubbed again once decoded: a JSON escape (\u0041) can hide a value in the bytes
        return scrub.deep(json.loads(data.decode("utf-8", "replace")))
    except (ValueError, RecursionError) as e:
        raise ZekeError(
            f"{endpoint_name} at {where} answered {status} but not with JSON: "
            f"{_snippet(data) or 'an empty body'}",
            kind="http",
            status=status,
        ) from e


def describe_http_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    endpoint_name: str,
    model: str | None = None,
) -> ZekeError:
    """Turn an HTTP error response into a message a user can act on.

    Understands OpenAI/OMEN ``{"error":{message,type,param,code}}`` (OMEN's code is
    an int), Ollama ``{"error":"..."}``, ``{"detail":...}`` and HTML error pages.
    Never echoes request headers; key-like strings in the body are masked.
    """
    e = endpoint_name
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    message, etype, code = _error_fields(bytes(body[:_ERROR_BODY_CAP]))
    detail = _redact(message) if message else ""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    said = f"{status}: {detail}" if detail else f"{status} {phrase}"
    code_s = code if code is not None else etype
    retry_after = _retry_after(lower.get("retry-after"))
    retryable = False

    if status == 401:
        text = (
            f"{e} rejected the API key ({said}). "
            "Set ZEKE_API_KEY or OMEN_API_KEY to a key the router accepts."
        )
    elif status == 403:
        text = (
            f"{e} refused the request ({said}). Check that the key in ZEKE_API_KEY or "
            "OMEN_API_KEY is allowed to do this."
        )
    elif status == 404:
        m = re.search(r"model\s+[\"'“]?([^\"'”\s]+)[\"'”]?\s+not found", detail)
        name = m.group(1) if m else model
        if name and ("ollama" in e.lower() or "try pulling" in detail):
            text = (
                f'{e} does not have the model "{name}" ({said}). '
                f"Run `ollama pull {name}` or pick another model with :ZekeModel."
            )
        elif name:
            text = f'{e} does not know the model "{name}" ({said}). Pick another with :ZekeModel.'
        else:
            text = f"{e}: model or address not found ({said}). Check the model name and the URL."
    elif status == 429:
        quota = "insufficient_quota" in (str(code_s), str(etype))
        if quota:
            text = (
                f"{e}: the budget/quota is exhausted ({said}). "
                "Retrying will not help until it is raised or renewed."
            )
        else:
            retryable = True
            text = f"{e}: rate limit or budget/quota exhausted ({said})."
            if retry_after is not None:
                text += f" Retry in {math.ceil(retry_after)} s."
    elif status in (400, 422):
        text = f"{e} rejected the request ({said})."
    elif status == 408:
        retryable = True
        text = f"{e} timed out waiting for the request ({said})."
    elif status == 413:
        text = f"The request is too large for {e} ({said}). Send a smaller selection."
    elif status == 500:
        text = f"{e} failed upstream ({status}: {detail or 'Internal server error'})."
    elif status in (502, 503, 504):
        retryable = True
        text = f"{e} is unavailable ({said})."
        if retry_after is not None:
            text += f" Retry in {math.ceil(retry_after)} s."
    elif 300 <= status < 400:
        text = f"{e} answered with a redirect ({said}). Check the address (api_base / ollama_host)."
    elif status >= 500:
        text = f"{e} failed ({said})."
    else:
        text = f"{e} answered {said}."
    return ZekeError(
        text,
        kind="http",
        status=status,
        code=code_s,
        retryable=retryable,
        retry_after=retry_after,
    )


# --------------------------------------------------------------------------
# Opening a stream


class _Pipe(Protocol):
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


class _SSEPipe(_DecodePipe):
    """SSE bytes → OpenAI decoder."""

    def __init__(self) -> None:
        super().__init__(SSEParser(), OpenAIStreamDecoder())

    def whole(self, obj: Any) -> list[StreamEvent]:
        return self.dec.feed_completion(obj)


class _NDJSONPipe(_DecodePipe):
    """NDJSON bytes → Ollama decoder. Also used for a plain JSON answer
    (stream ignored): Ollama writes that as one line, i.e. one NDJSON object."""

    def __init__(self) -> None:
        super().__init__(NDJSONParser(), OllamaStreamDecoder())


@asynccontextmanager
async def _open(
    http: httpx.AsyncClient,
    url: str,
    body: dict,
    headers: dict[str, str],
    *,
    pipe: type[_SSEPipe] | type[_NDJSONPipe],
    connect_timeout: float,
    read_timeout: float,
    first_byte_timeout: float | None,
    endpoint_name: str,
    secrets: Sequence[str] = (),
) -> AsyncIterator[OpenedStream]:
    where = safe_url(url)
    model = body.get("model") if isinstance(body, dict) else None
    # Everything the server sends back passes this once, here: a server echoing the
    # key must not reach the trace, the audit, the log or the editor.
    scrub = Scrubber([*_sent_credentials(headers), *secrets])
    # Until the headers arrive only first_byte_timeout bounds the wait (a slow model
    # may take longer to start than the per-read idle timeout allows).
    head_read = (
        read_timeout if first_byte_timeout is None else max(read_timeout, first_byte_timeout)
    )
    timeout = httpx.Timeout(
        connect=connect_timeout,
        read=head_read,
        write=max(connect_timeout, read_timeout),
        pool=connect_timeout,
    )
    try:
        request = http.build_request("POST", url, json=body, headers=headers, timeout=timeout)
    except httpx.InvalidURL as e:
        raise _bad_url(endpoint_name, where) from e
    except (TypeError, ValueError) as e:
        raise ZekeError(f"Could not encode the request for {endpoint_name}: {e}") from e

    try:
        if first_byte_timeout is not None:
            with anyio.fail_after(first_byte_timeout):
                response = await http.send(request, stream=True)
        else:
            response = await http.send(request, stream=True)
    except TimeoutError as e:
        raise ZekeError(
            f"{endpoint_name} at {where} did not start answering within {first_byte_timeout:g} s.",
            kind="timeout",
        ) from e
    except httpx.HTTPError as e:
        raise _transport_error(
            e,
            endpoint_name=endpoint_name,
            where=where,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        ) from e

    # From here on the per-read idle timeout (httpcore reads it from the request
    # when the body starts streaming).
    response.request.extensions["timeout"] = {
        **response.request.extensions.get("timeout", {}),
        "read": read_timeout,
    }
    try:
        if not 200 <= response.status_code < 300:
            data = await _read_capped(response, _ERROR_BODY_CAP, _ERROR_BODY_SECONDS)
            data = scrub.data(data)
            err = describe_http_error(
                response.status_code,
                response.headers,
                data,
                endpoint_name=endpoint_name,
                model=model if isinstance(model, str) else None,
            )
            err.headers = scrub.headers(_lower_headers(response.headers))
            raise err
        events = _events(
            response, pipe(), endpoint_name=endpoint_name, read_timeout=read_timeout, scrub=scrub
        )
        try:
            yield OpenedStream(
                status=response.status_code,
                headers=scrub.headers(_lower_headers(response.headers)),
                events=events,
            )
        finally:
            with anyio.CancelScope(shield=True):
                await events.aclose()
    finally:
        # Shielded: when the caller is being cancelled this close is exactly
        # what tells the server to stop generating.
        with anyio.CancelScope(shield=True):
            await response.aclose()


async def _events(
    response: httpx.Response,
    pipe: _Pipe,
    *,
    endpoint_name: str,
    read_timeout: float,
    scrub: Scrubber,
) -> AsyncGenerator[StreamEvent, None]:
    """The decoded body, with every text field scrubbed of the secrets."""
    inner = _decoded(response, pipe, endpoint_name=endpoint_name, read_timeout=read_timeout)
    if not scrub:
        try:
            async for ev in inner:
                yield ev
        finally:
            with anyio.CancelScope(shield=True):
                await inner.aclose()
        return
    text, reasoning = scrub.stream(), scrub.stream()
    try:
        async for ev in inner:
            if isinstance(ev, End):
                for flushed in _flush(text, reasoning):
                    yield flushed
                if isinstance(ev.finish_reason, str):  # kept in the stats and last()
                    ev = dataclasses.replace(ev, finish_reason=scrub.text(ev.finish_reason))
                yield ev
                continue
            clean = _scrubbed(ev, scrub, text, reasoning)
            if clean is not None:
                yield clean
        for flushed in _flush(text, reasoning):
            yield flushed
    finally:
        with anyio.CancelScope(shield=True):
            await inner.aclose()


def _scrubbed(
    ev: StreamEvent, scrub: Scrubber, text: StreamScrubber, reasoning: StreamScrubber
) -> StreamEvent | None:
    """One event without the secrets; None for a text piece held back for now."""
    if isinstance(ev, TextDelta):
        piece = text.feed(ev.text)
        return TextDelta(piece) if piece else None
    if isinstance(ev, ReasoningDelta):
        piece = reasoning.feed(ev.text)
        return ReasoningDelta(piece) if piece else None
    if isinstance(ev, Meta):
        return Meta(
            model=scrub.text(ev.model) if isinstance(ev.model, str) else ev.model,
            routing=scrub.deep(ev.routing) if ev.routing is not None else None,
        )
    if isinstance(ev, ToolCalls):
        return ToolCalls([_scrubbed_call(c, scrub) for c in ev.calls])
    if isinstance(ev, StreamFailure):
        code = scrub.text(ev.code) if isinstance(ev.code, str) else ev.code
        return StreamFailure(message=scrub.text(ev.message), code=code)
    return ev  # Usage: numbers only


def _scrubbed_call(call: ToolCall, scrub: Scrubber) -> ToolCall:
    return dataclasses.replace(
        call,
        id=scrub.text(call.id),
        name=scrub.text(call.name),
        arguments=scrub.deep(call.arguments) if call.arguments is not None else None,
        raw_arguments=scrub.text(call.raw_arguments),
        parse_error=scrub.text(call.parse_error) if call.parse_error else call.parse_error,
    )


def _flush(text: StreamScrubber, reasoning: StreamScrubber) -> list[StreamEvent]:
    """The held-back tails, at the end of the stream."""
    out: list[StreamEvent] = []
    if rest := text.flush():
        out.append(TextDelta(rest))
    if rest := reasoning.flush():
        out.append(ReasoningDelta(rest))
    return out


async def _decoded(
    response: httpx.Response, pipe: _Pipe, *, endpoint_name: str, read_timeout: float
) -> AsyncGenerator[StreamEvent, None]:
    """Read the body, decode it, and end with ``End`` whatever happens."""
    failure: str | None = None
    head = bytearray()
    chunks = response.aiter_bytes()
    try:
        if _is_json(response.headers.get("content-type", "")) and isinstance(pipe, _SSEPipe):
            # A router that ignored stream:true answers one completion object.
            body, failure = await _read_all(chunks, endpoint_name, read_timeout)
            if failure is None:
                obj = load_json(body.decode("utf-8", "replace"))
                if isinstance(obj, dict):
                    for ev in pipe.whole(obj):
                        yield ev
                else:
                    failure = f"{endpoint_name} sent JSON zeke could not read: {_snippet(body)}"
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
            for ev in pipe.close():
                yield ev
        if not pipe.ended:
            if failure is None and pipe.decoded == 0:
                failure = (
                    f"{endpoint_name} sent something that is not a stream: {_snippet(bytes(head))}"
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


async def _read_all(
    chunks: AsyncIterator[bytes], endpoint_name: str, read_timeout: float
) -> tuple[bytes, str | None]:
    buf = bytearray()
    try:
        async for chunk in chunks:
            buf += chunk
            if len(buf) > _JSON_BODY_CAP:
                return bytes(buf), f"{endpoint_name} sent a response too large to read."
    except httpx.TimeoutException:
        return bytes(buf), f"{endpoint_name} sent nothing for {read_timeout:g} s."
    except (httpx.HTTPError, httpx.StreamError):
        return bytes(buf), f"The connection to {endpoint_name} dropped mid-answer."
    return bytes(buf), None


async def _read_capped(
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


# --------------------------------------------------------------------------
# Helpers


def safe_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe to show and log."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, host + port, parts.path, "", ""))
    except ValueError:
        return "(an invalid URL)"


def _bad_url(endpoint_name: str, where: str) -> ZekeError:
    return ZekeError(
        f"The address for {endpoint_name} ({where}) is not a usable http(s) URL.", kind="config"
    )


def _transport_error(
    exc: httpx.HTTPError,
    *,
    endpoint_name: str,
    where: str,
    connect_timeout: float,
    read_timeout: float,
) -> ZekeError:
    e = endpoint_name
    if isinstance(exc, httpx.ConnectTimeout):
        return ZekeError(
            f"{e} at {where} did not accept a connection within {connect_timeout:g} s.",
            kind="timeout",
        )
    if isinstance(exc, httpx.TimeoutException):
        return ZekeError(
            f"{e} at {where} accepted the connection but did not answer within {read_timeout:g} s.",
            kind="timeout",
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return _bad_url(e, where)
    if isinstance(exc, httpx.ConnectError):
        return ZekeError(
            f"{e} is not reachable at {where}: {_connect_reason(exc)}", kind="unreachable"
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return ZekeError(
            f"{e} at {where} closed the connection without answering.", kind="unreachable"
        )
    if isinstance(exc, httpx.ProxyError):
        return ZekeError(f"{e} is not reachable at {where}: the proxy failed.", kind="unreachable")
    return ZekeError(f"{e} is not reachable at {where}: the connection failed.", kind="unreachable")


def _connect_reason(exc: BaseException) -> str:
    seen: set[int] = set()
    cur: BaseException | None = exc
    texts = []
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(cur, TimeoutError):
            return "the connection timed out"
        texts.append(str(cur).lower())
        cur = cur.__cause__ or cur.__context__
    text = " ".join(texts)
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "name resolution" in text:
        return "the host name could not be resolved"
    if "unreachable" in text or "no route" in text:
        return "no route to the host"
    return "the connection failed"


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers.multi_items():
        k = k.lower()
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")


def _error_fields(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, type, code) from an error body; message may be a snippet."""
    obj = load_json(body.decode("utf-8", "replace")) if body.strip() else None
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        obj = obj[0]  # some gateways wrap the error in a list
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            msg = err.get("message")
            etype = err.get("type")
            code = err.get("code")
            return (
                _one_line(msg) if isinstance(msg, str) else "",
                etype if isinstance(etype, str) and etype else None,
                None if code is None or isinstance(code, (dict, list)) else str(code),
            )
        if isinstance(err, str):
            return _one_line(err), None, None
        for key in ("message", "detail"):
            val = obj.get(key)
            if isinstance(val, str):
                return _one_line(val), None, None
            if val is not None:
                return _one_line(json.dumps(val, ensure_ascii=False)), None, None
        return "", None, None
    return _snippet(body), None, None


_TAGS = re.compile(r"<[^>]*>")
_SCRIPTS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def _snippet(body: bytes, limit: int = 200) -> str:
    """A short, single-line, tag-free excerpt of a body (HTML pages included)."""
    text = body[:_ERROR_BODY_CAP].decode("utf-8", "replace")
    if re.search(r"<(!doctype|html|head|body|title|h1|p|div)\b", text, re.IGNORECASE):
        title = _TITLE.search(text)
        if title and title.group(1).strip():
            text = title.group(1)
        else:
            text = _TAGS.sub(" ", _SCRIPTS.sub(" ", text))
        text = html.unescape(text)
    return _redact(_one_line(text, limit))


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    (re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}"), "[redacted]"),
    (
        re.compile(
            r"(?i)((?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
        ),
        r"\1[redacted]",
    ),
]


def _sent_credentials(headers: Mapping[str, str]) -> list[str]:
    """The secrets we sent (``Authorization: Bearer <key>``, ``x-api-key``): a server may
    echo them back in an error, and they must not reach a message, the log or the cache."""
    out = []
    for name, value in headers.items():
        if name.lower() in ("authorization", "x-api-key", "api-key") and value:
            secret = value.split(None, 1)[-1].strip()
            if len(secret) >= 8:
                out.append(secret)
    return out


def _redact(text: str) -> str:
    """Mask key-like strings a server might echo back in an error body."""
    for pattern, repl in _SECRETS:
        text = pattern.sub(repl, text)
    return text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        secs = when.timestamp() - time.time()
    if not math.isfinite(secs):
        return None
    return max(0.0, secs)
