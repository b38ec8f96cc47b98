"""backends/http.py against the fake OMEN and fake Ollama on 127.0.0.1 (and the fakes themselves)."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from fakes import ollama as fl
from fakes import omen as fo
from fakes.serving import cut
from zeke.backends import http as client
from zeke.backends.events import End, Meta, StreamFailure, TextDelta, ToolCalls, Usage
from zeke.errors import ZekeError

SECRET = "sk-test-never-shown-4242"
TLS = ssl.create_default_context()  # built once: each client would build its own (slow)
BODY = {
    "model": "deepseek-coder:14b",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
}


@pytest.fixture
def omen() -> Iterator[fo.FakeOmen]:
    with fo.FakeOmen("designed") as server:
        yield server


@pytest.fixture
def today() -> Iterator[fo.FakeOmen]:
    with fo.FakeOmen("today") as server:
        yield server


@pytest.fixture
def ollama() -> Iterator[fl.FakeOllama]:
    with fl.FakeOllama() as server:
        yield server


class Result:
    def __init__(self, status: int, headers: dict[str, str], events: list[Any]) -> None:
        self.status, self.headers, self.events = status, headers, events

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def openai(url: str, body: dict | None = None, **kw: Any) -> Result:
    headers = kw.pop("headers", {"Authorization": f"Bearer {SECRET}"})

    async def main() -> Result:
        async with (
            httpx.AsyncClient(verify=TLS) as http,
            client.open_openai_stream(
                http, url + "/chat/completions", body or BODY, headers, **kw
            ) as s,
        ):
            return Result(s.status, s.headers, [e async for e in s.events])

    return anyio.run(main)


def ollama_chat(url: str, model: str = "deepseek-coder:14b", **kw: Any) -> Result:
    async def main() -> Result:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        async with (
            httpx.AsyncClient(verify=TLS) as http,
            client.open_ollama_stream(http, url + "/api/chat", body, **kw) as s,
        ):
            return Result(s.status, s.headers, [e async for e in s.events])

    return anyio.run(main)


def openai_error(url: str, body: dict | None = None, **kw: Any) -> ZekeError:
    with pytest.raises(ZekeError) as info:
        openai(url, body, **kw)
    err = info.value
    assert SECRET not in err.message and "Traceback" not in err.message
    return err


# -- streaming happy paths ----------------------------------------------------------


def test_designed_stream_split_randomly_with_trace_headers(omen: fo.FakeOmen) -> None:
    text = "Voilà — a streamed answer with ünïcode 🎉 and several words in it."
    omen.queue(fo.stream(text, split="random", keepalive=True, line_ending="\r\n"))
    r = openai(omen.url, {**BODY, "model": "auto"})
    assert r.status == 200
    assert r.text == text
    assert r.headers["x-omen-provider"] == "ollama"
    assert r.headers["x-omen-model"] == "deepseek-coder:14b"
    assert {"x-omen-trace-id", "x-omen-cost-est", "x-omen-routing-reason"} <= r.headers.keys()
    assert r.of(Meta)[0].model == "deepseek-coder:14b"
    assert len(r.of(Usage)) == 1
    assert r.events[-1] == End("stop", truncated=False)
    (req,) = omen.chat_requests()
    assert req.headers["authorization"] == f"Bearer {SECRET}"
    assert req.headers["accept"] == "text/event-stream"
    assert req.body["model"] == "auto"


def test_bytewise_stream_with_tool_calls(omen: fo.FakeOmen) -> None:
    omen.queue(
        fo.stream(
            "Reading it.", split="bytewise", tool_calls=[("read_file", '{"path": "src/é.py"}')]
        )
    )
    r = openai(omen.url)
    (calls,) = r.of(ToolCalls)
    assert [(c.name, c.arguments) for c in calls.calls] == [("read_file", {"path": "src/é.py"})]
    assert r.events[-2:] == [calls, End("stop", truncated=False)]


def test_today_router_from_ollama_ends_without_done(today: fo.FakeOmen) -> None:
    today.queue(fo.stream("local answer"))
    r = openai(today.url)
    assert r.text == "local answer"
    assert r.events[-1] == End("stop", truncated=False)
    assert not any(k.startswith("x-omen-") for k in r.headers)
    assert r.of(Meta)[0].model == "deepseek-coder:14b"  # echoes the request


def test_anthropic_frames_passed_through(omen: fo.FakeOmen) -> None:
    omen.queue(fo.anthropic_raw("Hello from Claude.", split="random"))
    r = openai(omen.url)
    assert r.text == "Hello from Claude."
    assert r.of(Usage)[0].tokens_in == 25
    assert r.events[-1] == End("stop", truncated=False)


def test_json_response_instead_of_sse(omen: fo.FakeOmen) -> None:
    completion = {
        "id": "c",
        "object": "chat.completion",
        "model": "gpt-5-codex",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "all at once"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 3},
    }
    omen.queue(
        fo.raw([json.dumps(completion).encode()], headers={"content-type": "application/json"})
    )
    r = openai(omen.url)
    assert r.text == "all at once"
    assert r.of(Usage) == [Usage(4, 3, None)]
    assert r.events[-1] == End("stop", truncated=False)


def test_slow_stream_is_not_cut_by_a_total_timeout(omen: fo.FakeOmen) -> None:
    # 9 writes 0.1 s apart: longer than read_timeout overall, never idle that long.
    omen.queue(fo.stream("one two three four five", delay=0.1))
    r = openai(omen.url, read_timeout=0.4)
    assert r.text == "one two three four five"
    assert r.events[-1].truncated is False


def test_slow_first_byte_within_the_timeout(omen: fo.FakeOmen) -> None:
    omen.queue(fo.stream("late but fine", first_byte_delay=0.3))
    assert openai(omen.url, first_byte_timeout=3.0).text == "late but fine"


# -- problems after the stream started: events, not exceptions -------------------------

FIRST = b'data: {"choices":[{"index":0,"delta":{"content":"half of it"}}]}\n\n'


def test_dropped_connection_keeps_text_and_is_truncated(omen: fo.FakeOmen) -> None:
    omen.queue(fo.close_after([FIRST, b'data: {"choices":[{"ind']))
    r = openai(omen.url)
    assert r.text == "half of it"
    assert len(r.of(StreamFailure)) == 1 and "dropped" in r.of(StreamFailure)[0].message
    assert r.events[-1] == End(None, truncated=True)


def test_read_idle_timeout_mid_stream(omen: fo.FakeOmen) -> None:
    omen.queue(fo.stall_after([FIRST]))
    t0 = time.monotonic()
    r = openai(omen.url, read_timeout=0.3)
    assert time.monotonic() - t0 < 3
    assert r.text == "half of it"
    (failure,) = r.of(StreamFailure)
    assert "0.3 s" in failure.message
    assert r.events[-1] == End(None, truncated=True)


def test_stall_after_finish_reason_ends_cleanly(omen: fo.FakeOmen) -> None:
    finish = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    omen.queue(fo.stall_after([FIRST, finish]))
    r = openai(omen.url, read_timeout=0.4)
    assert r.text == "half of it"
    assert r.of(StreamFailure) == []
    assert r.events[-1] == End("stop", truncated=False)


def test_clean_eof_without_end_marker_is_truncated(omen: fo.FakeOmen) -> None:
    omen.queue(fo.stream("cut short", finish_reason=None, done=False, usage=False))
    r = openai(omen.url)
    assert r.text == "cut short"
    assert r.events[-1] == End(None, truncated=True)


def test_in_stream_error_object(omen: fo.FakeOmen) -> None:
    err = b'data: {"error":{"message":"upstream failed","type":"api_error","code":502}}\n\n'
    omen.queue(fo.raw([FIRST, err]))
    r = openai(omen.url)
    assert r.of(StreamFailure) == [StreamFailure("upstream failed", "502")]
    assert r.text == "half of it" and r.events[-1].truncated


def test_garbage_200_body_is_a_stream_failure(omen: fo.FakeOmen) -> None:
    page = (
        b"<html><head><title>Captive portal</title></head><body>" + b"x" * 5000 + b"</body></html>"
    )
    omen.queue(fo.raw([page], headers={"content-type": "text/html"}))
    r = openai(omen.url)
    (failure,) = r.of(StreamFailure)
    assert "Captive portal" in failure.message and "<" not in failure.message
    assert len(failure.message) < 300
    assert r.events[-1] == End(None, truncated=True)


def test_empty_200_body(omen: fo.FakeOmen) -> None:
    omen.queue(fo.raw([]))
    r = openai(omen.url)
    assert "without sending anything" in r.of(StreamFailure)[0].message
    assert r.events[-1].truncated


# -- problems before the stream: ZekeError ---------------------------------------------


def test_unreachable_names_the_url(omen: fo.FakeOmen) -> None:
    url = omen.url
    omen.stop()
    err = openai_error(url)
    assert err.kind == "unreachable"
    assert err.message == f"OMEN is not reachable at {url}/chat/completions: connection refused"


def test_credentials_in_the_url_are_never_shown() -> None:
    port = _free_port()
    err = openai_error(f"http://user:{SECRET}@127.0.0.1:{port}/v1?key={SECRET}")
    assert f"127.0.0.1:{port}/v1" in err.message


def test_hung_server_first_byte_timeout(omen: fo.FakeOmen) -> None:
    omen.queue(fo.hang())
    err = openai_error(omen.url, first_byte_timeout=0.3)
    assert err.kind == "timeout" and "0.3 s" in err.message


def test_hung_server_read_timeout_before_headers(omen: fo.FakeOmen) -> None:
    omen.queue(fo.hang())
    err = openai_error(omen.url, read_timeout=0.3)
    assert err.kind == "timeout"
    t0 = time.monotonic()
    omen.stop()  # a hung reply never blocks stop()
    assert time.monotonic() - t0 < 1.5


def test_401_empty_body(omen: fo.FakeOmen) -> None:
    omen.api_key = "the-right-key"
    err = openai_error(omen.url)
    assert err.kind == "http" and err.status == 401
    assert "401" in err.message and "ZEKE_API_KEY" in err.message and "OMEN_API_KEY" in err.message
    assert not err.retryable


def test_today_auto_is_an_opaque_500(today: fo.FakeOmen) -> None:
    err = openai_error(today.url, {**BODY, "model": "auto"})
    assert err.message == "OMEN failed upstream (500: Internal server error)."
    assert err.status == 500 and not err.retryable and err.code == "500"


def test_today_non_string_tag_is_a_400(today: fo.FakeOmen) -> None:
    err = openai_error(today.url, {**BODY, "tags": {"intent": "code", "size": 3}})
    assert err.status == 400 and "400" in err.message and "tags.size" in err.message


def test_429_with_retry_after(omen: fo.FakeOmen) -> None:
    body = {"error": {"message": "Rate limit exceeded", "type": "api_error", "code": 429}}
    omen.queue(fo.error(429, body, headers={"Retry-After": "7"}))
    err = openai_error(omen.url)
    assert "429" in err.message and "Rate limit exceeded" in err.message
    assert "Retry in 7 s" in err.message
    assert err.retryable and err.retry_after == 7


def test_429_insufficient_quota_is_not_retryable(omen: fo.FakeOmen) -> None:
    body = {
        "error": {
            "message": "You exceeded your current quota",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    omen.queue(fo.error(429, body))
    err = openai_error(omen.url)
    assert not err.retryable and "quota" in err.message and "429" in err.message


def test_404_names_the_model(omen: fo.FakeOmen) -> None:
    err = openai_error(omen.url, {**BODY, "model": "no-such-model"})
    assert err.status == 404 and '"no-such-model"' in err.message and "404" in err.message


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retryable(omen: fo.FakeOmen, status: int) -> None:
    omen.queue(
        fo.error(
            status,
            {"error": {"message": "No providers available", "type": "api_error", "code": status}},
        )
    )
    err = openai_error(omen.url)
    assert err.retryable and str(status) in err.message and "No providers available" in err.message


def test_html_error_page_becomes_a_short_snippet(omen: fo.FakeOmen) -> None:
    page = (
        b"<!DOCTYPE html><html><head><style>body{}</style></head><body><h1>502 Bad Gateway</h1>"
        + b"<p>nginx</p>" * 2000
        + b"</body></html>"
    )
    omen.queue(fo.error(502, page))
    err = openai_error(omen.url)
    assert "502 Bad Gateway" in err.message and "<" not in err.message
    assert len(err.message) < 400


def test_key_echoed_in_an_error_body_is_masked(omen: fo.FakeOmen) -> None:
    body = {
        "error": {"message": f"Incorrect API key provided: {SECRET}. Bearer {SECRET}", "code": 401}
    }
    omen.queue(fo.error(401, body))
    err = openai_error(omen.url)  # asserts the key is not in the message
    assert "401" in err.message


# -- Ollama ----------------------------------------------------------------------------


def test_ollama_stream(ollama: fl.FakeOllama) -> None:
    ollama.queue(fl.ollama_stream("Local ünïcode 🎉 answer", split="bytewise"))
    r = ollama_chat(ollama.url)
    assert r.text == "Local ünïcode 🎉 answer"
    assert r.of(Usage)[0].tokens_in == 26 and r.of(Usage)[0].cost_usd is None
    assert r.events[-1] == End("stop", truncated=False)
    assert r.headers["content-type"] == "application/x-ndjson"


def test_ollama_tool_calls(ollama: fl.FakeOllama) -> None:
    ollama.queue(
        fl.ollama_stream("ok", tool_calls=[("read_file", {"path": "a.py"}), ("echo", {"x": 1})])
    )
    (calls,) = ollama_chat(ollama.url).of(ToolCalls)
    assert [(c.id, c.name, c.arguments) for c in calls.calls] == [
        ("call_0", "read_file", {"path": "a.py"}),
        ("call_1", "echo", {"x": 1}),
    ]


def test_ollama_error_line_mid_stream(ollama: fl.FakeOllama) -> None:
    ollama.queue(fl.ollama_stream("one two three", error_after=2))
    r = ollama_chat(ollama.url)
    assert r.text == "one two "
    assert "unexpected EOF" in r.of(StreamFailure)[0].message
    assert r.events[-1] == End(None, truncated=True)


def test_ollama_model_not_pulled(ollama: fl.FakeOllama) -> None:
    with pytest.raises(ZekeError) as info:
        ollama_chat(ollama.url, model="qwen2.5-coder:7b")
    assert info.value.status == 404
    assert "ollama pull qwen2.5-coder:7b" in info.value.message


def test_ollama_unreachable() -> None:
    with pytest.raises(ZekeError) as info:
        ollama_chat(f"http://127.0.0.1:{_free_port()}")
    assert info.value.kind == "unreachable" and "Ollama is not reachable" in info.value.message


# -- cancellation ------------------------------------------------------------------------


def test_cancelling_the_reader_closes_the_connection(omen: fo.FakeOmen) -> None:
    omen.queue(fo.stream(" ".join(["word"] * 60), delay=0.05))  # ~3 s if read to the end

    async def main() -> None:
        async with httpx.AsyncClient(verify=TLS) as http:
            first = anyio.Event()

            async def consume() -> None:
                async with client.open_openai_stream(
                    http, omen.url + "/chat/completions", BODY, {}
                ) as s:
                    async for ev in s.events:
                        if isinstance(ev, TextDelta):
                            first.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await first.wait()
                tg.cancel_scope.cancel()

    t0 = time.monotonic()
    anyio.run(main)
    (req,) = omen.chat_requests()
    assert req.disconnected.wait(1.5), "the server never saw the client go away"
    assert time.monotonic() - t0 < 2.5


def test_leaving_the_context_early_closes_the_connection(omen: fo.FakeOmen) -> None:
    omen.queue(fo.stall_after([FIRST]))

    async def main() -> None:
        async with (
            httpx.AsyncClient(verify=TLS) as http,
            client.open_openai_stream(http, omen.url + "/chat/completions", BODY, {}) as s,
        ):
            async for ev in s.events:
                if isinstance(ev, TextDelta):
                    break

    anyio.run(main)
    assert omen.chat_requests()[0].disconnected.wait(1.5)


# -- get_json and describe_http_error ----------------------------------------------------


def get(url: str, **kw: Any) -> Any:
    async def main() -> Any:
        async with httpx.AsyncClient(verify=TLS) as http:
            return await client.get_json(http, url, **kw)

    return anyio.run(main)


def test_get_json_models_and_ready(omen: fo.FakeOmen) -> None:
    models = get(omen.url + "/models")
    ids = [m["id"] for m in models["data"]]
    assert {"deepseek-coder:14b", "gpt-5-codex", "claude-3-5-sonnet"} <= set(ids)
    assert all({"provider", "pricing", "context_length"} <= m.keys() for m in models["data"])
    assert get(omen.base + "/ready") == {"status": "ready"}
    omen.ready_status = 503
    with pytest.raises(ZekeError) as info:
        get(omen.base + "/ready", endpoint_name="OMEN")
    assert info.value.status == 503 and info.value.retryable


def test_get_json_not_json_and_unreachable(ollama: fl.FakeOllama) -> None:
    with pytest.raises(ZekeError) as info:
        get(ollama.url + "/", endpoint_name="Ollama")
    assert "not with JSON" in info.value.message and "Ollama is running" in info.value.message
    assert get(ollama.url + "/api/version")["version"]
    tags = get(ollama.url + "/api/tags")
    assert tags["models"][0]["name"] == "deepseek-coder:14b"
    assert {"family", "parameter_size", "quantization_level"} <= tags["models"][0]["details"].keys()
    url = ollama.url
    ollama.stop()
    with pytest.raises(ZekeError) as info:
        get(url + "/api/tags", endpoint_name="Ollama")
    assert info.value.kind == "unreachable"


def test_get_json_timeout() -> None:
    # A socket that listens but never accepts: the connection is made, no answer comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(ZekeError) as info:
            get(f"http://127.0.0.1:{port}/ready", timeout=0.3, endpoint_name="OMEN")
        assert time.monotonic() - t0 < 2
    assert info.value.kind == "timeout" and "0.3 s" in info.value.message


def test_describe_http_error_shapes() -> None:
    e = client.describe_http_error(
        404,
        {"Content-Type": "application/json"},
        b'{"error":"model \\"llama3\\" not found, try pulling it first"}',
        endpoint_name="Ollama",
    )
    assert "ollama pull llama3" in e.message and "404" in e.message
    e = client.describe_http_error(
        404,
        {},
        b'{"error":{"message":"model \'gpt-9\' not found","code":404}}',
        endpoint_name="OMEN",
    )
    assert '"gpt-9"' in e.message and "ollama pull" not in e.message
    e = client.describe_http_error(500, {}, b"", endpoint_name="OMEN")
    assert e.message == "OMEN failed upstream (500: Internal server error)."
    e = client.describe_http_error(
        422, {}, b'{"detail":[{"msg":"field required"}]}', endpoint_name="X"
    )
    assert "422" in e.message and "field required" in e.message
    e = client.describe_http_error(
        429, {"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"}, b"", endpoint_name="X"
    )
    assert e.retry_after is not None and e.retry_after > 1000
    e = client.describe_http_error(429, {"retry-after": "soon"}, b"", endpoint_name="X")
    assert e.retry_after is None and "429" in e.message
    huge = b"x" * 1_000_000
    assert len(client.describe_http_error(418, {}, huge, endpoint_name="X").message) < 400


# -- the fakes themselves -----------------------------------------------------------------


def test_random_split_cuts_events_and_packs_several_in_one_write() -> None:
    frames = fo.stream("a b c d e f g h").frames("m")
    writes = cut(frames, "random")
    assert b"".join(writes) == b"".join(frames)
    bounds = [0]
    for f in frames:
        bounds.append(bounds[-1] + len(f))
    spans, pos = [], 0
    for w in writes:
        spans.append((pos, pos + len(w)))
        pos += len(w)
    assert any(sum(1 for b in bounds if s <= b <= e) >= 3 for s, e in spans)  # 2+ whole events
    assert any(not any(s == b for b in bounds) for s, _ in spans)  # a write starts mid-event
    assert cut(frames, "random") == writes  # deterministic


def test_fake_restarts_on_the_same_port(omen: fo.FakeOmen) -> None:
    port = omen.port
    omen.stop()
    omen.start(port=port)
    omen.queue(fo.stream("back again"))
    assert openai(omen.url).text == "back again"


def test_fake_records_requests() -> None:
    with fo.FakeOmen() as server:
        assert get(server.base + "/health")["status"]
        openai(server.url, headers={"X-Intent": "code"})
        assert [r.path for r in server.requests] == ["/health", "/v1/chat/completions"]
        (chat,) = server.chat_requests()
        assert chat.method == "POST" and chat.headers["x-intent"] == "code"
        assert chat.body == BODY and json.loads(chat.raw) == BODY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
