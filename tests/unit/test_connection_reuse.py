"""One connection for answers in a row: a stream read to its end leaves its
connection in the host's pool, so the next request does not open a new one (a TCP
connect on loopback, a round trip and a TLS handshake to a remote router).

Against the fake OMEN and the fake Ollama on 127.0.0.1, which record each request's
client port: two requests on one connection share it.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from fakes import ollama as fl
from fakes import omen as fo
from zeke.backends import http as client
from zeke.backends.events import End, TextDelta

BODY = {"model": "deepseek-coder:14b", "messages": [{"role": "user", "content": "hi"}]}


def answers(opens: list[Any]) -> list[list[Any]]:
    """Each opener's stream read to its end, one after another on one client."""

    async def main() -> list[list[Any]]:
        got = []
        async with httpx.AsyncClient() as http:
            for open_stream in opens:
                async with open_stream(http) as s:
                    got.append([e async for e in s.events])
        return got

    return anyio.run(main)


def openai_stream(url: str) -> Any:
    return lambda http: client.open_openai_stream(
        http, url + "/chat/completions", {**BODY, "stream": True}, {}
    )


def text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_openai_answers_in_a_row_share_one_connection(omen: fo.FakeOmen) -> None:
    omen.queue(fo.stream("first answer"), fo.stream("second answer"), fo.stream("third"))
    got = answers([openai_stream(omen.url)] * 3)
    assert [text(evs) for evs in got] == ["first answer", "second answer", "third"]
    ports = {r.port for r in omen.chat_requests()}
    assert len(omen.chat_requests()) == 3 and len(ports) == 1, ports


def test_ollama_answers_in_a_row_share_one_connection(ollama: fl.FakeOllama) -> None:
    ollama.queue(fl.ollama_stream("one two"), fl.ollama_stream("three four"))
    body = {**BODY, "stream": True}
    opener = lambda http: client.open_ollama_stream(http, ollama.url + "/api/chat", body)  # noqa: E731
    got = answers([opener, opener])
    assert [text(evs) for evs in got] == ["one two", "three four"]
    assert len({r.port for r in ollama.chat_requests()}) == 1


def test_a_body_kept_open_after_done_still_ends_the_answer(omen: fo.FakeOmen) -> None:
    # [DONE], then neither the chunked terminator nor a close: the answer ends all
    # the same, its connection is given up, and the next request opens another
    frames = fo.stream("kept open").frames("deepseek-coder:14b")
    omen.queue(fo.stall_after(frames), fo.stream("next one"))
    first, second = answers([openai_stream(omen.url)] * 2)
    assert text(first) == "kept open" and first[-1] == End("stop", truncated=False)
    assert text(second) == "next one"
    assert len({r.port for r in omen.chat_requests()}) == 2
