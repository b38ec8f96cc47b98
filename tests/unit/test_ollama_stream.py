"""NDJSONParser and OllamaStreamDecoder: Ollama's /api/chat stream (docs/design.md §15)."""

from __future__ import annotations

import json
from typing import Any

from zeke.backends.events import (
    End,
    Meta,
    ReasoningDelta,
    StreamFailure,
    TextDelta,
    ToolCall,
    ToolCalls,
    Usage,
)
from zeke.backends.ollama_stream import NDJSONParser, OllamaStreamDecoder


def lines(*chunks: bytes) -> tuple[list[dict], int]:
    p = NDJSONParser()
    out: list[dict] = []
    for c in chunks:
        out += p.feed(c)
    return out + p.close(), p.bad_lines


def decode(*chunks: bytes) -> list[Any]:
    objs, _ = lines(*chunks)
    dec = OllamaStreamDecoder()
    out: list[Any] = []
    for o in objs:
        out += dec.feed(o)
    return out + dec.finish()


def nd(*objs: dict) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def msg(content: str, **extra: Any) -> dict:
    return {
        "model": "deepseek-coder:14b",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content, **extra},
        "done": False,
    }


FINAL = {
    "model": "deepseek-coder:14b",
    "created_at": "2025-01-01T00:00:01Z",
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "done_reason": "stop",
    "total_duration": 812_000_000,
    "load_duration": 12_500_000,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 130_000_000,
    "eval_count": 6,
    "eval_duration": 650_000_000,
}


# -- NDJSONParser ---------------------------------------------------------------


def test_lines_split_across_reads() -> None:
    raw = nd({"a": 1}, {"b": "two"})
    assert lines(raw[:3], raw[3:9], raw[9:])[0] == [{"a": 1}, {"b": "two"}]


def test_blank_lines_and_crlf_are_fine() -> None:
    assert lines(b'\n\r\n  \n{"a":1}\r\n\n{"b":2}\n')[0] == [{"a": 1}, {"b": 2}]


def test_lines_that_are_not_objects_are_skipped_and_counted() -> None:
    objs, bad = lines(b'[1,2]\n42\n"s"\nnot json\n{"ok":true}\n{"trunc\n')
    assert objs == [{"ok": True}]
    assert bad == 5


def test_last_line_without_newline_is_parsed_at_close() -> None:
    assert lines(b'{"a":1}\n{"b":2}')[0] == [{"a": 1}, {"b": 2}]


def test_multibyte_split_and_invalid_utf8_do_not_lose_the_line() -> None:
    raw = '{"t":"é🎉"}\n'.encode()
    assert lines(raw[:7], raw[7:9], raw[9:])[0] == [{"t": "é🎉"}]
    assert lines(b'{"t":"a\xffb"}\n')[0] == [{"t": "a\ufffdb"}]


def test_feed_after_close_is_empty() -> None:
    p = NDJSONParser()
    p.close()
    assert p.feed(b'{"a":1}\n') == []


# -- OllamaStreamDecoder -----------------------------------------------------------


def test_plain_answer() -> None:
    events = decode(nd(msg("Hel"), msg(""), msg("lo"), FINAL))
    assert events == [
        Meta(model="deepseek-coder:14b"),
        TextDelta("Hel"),
        TextDelta("lo"),
        Usage(tokens_in=26, tokens_out=6, cost_usd=None),
        End("stop", truncated=False),
    ]


def test_timings_are_in_milliseconds() -> None:
    dec = OllamaStreamDecoder()
    dec.feed(FINAL)
    assert dec.timings == {
        "total_duration": 812.0,
        "load_duration": 12.5,
        "prompt_eval_duration": 130.0,
        "eval_duration": 650.0,
    }


