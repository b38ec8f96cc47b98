"""Property tests: the stream parsers never raise, and how bytes are cut never matters."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from zeke.backends.events import End, TextDelta
from zeke.backends.ollama_stream import NDJSONParser, OllamaStreamDecoder
from zeke.backends.openai_stream import OpenAIStreamDecoder
from zeke.backends.sse import SSEParser

FAST = settings(max_examples=150, deadline=None)


def cut_at(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({min(p, len(data)) for p in points})
    out, prev = [], 0
    for e in edges:
        out.append(data[prev:e])
        prev = e
    out.append(data[prev:])
    return out


def sse(chunks: list[bytes]) -> list[Any]:
    p = SSEParser()
    out = []
    for c in chunks:
        out += p.feed(c)
    return out + p.close()


def openai(chunks: list[bytes]) -> list[Any]:
    dec = OpenAIStreamDecoder()
    out = [e for ev in sse(chunks) for e in dec.feed(ev)]
    return out + dec.finish()


def ollama(chunks: list[bytes]) -> list[Any]:
    p, dec = NDJSONParser(), OllamaStreamDecoder()
    out: list[Any] = []
    for c in chunks:
        for obj in p.feed(c):
            out += dec.feed(obj)
    for obj in p.close():
        out += dec.feed(obj)
    return out + dec.finish()


def same(a: list[Any], b: list[Any]) -> bool:
    # repr: NaN inside a routing dict is not == to itself, but prints the same.
    return repr(a) == repr(b)


# Bytes that look like SSE often enough to reach the interesting branches.
SSE_ATOMS = [
    b"data: ",
    b"data:",
    b"event: error\n",
    b"event: content_block_delta\n",
    b"id: 1\n",
    b": keep\n",
    b"\n",
    b"\r",
    b"\r\n",
    b"[DONE]",
    b'{"choices":[{"index":0,"delta":{"content":"h\xc3\xa9"}}]}',
    b'{"error":{"message":"x","code":5}}',
    b"\xef\xbb\xbf",
    b"\xf0\x9f\x8e",
    b"\x89",
]
sse_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(st.sampled_from(SSE_ATOMS), st.binary(max_size=8)), max_size=40).map(
        b"".join
    ),
)
points = st.lists(st.integers(min_value=0, max_value=400), max_size=12)


@FAST
@given(sse_bytes, points)
def test_sse_parser_never_raises_and_splits_do_not_matter(data: bytes, cuts: list[int]) -> None:
    assert same(sse(cut_at(data, cuts)), sse([data]))


@FAST
@given(sse_bytes, points)
def test_openai_decoder_never_raises_on_bytes_and_splits_do_not_matter(
    data: bytes, cuts: list[int]
) -> None:
    whole = openai([data])
    assert isinstance(whole[-1], End)
    assert same(openai(cut_at(data, cuts)), whole)


# JSON-shaped chunks with the right keys and the wrong types, to reach type confusion.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["stop", "tool_calls", "\ud800", "{", '{"a":1}', "", "[DONE]"]),
)
KEYS = [
    "choices", "index", "delta", "content", "reasoning_content", "reasoning", "tool_calls",
    "id", "function", "name", "arguments", "finish_reason", "usage", "prompt_tokens",
    "completion_tokens", "cost", "model", "routing_metadata", "error", "message", "code",
    "type", "text", "partial_json", "content_block", "stop_reason", "input_tokens",
    "output_tokens", "done", "done_reason", "eval_count", "prompt_eval_count",
    "total_duration", "thinking", "function_call",
]  # fmt: skip
TYPES = [
    "message_start", "content_block_start", "content_block_delta", "message_delta",
    "message_stop", "error", "ping", "text_delta", "input_json_delta", "tool_use",
]  # fmt: skip
json_values = st.recursive(
    st.one_of(scalars, st.sampled_from(TYPES)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    ),
    max_leaves=20,
)
chunk_objs = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)


def dump(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "error", "message_stop", "content_block_delta", "ping"]),
            chunk_objs,
        ),
        max_size=8,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
    points,
)
def test_openai_decoder_on_json_shaped_garbage(
    frames: list[tuple[str | None, dict]], le: str, cuts: list[int]
) -> None:
    data = "".join(
        (f"event: {name}{le}" if name else "") + f"data: {dump(obj)}{le}{le}"
        for name, obj in frames
    ).encode("utf-8", "surrogatepass")
    whole = openai([data])
    assert isinstance(whole[-1], End)
    for ev in whole:
        repr(ev).encode("utf-8")  # every string in the events is encodable
    assert same(openai(cut_at(data, cuts)), whole)


ndjson_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(
        chunk_objs.map(lambda o: dump(o).encode("utf-8", "surrogatepass") + b"\n"), max_size=8
    ).map(b"".join),
    st.lists(
        st.one_of(
            st.sampled_from([b"\n", b"\r\n", b"{", b"}", b'"done":true', b"\xe2\x82", b"[1]"]),
            st.binary(max_size=6),
        ),
        max_size=30,
    ).map(b"".join),
)


@FAST
@given(ndjson_bytes, points)
def test_ollama_parser_and_decoder_never_raise_and_splits_do_not_matter(
    data: bytes, cuts: list[int]
) -> None:
    whole = ollama([data])
    assert isinstance(whole[-1], End)
    for ev in whole:
        repr(ev).encode("utf-8")
    assert same(ollama(cut_at(data, cuts)), whole)


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=80), points)
def test_any_text_comes_back_whole_whatever_the_split(text: str, cuts: list[int]) -> None:
    # Newlines, CRs, BOMs and emoji inside content are JSON-escaped or multibyte:
    # none of them may leak into the framing.
    words = [text[i : i + 5] for i in range(0, len(text), 5)]
    data = "".join(
        "data: "
        + json.dumps({"choices": [{"index": 0, "delta": {"content": w}}]}, ensure_ascii=False)
        + "\n\n"
        for w in words
    ).encode()
    events = openai(cut_at(data, cuts))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert events[-1] == End(None, truncated=True)
