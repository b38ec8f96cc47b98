"""The request history (:ZekeHistory): the store (rows, pruning, outcomes, a corrupt or
locked file) and the engine keeping every request there, in-process (enginekit)."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from enginekit import ScriptedModel, answer, request, rows, serving
from zeke.errors import ZekeError
from zeke.store.cache import Cache, HistoryRecord

ALIASES = {"code-fast": {"provider": "azure", "model": "gpt-5-codex"}}
KEY = "sk-live" + "A1b2C3d4E5f6G7h8I9j0K1l2"  # an API key pasted into a question


def hist(rid: str, project: str = "p", **kw: Any) -> HistoryRecord:
    base: dict[str, Any] = {
        "request_id": rid,
        "project": project,
        "outcome": "answered",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": rid}],
        "answer": f"answer {rid}",
        "question": f"question {rid}\nsecond line",
    }
    base.update(kw)
    return HistoryRecord(**base)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "zeke.db"


def config(project: Path, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "alias": "code-fast",
        "aliases": ALIASES,
        "db_path": str(project.parent / "zeke.db"),
    }
    cfg.update(over)
    return cfg


# The store ------------------------------------------------------------------------


def test_rows_come_newest_first_per_project_and_for_all(db: Path) -> None:
    cache = Cache(db)
    for i, project in enumerate(["a", "b", "a"]):
        assert cache.history.record(hist(f"r{i}", project, created_at=1000 + i), 1000)
    assert [r["request_id"] for r in cache.history.rows("a")] == ["r2", "r0"]
    assert [r["request_id"] for r in cache.history.rows(None)] == ["r2", "r1", "r0"]
    row = cache.history.rows("b")[0]
    assert row["title"] == "question r1" and row["outcome"] == "answered"
    assert "messages" not in row and "answer" not in row  # the list reads small columns
    entry = cache.history.entry("r1")
    assert entry is not None and entry["messages"][1] == {"role": "user", "content": "r1"}
    assert entry["answer"] == "answer r1"


def test_writes_prune_to_max_entries_oldest_first(db: Path) -> None:
    cache = Cache(db)
    for i in range(8):
        assert cache.history.record(hist(f"r{i}"), 5)
    assert cache.history.count() == 5
    assert [r["request_id"] for r in cache.history.rows(None)][-1] == "r3"
    assert cache.history.entry("r2") is None


def test_an_outcome_changes_a_proposed_row_once(db: Path) -> None:
    cache = Cache(db)
    cache.history.record(hist("r1", outcome="proposed"), 10)
    cache.history.record(hist("r2"), 10)
    assert cache.history.set_outcome("r1", "applied")
    assert cache.history.set_outcome("r1", "rejected")  # too late: it was applied
    assert cache.history.set_outcome("r2", "rejected")  # no change was proposed
    got = {r["request_id"]: r["outcome"] for r in cache.history.rows(None)}
    assert got == {"r1": "applied", "r2": "answered"}
    with pytest.raises(ValueError):
        cache.history.set_outcome("r1", "maybe")


def test_the_list_query_reads_the_index_without_sorting(db: Path) -> None:
    cache = Cache(db)
    cache.history.record(hist("r1"), 10)
    cache.close()
    conn = sqlite3.connect(db)
    try:
        for where, params in (("WHERE project = ?", ("p",)), ("", ())):
            plan = " ".join(
                str(r[-1])
                for r in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT request_id FROM history {where}"
                    " ORDER BY created_at DESC, id DESC LIMIT 500",
                    params,
                )
            )
            assert "USING INDEX idx_history_" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()


def test_a_corrupt_file_gives_one_message_then_an_empty_history(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(random.Random(0).randbytes(8192))
    cache = Cache(db)
    assert cache.history.rows(None) == []
    notices = cache.pop_notices()
    assert len(notices) == 1 and "corrupt" in notices[0]
    for i in range(3):  # the fresh file works; nothing more is said
        cache.history.record(hist(f"r{i}"), 10)
    assert len(cache.history.rows(None)) == 3
    assert cache.pop_notices() == []


def test_a_locked_file_skips_writes_with_one_message(db: Path) -> None:
    cache = Cache(db, busy_timeout_ms=100)
    assert cache.history.record(hist("before"), 10)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert cache.history.record(hist("lost"), 10) is False
        assert cache.history.record(hist("lost too"), 10) is False
        notices = cache.pop_notices()
        assert len(notices) == 1 and "locked" in notices[0]
        assert [r["request_id"] for r in cache.history.rows(None)] == ["before"]  # WAL reads
    finally:
        other.execute("ROLLBACK")
        other.close()


# The engine -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_request_is_kept_as_sent_and_as_received(project: Path) -> None:
    model = ScriptedModel()
    model.omen(answer("It sets x."))
    async with serving(config(project), model) as (engine, _rec):
        await engine.run_request(request("r1", project, instruction=f"why? key {KEY}"))
        await engine.settled()
    (row,) = rows(project.parent / "zeke.db", "SELECT * FROM history")
    (body,) = model.bodies("omen")
    assert row["request_id"] == "r1" and row["project"] == "grim"
    assert row["command"] == "ZekeExplain" and row["outcome"] == "answered"
    assert row["alias"] == "code-fast" and row["answer"] == "It sets x."
    assert json.loads(row["messages"]) == body["messages"]
    # the key never reaches the database, in any column
    assert not any(KEY in str(v) for v in row.values())
    assert row["title"].startswith("why? key «redacted")


@pytest.mark.anyio
async def test_history_false_keeps_nothing(project: Path) -> None:
    model = ScriptedModel()
    model.omen(answer("One."), answer("Two."))
    async with serving(config(project, history=False), model) as (engine, _rec):
        await engine.run_request(request("r1", project))
        await engine.run_request(request("r2", project))
        await engine.settled()
        listed = await engine.call("history", {"cwd": str(project)})
    db = project.parent / "zeke.db"
    assert len(rows(db, "SELECT * FROM routing_stats")) == 2
    assert rows(db, "SELECT * FROM history") == []
    assert listed["enabled"] is False and listed["rows"] == []


@pytest.mark.anyio
async def test_a_failed_request_is_kept_as_failed(project: Path) -> None:
    model = ScriptedModel()
    model.omen(ZekeError("OMEN refused it", kind="refused"))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
        listed = await engine.call("history", {"cwd": str(project)})
    assert rec.done("r1")["state"] == "error"
    assert [(r["request_id"], r["outcome"]) for r in listed["rows"]] == [("r1", "failed")]


@pytest.mark.anyio
async def test_a_reopened_entry_is_a_thread_to_follow_up(project: Path) -> None:
    model = ScriptedModel()
    model.omen(answer("It sets x."), answer("Shorter: x."))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
        opened = await engine.call("history_open", {"id": "r1", "thread": "t9"})
        await engine.run_followup({"id": "f1", "thread": "t9", "text": "shorter"})
        await engine.settled()
        with pytest.raises(ZekeError, match="no longer in the history"):
            await engine.call("history_open", {"id": "gone", "thread": "t10"})
    assert opened["thread"] == "t9" and opened["turn"] == 1
    assert opened["entry"]["answer"] == "It sets x."
    first, second = model.bodies("omen")
    assert second["messages"] == [
        *first["messages"],
        {"role": "assistant", "content": "It sets x."},
        {"role": "user", "content": "shorter"},
    ]
    assert second["omen"]["stickiness"] == "session"
    assert rec.done("f1")["thread"] == "t9" and rec.done("f1")["turn"] == 2
    kept = rows(project.parent / "zeke.db", "SELECT request_id, command, turn FROM history")
    assert [(r["request_id"], r["command"], r["turn"]) for r in kept] == [
        ("r1", "ZekeExplain", 1),
        ("f1", "ZekeFollowup", 2),
    ]
