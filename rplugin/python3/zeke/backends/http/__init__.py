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

The parts: ``opening`` (the requests, their timeouts and the scrubber), ``body``
(capped reads and the decode pipes), ``scrubbing`` (events without secrets) and
``failures`` (the messages a user reads, safe URLs).
"""

from __future__ import annotations

from zeke.backends.http.failures import describe_http_error, safe_url
from zeke.backends.http.opening import (
    OpenedStream,
    get_json,
    open_ollama_stream,
    open_openai_stream,
)

__all__ = [
    "OpenedStream",
    "describe_http_error",
    "get_json",
    "open_ollama_stream",
    "open_openai_stream",
    "safe_url",
]
