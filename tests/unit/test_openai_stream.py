"""OpenAIStreamDecoder: every stream quirk of docs/design.md §12 and §14, via SSEParser."""

from __future__ import annotations

import json
from typing import Any

import pytest

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
from zeke.backends.openai_stream import OpenAIStreamDecoder
from zeke.backends.sse import SSEEvent, SSEParser


def frame(obj: Any, event: str | None = None) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def decode(*chunks: bytes) -> list[Any]:
    parser, dec = SSEParser(), OpenAIStreamDecoder()
    out: list[Any] = []
    for c in chunks:
        for ev in parser.feed(c):
            out += dec.feed(ev)
    for ev in parser.close():
        out += dec.feed(ev)
    return out + dec.finish()


def delta(d: dict, finish: str | None = None, index: int = 0, **top: Any) -> bytes:
    return frame({**top, "choices": [{"index": index, "delta": d, "finish_reason": finish}]})


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_plain_answer_with_done() -> None:
    events = decode(
        delta({"role": "assistant", "content": ""}),
        delta({"content": "Hel"}),
        delta({"content": "lo"}),
        delta({}, "stop"),
        frame("[DONE]"),
    )
    assert events == [TextDelta("Hel"), TextDelta("lo"), End(finish_reason="stop", truncated=False)]


def test_done_without_finish_reason_is_not_truncated() -> None:
    assert decode(delta({"content": "x"}), frame("[DONE]"))[-1] == End(None, truncated=False)


def test_finish_reason_without_done_is_complete() -> None:
    # OMEN with an Ollama upstream: finish_reason "stop", then EOF, no [DONE].
    assert decode(delta({"content": "x"}), delta({}, "stop"))[-1] == End("stop", truncated=False)


def test_eof_without_any_end_marker_is_truncated_and_keeps_text() -> None:
    events = decode(delta({"content": "half "}), delta({"content": "of it"}))
    assert text_of(events) == "half of it"
    assert events[-1] == End(None, truncated=True)


def test_nothing_after_done() -> None:
    dec = OpenAIStreamDecoder()
    assert dec.feed(SSEEvent(None, "[DONE]", None)) == []
    assert dec.done
    late = json.dumps({"choices": [{"index": 0, "delta": {"content": "late"}}]})
    assert dec.feed(SSEEvent(None, late, None)) == []


def test_null_absent_and_empty_content_give_no_delta() -> None:
    events = decode(
        delta({"content": None}),
        delta({"role": "assistant"}),
        delta({"content": ""}),
        frame({"choices": [{"index": 0}]}),
        delta({"content": "ok"}),
    )
    assert events[:-1] == [TextDelta("ok")]


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_is_kept_apart_from_the_answer(key: str) -> None:
    events = decode(delta({key: "thinking…"}), delta({"content": "answer"}), delta({}, "stop"))
    assert events[:2] == [ReasoningDelta("thinking…"), TextDelta("answer")]


def test_choices_are_keyed_by_index_and_only_the_first_is_the_answer() -> None:
    events = decode(
        delta({"content": "other"}, index=1),
        frame({"choices": [{"delta": {"content": "no index means 0 "}}]}),
        delta({"content": "zero"}, index=0),
        delta({}, "length", index=1),
    )
    assert text_of(events) == "no index means 0 zero"
    assert events[-1] == End(None, truncated=True)  # index 1's finish is not ours


def test_model_is_reported_when_first_seen_and_when_it_changes() -> None:
    events = decode(
        delta({"content": "a"}, model="deepseek-coder:14b"),
        delta({"content": "b"}, model="deepseek-coder:14b"),
        delta({"content": "c"}, model="claude-3-5-sonnet"),  # speculate_k switched
        delta({}, "stop", model="claude-3-5-sonnet"),
    )
    metas = [e for e in events if isinstance(e, Meta)]
    assert metas == [Meta(model="deepseek-coder:14b"), Meta(model="claude-3-5-sonnet")]
    assert events.index(metas[1]) < events.index(TextDelta("c"))


def test_routing_metadata_is_passed_on_as_received() -> None:
    rm = {"provider": "anthropic", "model_used": "claude-3-5-sonnet", "cost_usd": "oops"}
    events = decode(delta({"content": "a"}, routing_metadata=rm), delta({}, "stop"))
    assert Meta(model=None, routing=rm) in events


def test_openai_usage_chunk_with_empty_choices() -> None:
    events = decode(
        delta({"content": "a"}, "stop"),
        frame({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4}}),
        frame("[DONE]"),
    )
    assert Usage(tokens_in=11, tokens_out=4, cost_usd=None) in events


