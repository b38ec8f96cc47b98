"""Benchmarks of the pure modules, in-process: context packing, the SQLite cache and
diffing."""

from __future__ import annotations

import difflib
import json
import random
import sqlite3
import time
from pathlib import Path

from common import Row, median, timed

from zeke.changes import diffing
from zeke.engine import context
from zeke.store import cache as cache_mod

# A realistic block of Python: ~30 lines, a secret now and then (redaction runs).
BLOCK = '''\
class Store{n}:
    """Keeps the rows of table {n} in memory."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rows: list[dict] = []
        self.index: dict[str, int] = {{}}

    def load(self) -> int:
        with open(self.path) as f:
            for i, line in enumerate(f):
                key, _, value = line.partition("=")
                self.index[key.strip()] = i
                self.rows.append({{"key": key.strip(), "value": value.strip()}})
        return len(self.rows)

    def find(self, key: str) -> dict | None:
        i = self.index.get(key)
        return None if i is None else self.rows[i]

    def total(self) -> float:
        s = 0.0
        for row in self.rows:
            try:
                s += float(row["value"])
            except ValueError:
                pass
        return s
'''
SECRET = 'API_KEY = "zk_live_{n:08d}abcdef0123456789"'


def make_lines(n_lines: int) -> list[str]:
    out: list[str] = []
    k = 0
    while len(out) < n_lines:
        out += BLOCK.format(n=k).splitlines()
        if k % 20 == 0:
            out.append(SECRET.format(n=k))
        k += 1
    return out[:n_lines]


def _request(lines: list[str], window_start: int, sel: tuple[int, int], *, context_lines: int,
             total: int) -> context.PackRequest:  # fmt: skip
    return context.PackRequest(
        intent="code",
        instruction="make this faster",
        lines=lines,
        window_start=window_start,
        start_line=sel[0],
        end_line=sel[1],
        path="/home/dev/proj/store.py",
        root="/home/dev/proj",
        filetype="python",
        diagnostics=[{"lnum": sel[0], "col": 0, "severity": 2, "message": "unused variable"}],
        context_lines=context_lines,
        max_context_tokens=3000,
        total_lines=total,
    )


def packing() -> list[Row]:
    rows = []
    for n in (1_000, 10_000, 100_000):
        lines = make_lines(n)
        mid = n // 2
        sel = (mid, mid + 19)
        # (a) what the Lua side sends: the selection plus context_lines (40) each side
        ws = max(1, sel[0] - 40)
        window = lines[ws - 1 : min(n, sel[1] + 40)]
        req = _request(window, ws, sel, context_lines=40, total=n)
        ms = timed(lambda req=req: context.pack(req), 30)
        rows.append(Row("5 packing", f"pack {n // 1000}k-line file (window Lua sends)",
                        median(ms), "ms", target="≤ 20 ms" if n == 10_000 else "",
                        ok=median(ms) <= 20 if n == 10_000 else None))  # fmt: skip
        # (b) worst case: the whole file handed over, context_lines = file length,
        # trimmed by max_context_tokens
        whole = _request(lines, 1, sel, context_lines=n, total=n)
        ms_w = timed(lambda whole=whole: context.pack(whole), 10 if n < 100_000 else 5)
        rows.append(Row("5 packing", f"pack {n // 1000}k-line file (whole file as context)",
                        median(ms_w), "ms", target="≤ 20 ms" if n == 10_000 else "",
                        ok=median(ms_w) <= 20 if n == 10_000 else None,
                        note="tokens_est "
                        f"{context.pack(whole).tokens_est}"))  # fmt: skip
    return rows


# -- cache ------------------------------------------------------------------------

ALIASES = ["auto", "code-fast", "code-plus", "code-smart", "reason-deep"]
MODELS = [
    ("deepseek-coder:14b", "ollama"),
    ("deepseek-coder:33b", "ollama"),
    ("gpt-5-codex", "azure"),
    ("claude-3-5-sonnet", "anthropic"),
    ("gemini-2.5-pro", "google"),
]


def _record(i: int) -> cache_mod.RequestRecord:
    model, provider = MODELS[i % len(MODELS)]
    return cache_mod.RequestRecord(
        request_id=f"r{i:08x}",
        project="bench",
        alias=ALIASES[i % len(ALIASES)],
        model=model,
        provider=provider,
        intent="code",
        size_hint="small",
        latency_ms=800 + i % 400,
        ttfb_ms=120 + i % 90,
        tokens_in=900,
        tokens_out=300,
        cost_usd=0.0012,
        success=True,
    )


