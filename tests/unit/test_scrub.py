"""The router key never enters zeke from a server: scrub.py, and where backends/http.py and
tools/mcp/ apply it (headers, every stream event, errors, JSON documents, tool results)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes import omen as fo
from zeke.backends import http as client
from zeke.backends.events import Meta, ReasoningDelta, StreamFailure, TextDelta, ToolCalls
from zeke.errors import ZekeError
from zeke.scrub import REDACTED, Scrubber
from zeke.tools.mcp import MCPClient

# Not shaped like a known token (no sk-, no Bearer): only knowing the value can hide it.
KEY = "omenlive_5f2c9e01ab77d3c4e8a1"
GLYPH = Path(__file__).resolve().parents[1] / "fakes" / "glyph.py"


# ------------------------------------------------------------------ the scrubber


def test_every_form_of_the_key_is_replaced() -> None:
    s = Scrubber([KEY])
    assert s.text(f"a {KEY} b Bearer {KEY}") == f"a {REDACTED} b Bearer {REDACTED}"
    slashed = "abc/def+ghi=jkl"
    t = Scrubber([slashed])
    assert slashed not in t.text(f"x {slashed}")
    # JSON-escaped in a raw body, and percent-encoded in an echoed URL
    assert t.data(b'{"m": "abc\\/def+ghi=jkl"}') == b'{"m": "[redacted]"}'
    assert t.text("?k=abc%2Fdef%2Bghi%3Djkl") == "?k=[redacted]"


def test_deep_scrubs_keys_and_values_and_leaves_other_values() -> None:
    s = Scrubber([KEY])
    data = {KEY: [KEY, 1, None, {"x": f"<{KEY}>"}], "n": 2.5, "t": (KEY,)}
    assert s.deep(data) == {
        REDACTED: [REDACTED, 1, None, {"x": f"<{REDACTED}>"}],
        "n": 2.5,
        "t": (REDACTED,),
    }


def test_short_or_missing_secrets_scrub_nothing() -> None:
    assert not Scrubber([None, "", "abc"])
    assert Scrubber(["abc"]).text("abc abc") == "abc abc"


@given(
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_a_key_split_across_pieces_is_still_caught(before: str, after: str, cuts: list) -> None:
    whole = f"{before}{KEY}{after}"
    points = sorted({min(c, len(whole)) for c in cuts})
    pieces = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    stream = Scrubber([KEY]).stream()
    out = [stream.feed(p) for p in pieces] + [stream.flush()]
    assert KEY not in "".join(out)
    assert "".join(out) == Scrubber([KEY]).text(whole)  # nothing lost, nothing reordered


def test_only_a_possible_start_of_the_key_is_held_back() -> None:
    stream = Scrubber([KEY]).stream()
    assert stream.feed("plain text ") == "plain text "  # nothing held: no key starts here
    assert stream.feed("then omen") == "then "
    assert stream.feed("ade") == "omenade"  # not the key after all
    assert stream.feed("x omenlive_") == "x "
    assert stream.flush() == "omenlive_"


# ------------------------------------------------------------------ backends/http.py


@pytest.fixture
def omen() -> Iterator[fo.FakeOmen]:
    with fo.FakeOmen("designed") as server:
        yield server


def stream_events(url: str, *, secrets: tuple[str, ...] = (), auth: bool = True) -> Any:
    headers = {"Authorization": f"Bearer {KEY}"} if auth else {}
    body = {"model": "deepseek-coder:14b", "messages": [{"role": "user", "content": "hi"}]}

    async def main() -> Any:
        async with (
            httpx.AsyncClient() as http,
            client.open_openai_stream(
                http, url + "/chat/completions", body, headers, secrets=secrets
            ) as s,
        ):
            return s.headers, [e async for e in s.events]

    return anyio.run(main)


def echoing_stream(split: str = "none") -> fo.StreamReply:
    """A router that echoes the key everywhere a stream can carry text."""
    half = len(KEY) // 2
    return fo.stream(
        [
            "The key is ",
            KEY[:half],
            KEY[half:],
            " and again ",
            KEY[:3],
            KEY[3:],
            ".",
            {"choices": [{"index": 0, "delta": {"reasoning_content": f"think {KEY}"}}]},
        ],
        model=KEY,
        split=split,
        headers={"X-OMEN-Provider": KEY, "X-OMEN-Trace-Echo": f"Bearer {KEY}"},
        routing_metadata={"provider": KEY, "routing_reason": f"because {KEY}", "cost_usd": 0.1},
        tool_calls=[("read_file", json.dumps({"path": "a.txt", "note": KEY}))],
        finish_reason="tool_calls",
    )


@pytest.mark.parametrize("split", ["none", "bytewise", "random"])
def test_nothing_in_a_stream_carries_the_key(omen: fo.FakeOmen, split: str) -> None:
    omen.queue(echoing_stream(split))
    headers, events = stream_events(omen.url)
    assert KEY not in repr(headers) and KEY not in repr(events)
    assert headers["x-omen-provider"] == REDACTED
    assert headers["x-omen-trace-echo"] == f"Bearer {REDACTED}"
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == f"The key is {REDACTED} and again {REDACTED}."
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning == f"think {REDACTED}"
    metas = [e for e in events if isinstance(e, Meta)]
    assert {m.model for m in metas if m.model} == {REDACTED}
    routing = next(m.routing for m in metas if m.routing)
    assert routing["provider"] == REDACTED and routing["cost_usd"] == 0.1
    ((call,),) = [e.calls for e in events if isinstance(e, ToolCalls)]
    assert call.arguments == {"path": "a.txt", "note": REDACTED}
    assert json.loads(call.raw_arguments) == call.arguments


def test_the_key_is_scrubbed_even_when_not_sent_in_the_request(omen: fo.FakeOmen) -> None:
    """Ollama is never sent the key, and the engine names it anyway (``secrets``)."""
    omen.queue(echoing_stream())
    _headers, events = stream_events(omen.url, secrets=(KEY,), auth=False)
    assert KEY not in repr(events)


def test_a_key_spelled_in_json_escapes_is_caught_once_decoded(omen: fo.FakeOmen) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    chunk = {"choices": [{"index": 0, "delta": {"content": "k=ESC"}, "finish_reason": "stop"}]}
    frame = json.dumps(chunk).replace("ESC", escaped)  # json.dumps would not escape ASCII
    omen.queue(fo.raw([f"data: {frame}\n\ndata: [DONE]\n\n".encode()]))
    _headers, events = stream_events(omen.url)
    assert [e.text for e in events if isinstance(e, TextDelta)] == [f"k={REDACTED}"]


def test_a_finish_reason_is_scrubbed(omen: fo.FakeOmen) -> None:
    omen.queue(fo.stream("ok", finish_reason=f"stop:{KEY}"))
    _headers, events = stream_events(omen.url)
    assert events[-1].finish_reason == f"stop:{REDACTED}"


def test_an_error_in_the_stream_and_its_code_are_scrubbed(omen: fo.FakeOmen) -> None:
    err = {"error": {"message": f"upstream rejected {KEY}", "code": KEY}}
    omen.queue(fo.raw([b"data: " + json.dumps(err).encode() + b"\n\n"]))
    _headers, events = stream_events(omen.url)
    (failure,) = [e for e in events if isinstance(e, StreamFailure)]
    assert KEY not in failure.message and KEY not in str(failure.code)


def test_an_http_error_and_its_headers_are_scrubbed(omen: fo.FakeOmen) -> None:
    omen.queue(
        fo.error(
            429,
            {"error": {"message": f"quota for {KEY}", "type": "rate_limit", "code": 429}},
            headers={"X-OMEN-Provider": KEY, "X-OMEN-Trace-Id": f"t-{KEY}"},
        )
    )
    with pytest.raises(ZekeError) as info:
        stream_events(omen.url)
    assert KEY not in info.value.message
    assert info.value.headers and KEY not in repr(info.value.headers)
    assert info.value.headers["x-omen-provider"] == REDACTED


def test_a_json_document_is_scrubbed(omen: fo.FakeOmen) -> None:
    omen.models = [{**fo.DEFAULT_MODELS[0], "id": KEY, "provider": f"p-{KEY}"}]

    async def main() -> Any:
        async with httpx.AsyncClient() as http:
            return await client.get_json(http, omen.url + "/models", secrets=(KEY,))

    listing = anyio.run(main)
    assert KEY not in json.dumps(listing)
    assert listing["data"][0]["id"] == REDACTED


# ------------------------------------------------------------------ tools/mcp/


@pytest.mark.anyio
async def test_a_tool_server_never_hands_zeke_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It may know the key some other way (here: a file it reads)."""
    monkeypatch.setenv("MY_ROUTER_KEY", KEY)
    (tmp_path / ".env").write_text(f"OMEN_API_KEY={KEY}\n")
    cmd = [sys.executable, str(GLYPH), "serve", "--transport", "stdio", "--root", str(tmp_path)]
    mcp = MCPClient.from_config(
        {"cmd": cmd}, cwd=str(tmp_path), request_timeout=10, hidden_env=["MY_ROUTER_KEY"]
    )
    try:
        read = await mcp.call_tool("read_file", {"path": ".env"})
        assert read.text == f"OMEN_API_KEY={REDACTED}\n"
        assert KEY not in repr(read.raw)
        failed = await mcp.call_tool("shell_execute", {"command": "cat .env missing"})
        assert failed.is_error and KEY not in failed.text and REDACTED in failed.text
    finally:
        await mcp.aclose()
