"""Opening a request to a model server: the two streaming POSTs and the JSON GET.

Here the timeouts are set (connect, time to first byte, then a per-read idle
timeout, never a total), every failure before an answer becomes a ``ZekeError``,
and everything the server sends back is scrubbed of the credentials we sent.
Leaving an opened stream closes the response, which is how cancellation reaches
the server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from zeke.backends.events import StreamEvent
from zeke.backends.http.body import JSON_BODY_CAP, NDJSONPipe, SSEPipe, decoded, read_capped
from zeke.backends.http.failures import (
    ERROR_BODY_CAP,
    bad_url,
    describe_http_error,
    safe_url,
    snippet,
    transport_error,
)
from zeke.backends.http.scrubbing import scrubbed_events
from zeke.errors import ZekeError
from zeke.scrub import Scrubber

_ERROR_BODY_SECONDS = 5.0  # a server that stalls mid-error-page must not hold us


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
        pipe=SSEPipe,
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
        pipe=NDJSONPipe,
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
                body = scrub.data(await read_capped(resp, ERROR_BODY_CAP, _ERROR_BODY_SECONDS))
                err = describe_http_error(
                    resp.status_code, resp.headers, body, endpoint_name=endpoint_name
                )
                err.headers = scrub.headers(_lower_headers(resp.headers))
                raise err
            data = scrub.data(await read_capped(resp, JSON_BODY_CAP, None, strict=True))
            status = resp.status_code
    except httpx.InvalidURL as e:
        raise bad_url(endpoint_name, where) from e
    except httpx.HTTPError as e:
        raise transport_error(
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
            f"{snippet(data) or 'an empty body'}",
            kind="http",
            status=status,
        ) from e


# --------------------------------------------------------------------------
# Opening a stream


@asynccontextmanager
async def _open(
    http: httpx.AsyncClient,
    url: str,
    body: dict,
    headers: dict[str, str],
    *,
    pipe: type[SSEPipe] | type[NDJSONPipe],
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
        raise bad_url(endpoint_name, where) from e
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
        raise transport_error(
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
            data = await read_capped(response, ERROR_BODY_CAP, _ERROR_BODY_SECONDS)
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
        events = scrubbed_events(
            decoded(response, pipe(), endpoint_name=endpoint_name, read_timeout=read_timeout),
            scrub,
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


# --------------------------------------------------------------------------
# Helpers


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


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers.multi_items():
        k = k.lower()
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out
