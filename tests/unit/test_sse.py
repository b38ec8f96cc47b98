"""SSEParser: the framing quirks of docs/design.md §14, fed the way OMEN forwards bytes."""

from __future__ import annotations

import pytest

from zeke.backends.sse import SSEEvent, SSEParser


def parse(*chunks: bytes) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    for c in chunks:
        out += p.feed(c)
    return out + p.close()


def datas(events: list[SSEEvent]) -> list[str]:
    return [e.data for e in events]


@pytest.mark.parametrize("le", ["\n", "\r\n", "\r"])
def test_every_line_ending_frames_the_same_events(le: str) -> None:
    text = f"data: one{le}{le}event: x{le}data: two{le}data: three{le}{le}"
    events = parse(text.encode())
    assert events == [
        SSEEvent(event=None, data="one", id=None),
        SSEEvent(event="x", data="two\nthree", id=None),
    ]


def test_crlf_split_across_reads_is_one_line_end() -> None:
    # If the lone "\n" counted as a second line end it would be a blank line and
    # dispatch "a" on its own.
    assert datas(parse(b"data: a\r", b"\ndata: b\r\n\r\n")) == ["a\nb"]


def test_cr_at_end_of_read_followed_by_cr_is_a_blank_line() -> None:
    assert datas(parse(b"data: a\r", b"\rdata: b\r\r")) == ["a", "b"]


def test_lf_split_after_cr_in_a_third_read() -> None:
    assert datas(parse(b"data: a\r", b"", b"\n\r\n")) == ["a"]


def test_comments_and_keepalives_are_ignored() -> None:
    assert parse(b": keepalive\n\n:\n\n: OPENROUTER PROCESSING\n\n") == []
    assert datas(parse(b": ping\ndata: x\n: in the middle\n\n")) == ["x"]


def test_event_without_data_is_not_dispatched() -> None:
    # The event type does not leak into the next event either.
    events = parse(b"event: ping\n\ndata: real\n\n")
    assert events == [SSEEvent(event=None, data="real", id=None)]


def test_empty_data_field_dispatches_an_empty_event() -> None:
    assert datas(parse(b"data:\n\n")) == [""]
    assert datas(parse(b"data\n\n")) == [""]  # field without colon


def test_field_without_colon_has_empty_value() -> None:
    events = parse(b"event\ndata: x\n\n")
    assert events == [SSEEvent(event=None, data="x", id=None)]


def test_only_one_leading_space_is_stripped() -> None:
    assert datas(parse(b"data:x\n\ndata:  two spaces\n\ndata: tail \n\n")) == [
        "x",
        " two spaces",
        "tail ",
    ]


def test_value_may_contain_colons() -> None:
    assert datas(parse(b'data: {"a": "b:c"}\n\n')) == ['{"a": "b:c"}']


def test_id_is_kept_for_later_events_and_nul_ids_are_ignored() -> None:
    events = parse(b"id: 7\ndata: a\n\ndata: b\n\nid: x\x00y\ndata: c\n\n")
    assert [e.id for e in events] == ["7", "7", "7"]


def test_unknown_fields_and_retry_are_ignored() -> None:
    assert parse(b"retry: 100\nfoo: bar\ndata: x\n\n") == [SSEEvent(None, "x", None)]


def test_multibyte_character_split_across_reads() -> None:
    raw = "data: héllo 🎉 wörld\n\n".encode()
    start = raw.index("🎉".encode())
    chunks = [
        raw[: start + 1],
        raw[start + 1 : start + 2],
        raw[start + 2 : start + 3],
        raw[start + 3 :],
    ]
    assert datas(parse(*chunks)) == ["héllo 🎉 wörld"]


def test_invalid_utf8_costs_one_replacement_character() -> None:
    assert datas(parse(b"data: a\xffb\n\n")) == ["a\ufffdb"]
    # a multibyte sequence cut short by the end of the stream
    assert datas(parse(b"data: a\xe2\x82")) == ["a\ufffd"]


def test_bom_at_start_is_ignored_even_when_split() -> None:
    assert parse(b"\xef\xbb\xbfdata: x\n\n") == [SSEEvent(None, "x", None)]
    assert parse(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [SSEEvent(None, "x", None)]
    # only at the start: later it is content
    assert datas(parse(b"data: \xef\xbb\xbfx\n\n")) == ["\ufeffx"]


def test_close_dispatches_a_pending_event_with_data() -> None:
    # proxies drop the final blank line, or even the final line end
    assert datas(parse(b"data: last\n")) == ["last"]
    assert datas(parse(b"data: last")) == ["last"]
    assert parse(b"event: only-a-type\n") == []


def test_close_is_idempotent_and_feed_after_close_is_empty() -> None:
    p = SSEParser()
    assert p.feed(b"data: a") == []
    assert datas(p.close()) == ["a"]
    assert p.close() == []
    assert p.feed(b"\n\ndata: b\n\n") == []


def test_many_events_in_one_read() -> None:
    raw = b"".join(b"data: %d\n\n" % i for i in range(50))
    assert datas(parse(raw)) == [str(i) for i in range(50)]


def test_long_line_fed_bytewise() -> None:
    raw = b"data: " + b"x" * 20000 + b"\n\n"
    assert datas(parse(*[raw[i : i + 1] for i in range(len(raw))])) == ["x" * 20000]


REALISTIC = (
    "\ufeff: connected\r\n\r\n"
    'data: {"id":"c1","model":"deepseek-coder:14b","choices":[{"index":0,"delta":'
    '{"role":"assistant","content":""}}]}\r\n\r\n'
    'data: {"choices":[{"index":0,"delta":{"content":"Déjà vu 🎉"}}]}\r\n\r\n'
    ": keepalive\r\n\r\n"
    "event: content_block_delta\r\n"
    'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"ü"}}\r\n\r\n'
    "id: 42\n"
    'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1",\n'
    'data: "function":{"name":"read_file","arguments":"{\\"path\\""}}]}}]}\n\n'
    'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\r\r'
    'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n'
    "data: [DONE]\n\n"
).encode()


def test_split_at_every_byte_position_gives_the_same_events() -> None:
    whole = parse(REALISTIC)
    assert len(whole) == 7
    assert whole[2].event == "content_block_delta" and whole[3].id == "42"
    for i in range(len(REALISTIC) + 1):
        assert parse(REALISTIC[:i], REALISTIC[i:]) == whole, f"split at byte {i}"


def test_three_way_splits_give_the_same_events() -> None:
    whole = parse(REALISTIC)
    n = len(REALISTIC)
    for i in range(0, n, 7):
        for j in range(i, n, 13):
            assert parse(REALISTIC[:i], REALISTIC[i:j], REALISTIC[j:]) == whole, (i, j)