def test_litellm_usage_in_a_nonempty_chunk_with_cost() -> None:
    events = decode(
        frame(
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "cost": 0.00042},
            }
        )
    )
    assert events[0] == Usage(tokens_in=5, tokens_out=7, cost_usd=0.00042)


@pytest.mark.parametrize("cost", ["0.1", -1, "NaN", "Infinity", True, None, [1]])
def test_cost_is_only_a_finite_nonnegative_number(cost: Any) -> None:
    raw = '{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"cost":%s}}' % (
        cost if cost in ("NaN", "Infinity") else json.dumps(cost)
    )
    (usage,) = [e for e in decode(frame(raw)) if isinstance(e, Usage)]
    assert usage.cost_usd is None and usage.tokens_in == 1


def test_llama_cpp_sends_no_usage() -> None:
    assert not any(isinstance(e, Usage) for e in decode(delta({"content": "x"}, "stop")))


def tool_frag(
    index: int | None, *, id: str | None = None, name: str | None = None, args: Any = None
) -> dict:
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if args is not None:
        fn["arguments"] = args
    tc: dict[str, Any] = {"function": fn}
    if index is not None:
        tc["index"] = index
    if id is not None:
        tc["id"] = id
    return tc


def tools(*frags: dict, finish: str = "tool_calls") -> list[Any]:
    chunks = [delta({"tool_calls": [f]}) for f in frags]
    return decode(*chunks, delta({}, finish), frame("[DONE]"))


def test_tool_call_fragments_are_accumulated_by_index() -> None:
    events = tools(
        tool_frag(0, id="call_a", name="read_file", args=""),
        tool_frag(1, id="call_b", name="write_file", args='{"path":'),
        tool_frag(0, args='{"path": "a'),
        tool_frag(1, args=' "b.py", "content": "x"}'),
        tool_frag(0, args='.py"}'),
    )
    assert events == [
        ToolCalls(
            [
                ToolCall("call_a", "read_file", {"path": "a.py"}, '{"path": "a.py"}'),
                ToolCall(
                    "call_b",
                    "write_file",
                    {"path": "b.py", "content": "x"},
                    '{"path": "b.py", "content": "x"}',
                ),
            ]
        ),
        End("tool_calls", truncated=False),
    ]


def test_only_the_first_id_and_name_count() -> None:
    events = tools(
        tool_frag(0, id="call_a", name="read_file", args='{"path"'),
        tool_frag(0, id="call_zzz", name="read_file", args=': "x"}'),
    )
    (call,) = events[0].calls
    assert (call.id, call.name, call.arguments) == ("call_a", "read_file", {"path": "x"})


def test_missing_id_gets_call_index() -> None:
    events = tools(tool_frag(0, name="a", args="{}"), tool_frag(3, name="b", args="{}"))
    assert [c.id for c in events[0].calls] == ["call_0", "call_3"]


def test_object_typed_arguments() -> None:
    (call,) = tools(tool_frag(0, id="c", name="read_file", args={"path": "a.py"}))[0].calls
    assert call.arguments == {"path": "a.py"} and call.parse_error is None


def test_whole_arguments_repeated_later_are_not_doubled() -> None:
    events = tools(
        tool_frag(0, id="c", name="edit", args='{"path": '),
        tool_frag(0, args='"a.py"}'),
        tool_frag(0, args='{"path": "a.py"}'),
    )
    (call,) = events[0].calls
    assert call.arguments == {"path": "a.py"} and call.parse_error is None


def test_string_arguments_after_object_arguments_are_not_doubled() -> None:
    events = tools(
        tool_frag(0, id="c", name="edit", args={"path": "a.py"}),
        tool_frag(0, args='{"path": "a.py"}'),
    )
    assert events[0].calls[0].arguments == {"path": "a.py"}


def test_invalid_json_arguments_are_reported_not_raised() -> None:
    (call,) = tools(tool_frag(0, id="c", name="write_file", args='{"path": "a.py", "cont'))[0].calls
    assert call.arguments is None
    assert call.raw_arguments == '{"path": "a.py", "cont'
    assert call.parse_error and "JSON" in call.parse_error


def test_non_object_arguments_are_a_parse_error() -> None:
    (call,) = tools(tool_frag(0, id="c", name="f", args="[1, 2]"))[0].calls
    assert call.arguments is None and "object" in (call.parse_error or "")