def test_tool_calls_with_object_arguments_and_no_ids() -> None:
    events = decode(
        nd(
            msg(
                "", tool_calls=[{"function": {"name": "read_file", "arguments": {"path": "a.py"}}}]
            ),
            msg(
                "",
                tool_calls=[{"function": {"name": "list_directory", "arguments": {"path": "."}}}],
            ),
            {**FINAL, "done_reason": "stop"},
        )
    )
    calls = next(e for e in events if isinstance(e, ToolCalls)).calls
    assert calls == [
        ToolCall("call_0", "read_file", {"path": "a.py"}, '{"path": "a.py"}'),
        ToolCall("call_1", "list_directory", {"path": "."}, '{"path": "."}'),
    ]
    assert events[-1] == End("stop", truncated=False)


def test_tool_call_id_is_kept_when_present_and_string_arguments_parsed() -> None:
    events = decode(
        nd(
            msg(
                "",
                tool_calls=[{"id": "call_x", "function": {"name": "f", "arguments": '{"a": 1}'}}],
            ),
            FINAL,
        )
    )
    assert events[-2].calls == [ToolCall("call_x", "f", {"a": 1}, '{"a": 1}')]


def test_done_without_reason_says_tool_calls_or_stop() -> None:
    final = {k: v for k, v in FINAL.items() if k != "done_reason"}
    assert decode(nd(msg("x"), final))[-1] == End("stop", truncated=False)
    with_tool = msg("", tool_calls=[{"function": {"name": "f", "arguments": {}}}])
    assert decode(nd(with_tool, final))[-1] == End("tool_calls", truncated=False)


def test_done_reason_is_kept() -> None:
    assert decode(nd(msg("x"), {**FINAL, "done_reason": "length"}))[-1] == End("length", False)


def test_stream_without_done_is_truncated() -> None:
    events = decode(nd(msg("half "), msg("of it")))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "half of it"
    assert events[-1] == End(None, truncated=True)


def test_error_line_mid_stream_keeps_partial_text() -> None:
    events = decode(
        nd(msg("partial"), {"error": "an error was encountered while running the model"})
    )
    assert events[1:] == [
        TextDelta("partial"),
        StreamFailure("an error was encountered while running the model"),
        End(None, truncated=True),
    ]


def test_model_is_reported_once() -> None:
    events = decode(nd(msg("a"), msg("b"), FINAL))
    assert [e for e in events if isinstance(e, Meta)] == [Meta(model="deepseek-coder:14b")]


def test_thinking_is_reasoning() -> None:
    assert ReasoningDelta("hmm") in decode(nd(msg("", thinking="hmm"), FINAL))


def test_nothing_after_done() -> None:
    dec = OllamaStreamDecoder()
    dec.feed(FINAL)
    assert dec.done and dec.feed(msg("late")) == []


def test_weird_types_never_raise() -> None:
    weird: list[Any] = [
        {"message": "x"},
        {"message": {"content": 3, "tool_calls": "no"}},
        {"message": {"tool_calls": [None, {"function": "f"}, {"function": {"arguments": [1]}}]}},
        {"done": True, "prompt_eval_count": "26", "eval_count": -3, "total_duration": "slow"},
    ]
    dec = OllamaStreamDecoder()
    out: list[Any] = []
    for w in weird:
        out += dec.feed(w)
    out += dec.finish()
    assert out[-1].truncated is False
    assert not any(isinstance(e, (TextDelta, Usage)) for e in out)
    assert dec.timings == {}


REALISTIC = nd(
    msg("Voilà "),
    msg("— 🎉 "),
    msg("done\n"),
    msg(
        "",
        tool_calls=[
            {"function": {"name": "write_file", "arguments": {"path": "é.py", "content": "x"}}}
        ],
    ),
    FINAL,
)


def test_split_at_every_byte_position_decodes_the_same() -> None:
    whole = decode(REALISTIC)
    assert len(whole) == 7
    for i in range(len(REALISTIC) + 1):
        assert decode(REALISTIC[:i], REALISTIC[i:]) == whole, f"split at byte {i}"