TRACE = {
    "x-omen-provider": "ollama",
    "x-omen-model": "deepseek-coder:14b",
    "x-omen-latency-ms": "42",
    "x-omen-cost-est": "0.000000",
    "x-omen-routing-reason": "intent=code prefers local",
    "x-omen-trace-id": "trace-1",
}


def populate(path: Path, n: int = 100_000) -> None:
    """A cache with ``n`` routing_stats rows: 90 % project "bench", the rest spread;
    60 % proposed a change, most of them settled (applied in part or whole, or
    rejected: the outcome columns of migration 0009)."""
    cache = cache_mod.Cache(path)
    assert cache.schema_version() >= 2, "migrations did not run"
    cache.close()
    rng = random.Random(7)
    now = int(time.time())
    rows = []
    for i in range(n):
        model, provider = MODELS[rng.randrange(len(MODELS))]
        ok = rng.random() > 0.07
        proposed = ok and rng.random() < 0.6
        hunks = rng.randrange(1, 6)
        accepted = rng.randrange(0, hunks + 1) if proposed and rng.random() < 0.9 else None
        rows.append(
            (
                f"p{i:08x}",
                "bench" if rng.random() < 0.9 else f"other{rng.randrange(20)}",
                ALIASES[rng.randrange(len(ALIASES))],
                model,
                provider,
                "code",
                "small",
                rng.randrange(200, 9000),
                rng.randrange(40, 2500) if ok else None,
                rng.randrange(100, 4000),
                rng.randrange(10, 2000),
                None if provider != "ollama" and rng.random() < 0.1 else rng.random() / 50,
                1 if ok else 0,
                1 if rng.random() < 0.05 else 0,
                0,
                None if ok else "zeke: OMEN failed upstream (500)",
                "stop" if ok else None,
                now - rng.randrange(86400 * 90),
                1 if proposed else 0,
                accepted,
                None if accepted is None else hunks - accepted,
            )
        )
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO routing_stats(request_id, project, alias, model, provider, intent,"
            " size_hint, latency_ms, ttfb_ms, tokens_in, tokens_out, cost_usd, success,"
            " degraded, over_budget, error, finish_reason, created_at,"
            " proposed, hunks_accepted, hunks_rejected)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.execute("ANALYZE")
    conn.close()


def cache_rows(tmp: Path) -> tuple[list[Row], Path]:
    rows = []
    rec_cache = cache_mod.Cache(tmp / "record.db")
    for i in range(30):  # warm-up: open, migrate, first pages
        rec_cache.record_request(_record(i), TRACE)
    recs = [_record(100 + i) for i in range(400)]
    it = iter(recs)
    ms = timed(lambda: rec_cache.record_request(next(it), TRACE), len(recs))
    rec_cache.close()
    rows.append(Row("6 cache", "record one request (stats + trace row)", median(ms) * 1000,
                    "µs", note=f"p99 {1000 * sorted(ms)[int(len(ms) * .99)]:.0f} µs; "
                    "runs in a worker thread, off both main loops"))  # fmt: skip

    db = tmp / "stats100k.db"
    populate(db)
    cache = cache_mod.Cache(db)
    cache.stats("bench")  # open + first read
    for label, fn in (
        ("Cache.stats(project) with outcomes over 100k rows", lambda: cache.stats("bench")),
        ("Cache.stats(all projects) with outcomes over 100k rows", lambda: cache.stats(None)),
        (
            "Cache.alias_summaries (picker, apply rate) over 100k rows",
            lambda: cache.alias_summaries("bench"),
        ),
    ):
        ms = timed(fn, 5)
        rows.append(Row("6 cache", label, median(ms), "ms", target="≤ 100 ms",
                        ok=median(ms) <= 100))  # fmt: skip
    cache.close()
    return rows, db


def populate_history(path: Path, n: int = 100_000) -> None:
    """A cache with ``n`` history rows (a thread of ~1 KB as sent, a short answer):
    90 % project "bench", the rest spread."""
    cache = cache_mod.Cache(path)
    assert cache.schema_version() >= 8, "migrations did not run"
    cache.close()
    rng = random.Random(8)
    now = int(time.time()) - n
    sent = json.dumps(
        [{"role": "system", "content": "s" * 300}, {"role": "user", "content": "u" * 700}]
    )
    rows = []
    for i in range(n):
        model, provider = MODELS[rng.randrange(len(MODELS))]
        rows.append((f"h{i:08x}", "bench" if rng.random() < 0.9 else f"other{rng.randrange(20)}",
                     now + i, "ZekeRefactor", "code", ALIASES[rng.randrange(len(ALIASES))], model,
                     provider, rng.random() / 50, 1200, "answered", f"question {i}", f"h{i:08x}",
                     1, sent, "a" * 400))  # fmt: skip
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO history(request_id, project, created_at, command, intent, alias, model,"
            " provider, cost_usd, tokens, outcome, title, thread_id, turn, messages, answer)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.execute("ANALYZE")
    conn.close()


def history_rows(tmp: Path) -> tuple[list[Row], Path]:
    """:ZekeHistory's reads over 100k rows, and a write with pruning at that size."""
    db = tmp / "history100k.db"
    populate_history(db)
    cache = cache_mod.Cache(db)
    cache.history.rows("bench")  # open + first read
    rows = []
    for label, fn in (
        ("History.rows(project), 500 newest of 100k", lambda: cache.history.rows("bench")),
        ("History.rows(all projects), 500 newest of 100k", lambda: cache.history.rows(None)),
        ("History.entry (reopen one) among 100k", lambda: cache.history.entry("h00000100")),
    ):
        ms = timed(fn, 7)
        rows.append(Row("6 cache", label, median(ms), "ms", target="≤ 100 ms",
                        ok=median(ms) <= 100))  # fmt: skip
    recs = [
        cache_mod.HistoryRecord(
            f"new{i}",
            "bench",
            "answered",
            [{"role": "user", "content": "u" * 700}],
            "a" * 400,
            question="q",
        )
        for i in range(200)
    ]
    it = iter(recs)
    ms = timed(lambda: cache.history.record(next(it), 100_000), len(recs))
    rows.append(Row("6 cache", "record one history row, pruned to 100k", median(ms) * 1000, "µs",
                    note="runs in the cache-write worker thread, off both main loops"))  # fmt: skip
    cache.close()
    return rows, db


# -- diffing ----------------------------------------------------------------------


def _rewrites(n: int) -> dict[str, tuple[list[str], list[str]]]:
    """What a model sends back for an n-line file: every line rewritten; every code
    line rewritten but blank lines kept (where a quadratic diff is slowest); a
    realistic 30 % of lines edited, dropped or added; its blocks reordered."""
    rnd = random.Random(n)
    old = make_lines(n)
    edited: list[str] = []
    for line in old:
        r = rnd.random()
        if r < 0.20:
            edited.append(line.replace("self", "this") + "  # reviewed")
        elif r < 0.25:
            continue
        elif r < 0.30:
            edited += [line, "        log.debug('here')"]
        else:
            edited.append(line)
    blocks = [old[i : i + 30] for i in range(0, len(old), 30)]
    rnd.shuffle(blocks)
    return {
        "every line different": (old, [f"{line}  # v2" for line in old]),
        "every line rewritten, blank lines kept": (
            old,
            [f"{line}  # v2" if line.strip() else line for line in old],
        ),
        "30 % of lines changed": (old, edited),
        "blocks reordered": (old, [line for block in blocks for line in block]),
    }


def diffing_rows() -> list[Row]:
    """diffing.compute_hunks (every proposed change and tool write), next to difflib's
    SequenceMatcher, which zeke used before (5,000 lines only: it is quadratic)."""
    rows = []
    for n in (5_000, 20_000):
        for label, (old, new) in _rewrites(n).items():
            ms = timed(lambda old=old, new=new: diffing.compute_hunks(old, new), 5)
            work = diffing.match_lines(old, new).work
            baseline = ""
            if n == 5_000:
                before = timed(
                    lambda old=old, new=new: difflib.SequenceMatcher(
                        None, old, new, autojunk=False
                    ).get_opcodes(),
                    1,
                )
                baseline = f"difflib {before[0]:,.0f} ms"
            target = n == 5_000 and label != "blocks reordered"
            rows.append(Row("8 diffing", f"diff a {n:,}-line file, {label}", median(ms), "ms",
                            baseline=baseline, target="≤ 300 ms" if target else "",
                            ok=median(ms) <= 300 if target else None,
                            note=f"{work / (len(old) + len(new)):.1f} work units per line; "
                            "runs in a worker thread"))  # fmt: skip
    return rows
