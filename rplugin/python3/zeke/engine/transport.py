"""The host's one HTTP client's transport."""

from __future__ import annotations

import anyio
import httpx

# An idle pooled connection is given up after this long. Below the 5 s after which
# uvicorn (LiteLLM) and Node close theirs: reused at the very moment the server
# closes it, a request would fail with "Server disconnected"; a connection the server
# closed earlier is seen as readable and replaced before use.
_LIMITS = httpx.Limits(keepalive_expiry=4.0)


class LazyTLSTransport(httpx.AsyncBaseTransport):
    """http:// (OMEN and Ollama on the machine or the LAN) needs no TLS; building the
    verifying context loads the CA bundle, ~60 ms of every host start. It is made on
    the first https:// request instead."""

    def __init__(self) -> None:
        # Only ever used for http:// URLs (see below), so no TLS happens on it and
        # verify=False merely skips loading the CA bundle.
        self._plain = httpx.AsyncHTTPTransport(verify=False, trust_env=False, limits=_LIMITS)
        self._tls: httpx.AsyncHTTPTransport | None = None
        self._lock = anyio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https":
            return await self._plain.handle_async_request(request)
        async with self._lock:
            if self._tls is None:
                self._tls = await anyio.to_thread.run_sync(
                    lambda: httpx.AsyncHTTPTransport(trust_env=False, limits=_LIMITS)
                )
        return await self._tls.handle_async_request(request)

    async def aclose(self) -> None:
        await self._plain.aclose()
        if self._tls is not None:
            await self._tls.aclose()
