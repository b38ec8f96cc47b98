"""Consecutive facts ("meta") of one request reach Neovim as one event, with the
same result as applying them one after another."""

from __future__ import annotations

from typing import Any

from zeke.host.outbox import Outbox


def _apply(req: dict[str, Any], batch: list[list[Any]]) -> dict[str, Any]:
    """What the Lua side does with meta events: field by field, None unsets."""
    for kind, _, data in batch:
        if kind == "meta":
            for k, v in data.items():
                if v is None:
                    req.pop(k, None)
                else:
                    req[k] = v
    return req


def test_consecutive_metas_of_one_request_merge_the_later_field_winning() -> None:
    metas = [
        {"alias": "code-fast", "model": "m1", "provider": "acme"},
        {"model": "m2", "provider": None, "degraded": False},
        {"cost_usd": 0.01},
    ]
    batches: list[list[Any]] = []
    box = Outbox(batches.append, interval=3600.0)
    for m in metas:
        box.emit("meta", "r1", m)
    box.emit("text", "r1", "Hi")  # the first text flushes the batch

    assert [kind for kind, _, _ in batches[0]] == ["meta", "text"]
    one_by_one = _apply({}, [["meta", "r1", m] for m in metas])
    assert (
        _apply({}, batches[0])
        == one_by_one
        == {
            "alias": "code-fast",
            "model": "m2",
            "degraded": False,
            "cost_usd": 0.01,
        }
    )
    assert metas[0] == {"alias": "code-fast", "model": "m1", "provider": "acme"}  # not mutated


def test_metas_of_other_requests_or_apart_stay_separate_and_in_order() -> None:
    batches: list[list[Any]] = []
    box = Outbox(batches.append, interval=3600.0)
    box.emit("meta", "r1", {"model": "a"})
    box.emit("meta", "r2", {"model": "b"})
    box.emit("notes", "r2", ["n"])
    box.emit("meta", "r2", {"model": "c"})
    box.flush()
    assert batches == [
        [
            ["meta", "r1", {"model": "a"}],
            ["meta", "r2", {"model": "b"}],
            ["notes", "r2", ["n"]],
            ["meta", "r2", {"model": "c"}],
        ]
    ]
