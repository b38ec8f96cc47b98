"""The SQLite stats cache: schema, rows, numbers, and every way the file can go wrong."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sqlite3
import statistics
import threading
import time
from importlib import resources
from pathlib import Path

import pytest

import zeke.store.cache
from zeke.store.cache import (
    AliasSummary,
    Cache,
    Prefs,
    RequestRecord,
    StatsRow,
    ToolAuditRecord,
)

# The two seed migrations are kept byte-for-byte as the project's original design
# notes wrote them (docs/design.md §10 describes them); these are their sha256 sums,
# so any edit to either file fails here.
SEED_SHA256 = {
    "0001_routing.sql": "ae9bf68b17d29a65f05ec2644c1437fa5b6aacb05beceb70211cc3d89ffadae7",
    "0002_indexes.sql": "a58bb02a26c0140a587623ddc32938f0b1360a043ec7021fd6ce74823217adc3",
}

# every numbered migration shipped in the package, counted independently of cache.py
LATEST = len(
    list((Path(zeke.store.cache.__file__).parent / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql"))
)


def rec(**kw: object) -> RequestRecord:
    base: dict[str, object] = {
        "request_id": "req",
        "project": "p",
        "alias": "code-fast",
        "model": "deepseek-coder:14b",
        "provider": "ollama",
        "intent": "code",
        "size_hint": "small",
        "latency_ms": 1000,
        "ttfb_ms": 100,
        "tokens_in": 10,
        "tokens_out": 20,
        "cost_usd": 0.0,
        "success": True,
    }
    base.update(kw)
    return RequestRecord(**base)  # type: ignore[arg-type]


def rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "zeke" / "zeke.db"


# ---------------------------------------------------------------- schema


def test_seed_migrations_ship_verbatim() -> None:
    folder = resources.files("zeke.store") / "migrations"
    shipped = {name: (folder / name).read_bytes() for name in SEED_SHA256}
    for name, data in shipped.items():
        assert hashlib.sha256(data).hexdigest() == SEED_SHA256[name], name


def test_nothing_on_disk_until_first_use_then_parents_created(db: Path) -> None:
    cache = Cache(db)
    assert not db.parent.exists()
    assert cache.available
    assert cache.schema_version() == LATEST
    assert db.exists()
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]


def test_migrations_applied_once_each(db: Path) -> None:
    first = Cache(db)
    assert first.schema_version() == LATEST
    first.close()
    tables = {r[0] for r in rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"routing_prefs", "routing_stats", "routing_trace", "tool_calls"} <= tables
    # If 0002 ran again on the next open, this index would come back.
    con = sqlite3.connect(db)
    con.execute("DROP INDEX idx_stats_model")
    con.commit()
    con.close()
    again = Cache(db)
    assert again.schema_version() == LATEST
    assert again.record_request(rec())
    assert again.pop_notices() == []
    assert rows(db, "SELECT name FROM sqlite_master WHERE name = 'idx_stats_model'") == []


def test_seed_only_database_is_upgraded_keeping_rows(db: Path) -> None:
    # A cache made by another client from just the seed's two migrations.
    db.parent.mkdir(parents=True)
    folder = resources.files("zeke.store") / "migrations"
    con = sqlite3.connect(db)
    con.executescript((folder / "0001_routing.sql").read_text())
    con.executescript((folder / "0002_indexes.sql").read_text())
    con.execute("PRAGMA user_version = 2")
    con.execute(
        "INSERT INTO routing_stats(project, alias, model, provider, latency_ms, success,"
        " created_at) VALUES ('p', 'code-fast', 'm', 'ollama', 900, 1, 1)"
    )
    con.commit()
    con.close()
    cache = Cache(db)
    assert cache.schema_version() == LATEST
    (row,) = cache.stats("p")
    assert (row.alias, row.requests, row.median_latency_ms, row.degraded) == (
        "code-fast",
        1,
        900.0,
        False,
    )
    assert row.cost_usd is None and row.cost_unknown == 1


# ---------------------------------------------------------------- rows


def test_one_row_per_request_failures_included(db: Path) -> None:
    cache = Cache(db)
    assert cache.record_request(rec(request_id="a", finish_reason="stop"))
    assert cache.record_request(
        rec(
            request_id="b",
            model=None,
            provider=None,
            success=False,
            error="OMEN answered 429: Rate limit exceeded",
            latency_ms=40,
            ttfb_ms=None,
            tokens_out=None,
            cost_usd=None,
        )
    )
    got = rows(
        db,
        "SELECT request_id, success, error, finish_reason, ttfb_ms FROM routing_stats ORDER BY id",
    )
    assert got == [
        ("a", 1, None, "stop", 100),
        ("b", 0, "OMEN answered 429: Rate limit exceeded", None, None),
    ]


def test_trace_row_only_when_trace_has_content(db: Path) -> None:
    cache = Cache(db)
    cache.record_request(rec(request_id="none"), None)
    cache.record_request(rec(request_id="empty"), {})
    trace = {"x-omen-provider": "azure", "x-omen-routing-reason": "cheapest under budget"}
    cache.record_request(rec(request_id="full", project="grim", created_at=1234), trace)
    got = rows(db, "SELECT request_id, project, trace, created_at FROM routing_trace")
    assert len(got) == 1
    assert got[0][:2] == ("full", "grim")
    assert json.loads(got[0][2]) == trace
    assert got[0][3] == 1234
    assert rows(db, "SELECT COUNT(*) FROM routing_stats") == [(3,)]


def test_absurd_numbers_are_stored_as_unknown(db: Path) -> None:
    cache = Cache(db)
    ok = cache.record_request(
        rec(latency_ms=-5, ttfb_ms=float("inf"), tokens_in=2**70, cost_usd=float("nan"))
    )
    assert ok
    assert rows(db, "SELECT latency_ms, ttfb_ms, tokens_in, cost_usd FROM routing_stats") == [
        (None, None, None, None)
    ]


def test_created_at_defaults_to_now(db: Path) -> None:
    cache = Cache(db)
    before = int(time.time())
    cache.record_request(rec())
    after = int(time.time())
    ((created,),) = rows(db, "SELECT created_at FROM routing_stats")
    assert before <= created <= after


# ---------------------------------------------------------------- prefs


def test_prefs_default_to_the_seed_schema_defaults(db: Path) -> None:
    assert Cache(db).prefs("nowhere") == Prefs(
        prefer_local=True, max_cloud_cost_cents=200, last_alias=None, last_model=None
    )


def test_prefs_upsert_keeps_other_columns(db: Path) -> None:
    cache = Cache(db)
    assert cache.set_last_alias("grim", "code-smart")
    assert cache.prefs("grim") == Prefs(True, 200, "code-smart", None)
    # The user tuned the other columns by hand (or another tool did).
    con = sqlite3.connect(db)
    con.execute(
        "UPDATE routing_prefs SET prefer_local = 0, max_cloud_cost_cents = 50"
        " WHERE project = 'grim'"
    )
    con.commit()
    con.close()
    assert cache.set_last_model("grim", "gpt-5-codex")
    assert cache.set_last_alias("grim", "code-fast")
    assert cache.prefs("grim") == Prefs(False, 50, "code-fast", "gpt-5-codex")
    assert cache.set_last_alias("grim", None)  # back to the configured default alias
    assert cache.prefs("grim") == Prefs(False, 50, None, "gpt-5-codex")
    assert cache.prefs("other") == Prefs()
    assert rows(db, "SELECT COUNT(*) FROM routing_prefs") == [(1,)]


# ---------------------------------------------------------------- numbers


def _fill_known_data(cache: Cache) -> None:
    t = 1_700_000_000
    # code-fast on ollama, project p: ttfb 100..400, one failure, cost known 0.
    for i, (ttfb, lat, ok) in enumerate(
        [(300, 3000, True), (100, 1000, True), (400, 4000, False), (200, 2000, True)]
    ):
        cache.record_request(
            rec(request_id=f"f{i}", ttfb_ms=ttfb, latency_ms=lat, success=ok, created_at=t + i)
        )
    # code-smart on azure: one unknown cost.
    for i, (ttfb, cost) in enumerate([(70, 0.01), (50, None), (60, 0.03)]):
        cache.record_request(
            rec(
                request_id=f"s{i}",
                alias="code-smart",
                model="gpt-5-codex",
                provider="azure",
                ttfb_ms=ttfb,
                latency_ms=ttfb * 10,
                tokens_in=100,
                tokens_out=200,
                cost_usd=cost,
                created_at=t + 10 + i,
            )
        )
    # code-smart in degraded mode, newest row of that alias, no TTFB measured.
    cache.record_request(
        rec(
            request_id="d0",
            alias="code-smart",
            degraded=True,
            ttfb_ms=None,
            latency_ms=500,
            created_at=t + 20,
        )
    )
    # reason-deep: ttfb 1..20 shuffled (p95 is not simply the max here).
    order = list(range(1, 21))
    random.Random(7).shuffle(order)
    for i, ttfb in enumerate(order):
        cache.record_request(
            rec(
                request_id=f"r{i}",
                alias="reason-deep",
                model="claude-3-5-sonnet",
                provider="anthropic",
                ttfb_ms=ttfb,
                latency_ms=ttfb,
                tokens_in=1,
                tokens_out=1,
                cost_usd=None,
                created_at=t + 30 + i,
            )
        )
    # A request that failed before an alias was resolved.
    cache.record_request(
        rec(request_id="x", alias=None, model=None, provider=None, success=False, created_at=t)
    )
    # Another project, same alias/model/provider as p's code-fast.
    for i, ttfb in enumerate([2000, 1000]):
        cache.record_request(
            rec(request_id=f"q{i}", project="q", ttfb_ms=ttfb, latency_ms=ttfb, created_at=t)
        )


def test_stats_numbers_for_one_project(db: Path) -> None:
    cache = Cache(db)
    _fill_known_data(cache)
    got = cache.stats("p")
    assert [(r.alias, r.requests) for r in got] == [
        ("reason-deep", 20),
        ("code-fast", 4),
        ("code-smart", 3),
        (None, 1),
        ("code-smart", 1),
    ]
    by_key = {(r.alias, r.degraded): r for r in got}
    assert by_key[("code-fast", False)] == StatsRow(
        alias="code-fast",
        model="deepseek-coder:14b",
        provider="ollama",
        degraded=False,
        requests=4,
        successes=3,
        success_rate=0.75,
        median_ttfb_ms=250.0,  # (200 + 300) / 2
        p95_ttfb_ms=400.0,  # rank ceil(3.8) = 4
        median_latency_ms=2500.0,
        tokens_in=40,
        tokens_out=80,
        cost_usd=0.0,  # known to be free, not unknown
        cost_unknown=0,
    )
    smart = by_key[("code-smart", False)]
    assert (smart.median_ttfb_ms, smart.p95_ttfb_ms, smart.median_latency_ms) == (60, 70, 600)
    assert smart.cost_usd == pytest.approx(0.04)
    assert smart.cost_unknown == 1
    assert (smart.tokens_in, smart.tokens_out) == (300, 600)
    deep = by_key[("reason-deep", False)]
    assert (deep.median_ttfb_ms, deep.p95_ttfb_ms) == (10.5, 19.0)  # rank ceil(19.0) = 19
    assert deep.cost_usd is None and deep.cost_unknown == 20
    degraded = by_key[("code-smart", True)]
    assert (degraded.model, degraded.provider) == ("deepseek-coder:14b", "ollama")
    assert (degraded.median_ttfb_ms, degraded.p95_ttfb_ms) == (None, None)
    assert degraded.median_latency_ms == 500
    failed = by_key[(None, False)]
    assert (failed.successes, failed.success_rate) == (0, 0.0)


def test_stats_across_projects(db: Path) -> None:
    cache = Cache(db)
    _fill_known_data(cache)
    got = cache.stats(None)
    assert sum(r.requests for r in got) == 31
    fast = next(r for r in got if r.alias == "code-fast")
    assert fast.requests == 6
    # ttfb 100, 200, 300, 400, 1000, 2000: median (300 + 400) / 2, p95 rank ceil(5.7) = 6
    assert (fast.median_ttfb_ms, fast.p95_ttfb_ms) == (350.0, 2000.0)
    # latency 1000, 1000, 2000, 2000, 3000, 4000
    assert fast.median_latency_ms == 2000.0
    deep = next(r for r in got if r.alias == "reason-deep")
    assert (deep.median_ttfb_ms, deep.p95_ttfb_ms) == (10.5, 19.0)


def test_alias_summaries(db: Path) -> None:
    cache = Cache(db)
    _fill_known_data(cache)
    got = cache.alias_summaries("p")
    assert set(got) == {"code-fast", "code-smart", "reason-deep"}
    assert got["code-fast"] == AliasSummary(
        alias="code-fast",
        requests=4,
        success_rate=0.75,
        median_ttfb_ms=250.0,
        avg_cost_usd=0.0,
        last_model="deepseek-coder:14b",
        last_provider="ollama",
    )
    smart = got["code-smart"]
    assert smart.requests == 4
    assert smart.median_ttfb_ms == 60.0  # the degraded row measured no TTFB
    assert smart.avg_cost_usd == pytest.approx((0.01 + 0.03 + 0.0) / 3)
    assert (smart.last_model, smart.last_provider) == ("deepseek-coder:14b", "ollama")
    assert got["reason-deep"].avg_cost_usd is None
    assert cache.alias_summaries("nobody") == {}


def test_stats_speed_on_100k_rows(db: Path) -> None:
    cache = Cache(db)
    assert cache.schema_version() == LATEST
    rnd = random.Random(3)
    aliases = [("code-fast", "dc:14b", "ollama"), ("code-smart", "gpt-5", "azure")]
    data = []
    for i in range(100_000):
        alias, model, provider = aliases[i % 2]
        data.append(
            (
                "p",
                alias,
                model,
                provider,
                rnd.randint(1, 5000),
                rnd.randint(1, 60000),
                i % 17 != 0,
                rnd.choice([None, 0.002]),
                1_700_000_000 + i,
            )
        )
    con = sqlite3.connect(db)
    # Filling is not what is measured: build the same indexes once, after the rows.
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master"
        " WHERE type = 'index' AND tbl_name = 'routing_stats' AND sql IS NOT NULL"
    ).fetchall()
    assert len(indexes) >= 4
    for name, _sql in indexes:
        con.execute(f"DROP INDEX {name}")
    con.executemany(
        "INSERT INTO routing_stats(project, alias, model, provider, ttfb_ms, latency_ms,"
        " success, cost_usd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        data,
    )
    for _name, sql in indexes:
        con.execute(sql)
    con.commit()
    con.close()
    start = time.perf_counter()
    got = cache.stats("p")
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    cache.alias_summaries("p")
    elapsed_summaries = time.perf_counter() - start
    print(
        f"\nstats() over 100,000 rows: {elapsed * 1000:.1f} ms;"
        f" alias_summaries(): {elapsed_summaries * 1000:.1f} ms"
    )
    # Right numbers too: checked against the statistics module.
    ttfbs = sorted(r[4] for r in data if r[1] == "code-fast")
    row = next(r for r in got if r.alias == "code-fast")
    assert row.requests == 50_000
    assert row.median_ttfb_ms == statistics.median(ttfbs)
    assert row.p95_ttfb_ms == ttfbs[math.ceil(0.95 * len(ttfbs)) - 1]
    assert row.median_latency_ms == statistics.median(r[5] for r in data if r[1] == "code-fast")


# ---------------------------------------------------------------- tool audit


def test_tool_calls_newest_first_per_project(db: Path) -> None:
    cache = Cache(db)
    for i, (project, decision, result) in enumerate(
        [("p", "allow", "ok"), ("q", "reject", "not_run"), ("p", "policy", "error")]
    ):
        assert cache.record_tool_call(
            ToolAuditRecord(
                request_id=f"r{i}",
                project=project,
                server="glyph",
                tool="write_file",
                args_digest=f"sha256:{i}",
                decision=decision,
                result_status=result,
                duration_ms=12,
                created_at=100 + i,
            )
        )
    got = cache.tool_calls("p")
    assert [(c["request_id"], c["decision"], c["result_status"]) for c in got] == [
        ("r2", "policy", "error"),
        ("r0", "allow", "ok"),
    ]
    assert got[0]["tool"] == "write_file" and got[0]["created_at"] == 102
    assert [c["request_id"] for c in cache.tool_calls(None, limit=2)] == ["r2", "r1"]
    with pytest.raises(ValueError, match="decision"):
        cache.record_tool_call(ToolAuditRecord(None, "p", None, "read_file", "d", "maybe", "ok"))


# ---------------------------------------------------------------- failures


def test_corrupt_file_is_moved_aside_and_replaced(db: Path) -> None:
    db.parent.mkdir(parents=True)
    garbage = random.Random(0).randbytes(8192)
    db.write_bytes(garbage)
    cache = Cache(db)
    assert cache.record_request(rec())
    notices = cache.pop_notices()
    assert len(notices) == 1 and "corrupt" in notices[0]
    (aside,) = [p for p in db.parent.iterdir() if p.name.startswith("zeke.db.corrupt-")]
    assert str(aside) in notices[0]
    assert aside.read_bytes() == garbage
    assert rows(db, "SELECT COUNT(*) FROM routing_stats") == [(1,)]
    assert cache.schema_version() == LATEST
    assert cache.pop_notices() == []


def test_truncated_file_is_moved_aside_and_replaced(db: Path) -> None:
    cache = Cache(db)
    for i in range(300):
        cache.record_request(rec(request_id=f"r{i}", error="e" * 400))
    cache.close()  # checkpoints: everything is in the main file now
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    kept = db.read_bytes()
    cache = Cache(db)
    assert cache.stats("p") == []  # a fresh, empty cache, not an exception
    notices = cache.pop_notices()
    assert len(notices) == 1 and "moved it aside" in notices[0]
    (aside,) = [p for p in db.parent.iterdir() if ".corrupt-" in p.name]
    assert aside.read_bytes() == kept
    assert cache.record_request(rec())
    assert rows(db, "SELECT COUNT(*) FROM routing_stats") == [(1,)]


def test_locked_database_gives_up_within_busy_timeout(db: Path) -> None:
    cache = Cache(db, busy_timeout_ms=200)
    assert cache.record_request(rec(request_id="before"))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        start = time.monotonic()
        assert cache.record_request(rec(request_id="lost")) is False
        elapsed = time.monotonic() - start
        assert elapsed < 0.2 + 0.7
        assert cache.record_request(rec(request_id="lost too")) is False
        notices = cache.pop_notices()
        assert len(notices) == 1 and "locked" in notices[0]
        # WAL: a writer elsewhere does not stop us reading.
        assert [r.requests for r in cache.stats("p")] == [1]
        assert cache.available
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert cache.record_request(rec(request_id="after"))
    assert rows(db, "SELECT request_id FROM routing_stats ORDER BY id") == [
        ("before",),
        ("after",),
    ]


def test_lock_held_while_cache_is_first_created(db: Path) -> None:
    db.parent.mkdir(parents=True)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    cache = Cache(db, busy_timeout_ms=200)
    try:
        start = time.monotonic()
        assert cache.record_request(rec()) is False
        assert time.monotonic() - start < 0.2 + 0.7
        assert any("locked" in n for n in cache.pop_notices())
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert cache.record_request(rec())
    assert cache.schema_version() == LATEST


def test_parent_is_a_file_turns_stats_off_with_one_notice(tmp_path: Path) -> None:
    # Root ignores file modes; a regular file where a directory must be fails for anyone.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    cache = Cache(blocker / "zeke.db")
    assert cache.record_request(rec()) is False
    assert cache.available is False
    notices = cache.pop_notices()
    assert len(notices) == 1
    assert str(blocker / "zeke.db") in notices[0] and "stats are off" in notices[0]
    assert cache.record_request(rec()) is False
    assert cache.stats("p") == [] and cache.prefs("p") == Prefs()
    assert cache.pop_notices() == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_unwritable_directory_turns_stats_off(tmp_path: Path) -> None:
    cache = Cache("/proc/zeke-test.db")  # /proc refuses new files, even to root
    assert cache.set_last_alias("p", "code-fast") is False
    assert cache.available is False
    (notice,) = cache.pop_notices()
    assert "/proc/zeke-test.db" in notice and "stats are off" in notice


def test_database_deleted_while_in_use_is_recreated(db: Path) -> None:
    cache = Cache(db)
    assert cache.record_request(rec(request_id="old"))
    os.remove(db)  # the -wal/-shm stay behind, as when a user deletes just the file
    assert cache.record_request(rec(request_id="new"))
    assert rows(db, "SELECT request_id FROM routing_stats") == [("new",)]
    assert cache.schema_version() == LATEST


def test_two_instances_on_one_file_lose_no_rows(db: Path) -> None:
    caches = [Cache(db), Cache(db)]  # two Neovims, first use at the same moment
    barrier = threading.Barrier(2)
    results: list[list[bool]] = [[], []]

    def writer(n: int) -> None:
        barrier.wait()
        for i in range(200):
            results[n].append(caches[n].record_request(rec(request_id=f"{n}-{i}")))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(results[0]) and all(results[1])
    assert len(results[0]) == len(results[1]) == 200
    assert rows(db, "SELECT COUNT(DISTINCT request_id) FROM routing_stats") == [(400,)]
    assert caches[0].pop_notices() == caches[1].pop_notices() == []


def test_one_instance_shared_by_worker_threads(db: Path) -> None:
    cache = Cache(db)
    done: list[bool] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(50):
            ok = cache.record_request(rec(request_id=f"{n}-{i}"), {"x-omen-n": str(n)})
            with lock:
                done.append(ok)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(done) == 200 and all(done)
    assert rows(db, "SELECT COUNT(*) FROM routing_stats") == [(200,)]
    assert rows(db, "SELECT COUNT(*) FROM routing_trace") == [(200,)]


def test_close_then_use_again(db: Path) -> None:
    cache = Cache(db)
    cache.record_request(rec())
    cache.close()
    assert cache.record_request(rec())
    assert rows(db, "SELECT COUNT(*) FROM routing_stats") == [(2,)]
