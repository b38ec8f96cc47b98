"""Stats by outcome on a real SQLite cache (migration 0009, store/stats.py): changes
proposed, hunks accepted and rejected, the apply rate and the cost per applied change
per (alias, model) group, the apply rate per alias for :ZekeModel, and the pending
changes' settling (engine/proposals.py) writing what became of each one."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from zeke import protocol
from zeke.changes import diffing
from zeke.changes import proposal as changes
from zeke.engine.proposals import Proposals
from zeke.settings import Settings
from zeke.store.cache import Cache, RequestRecord


def rec(rid: str, **kw: object) -> RequestRecord:
    base: dict[str, object] = {
        "request_id": rid,
        "project": "grim",
        "alias": "code-smart",
        "model": "gpt-5-codex",
        "provider": "azure",
        "intent": "code",
        "size_hint": "small",
        "latency_ms": 100,
        "ttfb_ms": 50,
        "tokens_in": 10,
        "tokens_out": 10,
        "cost_usd": 0.01,
        "success": True,
        "status": "ok",
    }
    base.update(kw)
    return RequestRecord(**base)  # type: ignore[arg-type]


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    c = Cache(tmp_path / "zeke.db")
    yield c
    c.close()


def test_outcomes_aggregate_per_group(cache: Cache):
    for rid in ("a", "b", "c", "d"):
        cache.record_request(rec(rid, proposed=rid != "d"))
    cache.record_request(rec("e", alias="reason-deep", model="claude", cost_usd=0.04))
    assert cache.record_outcome("a", 2, 1)  # partly applied (one hunk rejected with r)
    assert cache.record_outcome("b", 0, 3)  # rejected whole
    # c: proposed, still pending; d: no change proposed
    (smart, deep) = sorted(cache.stats("grim"), key=lambda r: r.alias or "")
    assert (smart.proposed, smart.hunks_accepted, smart.hunks_rejected) == (3, 2, 4)
    assert (smart.applied, smart.settled) == (1, 2)
    assert smart.apply_rate == pytest.approx(0.5)
    assert smart.cost_per_applied_usd == pytest.approx(0.04)  # 4 requests' cost / 1 applied
    assert (deep.proposed, deep.apply_rate, deep.cost_per_applied_usd) == (0, None, None)
    summaries = cache.alias_summaries("grim")
    assert summaries["code-smart"].apply_rate == pytest.approx(0.5)
    assert summaries["reason-deep"].apply_rate is None
    assert cache.stats(None)[0].apply_rate == pytest.approx(0.5)  # every project too


def test_an_outcome_is_written_once(cache: Cache):
    cache.record_request(rec("a", proposed=True))
    assert cache.record_outcome("a", 1, 0)
    assert not cache.record_outcome("a", 0, 1)  # settled already: stays applied
    assert not cache.record_outcome("nope", 1, 0)
    (row,) = cache.stats("grim")
    assert (row.hunks_accepted, row.hunks_rejected, row.apply_rate) == (1, 0, 1.0)


def proposal(pid: str, n: int) -> changes.Proposal:
    hunks = diffing.compute_hunks(["a", "x", "b", "x", "c"], ["A", "x", "B", "x", "C"])[:n]
    return changes.Proposal(
        id=pid, kind="selection", path=None, original=[], proposed=[], hunks=hunks
    )


def test_settling_a_pending_change_reports_its_outcome():
    seen: list[tuple[str, int, int]] = []
    events = protocol.Events(lambda *a: None)
    p = Proposals(
        settings=Settings.defaults,
        tooling=None,  # type: ignore[arg-type]  # not used: nothing is written
        events=events,
        outcome=lambda rid, a, r: seen.append((rid, a, r)),
    )

    async def go() -> None:
        for pid in ("applied", "rejected", "dropped"):
            p._pending[pid] = proposal(pid, 3)
        p._applied["applied"] = (2, 3)  # apply's result: two of three hunks
        await p.discard({"proposal": "applied", "outcome": "applied"})
        await p.discard({"proposal": "rejected"})
        await p.discard({"proposal": "rejected"})  # settled already: nothing more
        p._applied["dropped"] = (3, 3)  # computed, but the buffer could not take it
        await p.discard({"proposal": "dropped"})

    anyio.run(go)
    assert seen == [("applied", 2, 1), ("rejected", 0, 3), ("dropped", 0, 3)]
