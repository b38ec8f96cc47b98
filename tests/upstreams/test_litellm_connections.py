"""zeke's HTTP client against LiteLLM's real proxy: answers in a row travel on one
connection. A stream is read past ``[DONE]`` to the end of its body, so httpcore
keeps the connection for the next request (a connection whose response was not read
to its end is dropped, and the next request pays a new connect).

The connections are counted by a loopback forwarder in front of the proxy: it
accepts each TCP connection zeke opens and relays it to LiteLLM unchanged.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import anyio
import httpx
import pytest

from fakes import omen as fo
from realprograms import MASTER_KEY, LiteLLMProxy
from zeke.backends import http as client
from zeke.backends.events import TextDelta

pytestmark = [pytest.mark.litellm]


class CountingForwarder:
    """127.0.0.1:port → ``target``, counting the connections it accepts."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def forwarder(litellm: LiteLLMProxy) -> Iterator[CountingForwarder]:
    fw = CountingForwarder(("127.0.0.1", litellm.port))
    yield fw
    fw.close()


def test_answers_in_a_row_through_litellm_share_one_connection(backend, forwarder):
    backend.queue(fo.stream("first answer"), fo.stream("second answer"), fo.stream("third"))
    url = f"http://127.0.0.1:{forwarder.port}/v1/chat/completions"
    body = {"model": "code-fast", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}

    async def main() -> list[str]:
        texts = []
        async with httpx.AsyncClient(trust_env=False) as http:
            for _ in range(3):
                async with client.open_openai_stream(http, url, body, headers) as s:
                    events = [e async for e in s.events]
                texts.append("".join(e.text for e in events if isinstance(e, TextDelta)))
        return texts

    assert anyio.run(main) == ["first answer", "second answer", "third"]
    assert forwarder.accepted == 1