def test_empty_arguments_mean_no_arguments() -> None:
    (call,) = tools(tool_frag(0, id="c", name="list_directory", args=""))[0].calls
    assert call.arguments == {} and call.parse_error is None


def test_tool_fragments_without_index_follow_the_last_call() -> None:
    events = tools(
        tool_frag(None, id="c1", name="a", args='{"x":'),
        tool_frag(None, args="1}"),
        tool_frag(None, id="c2", name="b", args="{}"),
    )
    assert [(c.id, c.arguments) for c in events[0].calls] == [("c1", {"x": 1}), ("c2", {})]


def test_stop_together_with_tool_calls() -> None:
    events = tools(tool_frag(0, id="c", name="read_file", args='{"path":"a"}'), finish="stop")
    assert isinstance(events[0], ToolCalls) and events[1] == End("stop", truncated=False)


def test_legacy_function_call_delta() -> None:
    events = decode(
        delta({"function_call": {"name": "read_file", "arguments": '{"path":'}}),
        delta({"function_call": {"arguments": '"a"}'}}),
        delta({}, "function_call"),
    )
    assert events[0].calls[0].name == "read_file"
    assert events[0].calls[0].arguments == {"path": "a"}
    assert events[1] == End("function_call", truncated=False)


@pytest.mark.parametrize("reason", ["length", "content_filter", "something_new"])
def test_finish_reason_is_stored_raw(reason: str) -> None:
    assert decode(delta({"content": "x"}, reason))[-1] == End(reason, truncated=False)


def test_tool_calls_are_emitted_once_before_end() -> None:
    dec = OpenAIStreamDecoder()
    chunk = {
        "choices": [
            {"index": 0, "delta": {"tool_calls": [tool_frag(0, id="c", name="f", args="{}")]}}
        ]
    }
    dec.feed(SSEEvent(None, json.dumps(chunk), None))
    first = dec.finish()
    assert [type(e) for e in first] == [ToolCalls, End]
    assert dec.finish() == []


def test_error_object_in_data_keeps_partial_text() -> None:
    events = decode(
        delta({"content": "partial"}),
        frame({"error": {"message": "Upstream timed out", "type": "api_error", "code": 504}}),
    )
    assert events == [
        TextDelta("partial"),
        StreamFailure(message="Upstream timed out", code="504"),
        End(None, truncated=True),
    ]


def test_error_as_a_string() -> None:
    assert decode(frame({"error": "overloaded"}))[0] == StreamFailure("overloaded", None)


def test_event_error_with_openai_body_and_with_plain_text() -> None:
    events = decode(
        frame({"error": {"message": "budget exhausted", "code": "insufficient_quota"}}, "error"),
        frame("upstream went away", "error"),
    )
    assert events[:2] == [
        StreamFailure("budget exhausted", "insufficient_quota"),
        StreamFailure("upstream went away", None),
    ]


def test_null_error_field_is_not_an_error() -> None:
    events = decode(frame({"error": None, "choices": [{"index": 0, "delta": {"content": "ok"}}]}))
    assert events[0] == TextDelta("ok")


def anthropic(*frames: tuple[str, dict]) -> list[Any]:
    return decode(*(frame({"type": n, **o}, n) for n, o in frames))


def test_raw_anthropic_frames_passed_through() -> None:
    events = anthropic(
        (
            "message_start",
            {"message": {"model": "claude-3-5-sonnet", "usage": {"input_tokens": 25}}},
        ),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hi "}}),
        ("content_block_delta", {"index": 0, "delta": {"text": "there"}}),
        ("content_block_stop", {"index": 0}),
        ("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}),
        ("message_stop", {}),
    )
    assert events == [
        Meta(model="claude-3-5-sonnet"),
        TextDelta("Hi "),
        TextDelta("there"),
        Usage(tokens_in=25, tokens_out=9),
        End("stop", truncated=False),
    ]


def test_anthropic_message_stop_alone_ends_the_stream() -> None:
    events = anthropic(
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "x"}}),
        ("message_stop", {}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "late"}}),
    )
    assert events == [TextDelta("x"), End(None, truncated=False)]


def test_anthropic_frame_without_event_line_is_recognised_by_type() -> None:
    events = decode(
        frame({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}})
    )
    assert events[0] == TextDelta("x")


