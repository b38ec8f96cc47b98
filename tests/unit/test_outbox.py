"""The host's outbox: events reach Neovim in order, in batches; an answer's first
token never waits, and consecutive text of one answer travels as one string."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from zeke.host.outbox import Outbox


def _outbox(interval: float = 0.0) -> tuple[Outbox, list[list[Any]]]:
    batches: list[list[Any]] = []
    return Outbox(batches.append, interval=interval), batches


def test_an_answers_first_text_goes_out_at_once_with_what_came_before() -> None:
    box, batches = _outbox(interval=3600.0)  # nothing but the first text may flush
    box.emit("meta", "r1", {"alias": "auto"})
    assert batches == []
    box.emit("text", "r1", "Hel")
    assert batches == [[["meta", "r1", {"alias": "auto"}], ["text", "r1", "Hel"]]]
    box.emit("text", "r1", "lo")  # not the first any more: waits for the batch
    assert len(batches) == 1


def test_consecutive_text_of_one_answer_is_one_string_and_order_is_kept() -> None:
    box, batches = _outbox(interval=3600.0)
    box.emit("text", "r1", "a")  # first: flushed alone
    for kind, rid, data in [
        ("text", "r1", "b"),
        ("text", "r1", "c"),
        ("text", "r2", "x"),  # another request's first text: flushes the batch
    ]:
        box.emit(kind, rid, data)
    box.emit("text", "r1", "d")
    box.emit("notes", "r1", ["n"])
    box.emit("text", "r1", "e")
    box.flush()
    assert batches == [
        [["text", "r1", "a"]],
        [["text", "r1", "bc"], ["text", "r2", "x"]],
        [["text", "r1", "d"], ["notes", "r1", ["n"]], ["text", "r1", "e"]],
    ]


def test_after_done_the_next_answer_on_the_same_id_is_first_again() -> None:
    box, batches = _outbox(interval=3600.0)
    box.emit("text", "r1", "one")
    box.emit("done", "r1", {"state": "done"})
    box.flush()
    box.emit("text", "r1", "two")
    assert batches[-1] == [["text", "r1", "two"]]


def test_flush_with_nothing_queued_sends_nothing() -> None:
    box, batches = _outbox()
    box.flush()
    assert batches == []


@pytest.mark.anyio
async def test_the_runner_delivers_queued_events_in_one_batch() -> None:
    arrived = anyio.Event()
    batches: list[list[Any]] = []

    def send(batch: list[Any]) -> None:
        batches.append(batch)
        arrived.set()

    box = Outbox(send, interval=0.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(box.run)
        box.emit("notice", None, {"message": "zeke: hi", "level": "warn"})
        box.emit("done", "r1", {"state": "done"})
        with anyio.fail_after(10):
            await arrived.wait()
        tg.cancel_scope.cancel()
    assert batches == [
        [
            ["notice", None, {"message": "zeke: hi", "level": "warn"}],
            ["done", "r1", {"state": "done"}],
        ]
    ]