def test_anthropic_error_event() -> None:
    events = anthropic(
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "so far"}}),
        ("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )
    assert events == [
        TextDelta("so far"),
        StreamFailure("Overloaded", "overloaded_error"),
        End(None, truncated=True),
    ]


def test_anthropic_tool_use_blocks() -> None:
    events = anthropic(
        (
            "content_block_start",
            {
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "read_file",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"path": '}},
        ),
        (
            "content_block_delta",
            {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '"a.py"}'}},
        ),
        ("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}),
        ("message_stop", {}),
    )
    assert events[-2] == ToolCalls(
        [ToolCall("toolu_1", "read_file", {"path": "a.py"}, '{"path": "a.py"}')]
    )
    assert events[-1] == End("tool_calls", truncated=False)


def test_non_json_data_is_ignored_and_counted() -> None:
    parser, dec = SSEParser(), OpenAIStreamDecoder()
    out = []
    for ev in parser.feed(
        b"data: hello\n\ndata: {bad json\n\ndata: [1,2]\n\n" + delta({"content": "ok"})
    ):
        out += dec.feed(ev)
    assert out == [TextDelta("ok")]
    assert dec.ignored == 3


def test_lone_surrogates_are_replaced_so_text_stays_encodable() -> None:
    events = decode(b'data: {"choices":[{"index":0,"delta":{"content":"a\\ud800b"}}]}\n\n')
    events[0].text.encode("utf-8")
    assert events[0].text == "a\ufffdb"


def test_weird_types_never_raise() -> None:
    weird = [
        {"choices": "nope"},
        {"choices": [None, 1, {"index": True, "delta": {"content": "bool index"}}]},
        {"choices": [{"index": 0, "delta": {"content": 5, "tool_calls": "x"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [None, {"index": "0", "function": 3}]}}]},
        {"usage": {"prompt_tokens": -1, "completion_tokens": 1e400}},
        {"model": 7, "routing_metadata": [1]},
        {"choices": [{"index": 0, "finish_reason": 3}]},
        {"type": "message_delta", "delta": None, "usage": "x"},
    ]
    events = decode(*(frame(w) for w in weird))
    assert events[-1].truncated is True
    assert not any(isinstance(e, TextDelta) for e in events)


def test_whole_completion_object() -> None:
    dec = OpenAIStreamDecoder()
    obj = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-5-codex",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Done.",
                    "tool_calls": [
                        {
                            "id": "call_9",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a":1}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    events = dec.feed_completion(obj) + dec.finish()
    assert events == [
        Meta(model="gpt-5-codex"),
        TextDelta("Done."),
        Usage(3, 2, None),
        ToolCalls([ToolCall("call_9", "f", {"a": 1}, '{"a":1}')]),
        End("tool_calls", truncated=False),
    ]


REALISTIC = b"".join(
    [
        b": connected\r\n\r\n",
        delta(
            {"role": "assistant", "content": ""},
            model="deepseek-coder:14b",
            routing_metadata={"provider": "ollama", "model_used": "deepseek-coder:14b"},
        ),
        delta({"reasoning_content": "hmm"}, model="deepseek-coder:14b"),
        delta({"content": "Voilà — ünïcode 🎉 "}, model="deepseek-coder:14b"),
        b": keepalive\n\n",
        delta({"content": "and more\r\nlines"}, model="claude-3-5-sonnet"),
        delta({"tool_calls": [tool_frag(0, id="call_1", name="write_file", args="")]}),
        delta({"tool_calls": [tool_frag(0, args='{"path": "a.py", ')]}),
        delta({"tool_calls": [tool_frag(0, args='"content": "é"}')]}),
        delta({}, "tool_calls"),
        frame(
            {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 20, "cost": 0.001}}
        ),
        frame("[DONE]"),
    ]
).replace(b"\n\n", b"\r\n\r\n", 3)


def test_realistic_stream_decodes_fully() -> None:
    events = decode(REALISTIC)
    assert text_of(events) == "Voilà — ünïcode 🎉 and more\r\nlines"
    assert [e.model for e in events if isinstance(e, Meta)] == [
        "deepseek-coder:14b",
        "claude-3-5-sonnet",
    ]
    assert Usage(10, 20, 0.001) in events
    assert events[-2].calls[0].arguments == {"path": "a.py", "content": "é"}
    assert events[-1] == End("tool_calls", truncated=False)


def test_split_at_every_byte_position_decodes_the_same() -> None:
    whole = decode(REALISTIC)
    for i in range(len(REALISTIC) + 1):
        assert decode(REALISTIC[:i], REALISTIC[i:]) == whole, f"split at byte {i}"


def test_bytewise_feed_decodes_the_same() -> None:
    whole = decode(REALISTIC)
    assert decode(*(REALISTIC[i : i + 1] for i in range(len(REALISTIC)))) == whole
