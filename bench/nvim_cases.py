"""Benchmarks that drive a real Neovim with the real host: startup, first token
(cold and warm), render throughput with responsiveness, memory, and :ZekeStats."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    BENCH,
    ROOT,
    Row,
    SSEServer,
    Watch,
    median,
    pctl,
    proc_status,
    wait_for,
    watch,
)

# -- 1. startup -----------------------------------------------------------------------

_STARTED = re.compile(r"^\s*([\d.]+)\s+.*--- NVIM STARTED ---")
_PLUGIN = re.compile(r"^\s*[\d.]+\s+([\d.]+)\s+[\d.]+: sourcing .*/plugin/zeke\.lua")


def startup(nvim_bin: str, tmp: Path, runs: int = 20) -> list[Row]:
    """`nvim --clean --headless --startuptime` with and without zeke on the runtimepath."""
    empty = tmp / "empty-rtp"
    empty.mkdir(exist_ok=True)
    env = dict(os.environ)
    for sub in ("config", "data", "state", "cache"):
        (tmp / "xdg" / sub).mkdir(parents=True, exist_ok=True)
        env[f"XDG_{sub.upper()}_HOME"] = str(tmp / "xdg" / sub)
    totals: dict[bool, list[float]] = {False: [], True: []}
    plugin_ms: list[float] = []
    log = tmp / "startuptime.log"
    for i in range(runs + 2):  # interleaved, so drift hits both alike; 2 warm-ups each
        for with_plugin in (False, True):
            log.unlink(missing_ok=True)
            rtp = ROOT if with_plugin else empty
            subprocess.run(
                [
                    nvim_bin,
                    "--clean",
                    "--headless",
                    "--startuptime",
                    str(log),
                    "--cmd",
                    f"set rtp^={rtp}",
                    "-c",
                    "call timer_start(0, {-> execute('qa!')})",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                timeout=30,
            )
            text = log.read_text()
            started = [float(m.group(1)) for m in map(_STARTED.match, text.splitlines()) if m]
            plug = [float(m.group(1)) for m in map(_PLUGIN.match, text.splitlines()) if m]
            if i < 2:
                continue
            totals[with_plugin].append(started[-1])
            if with_plugin:
                if not plug:
                    raise RuntimeError("plugin/zeke.lua was not sourced: check the runtimepath")
                plugin_ms.append(plug[0])
    base, withp = median(totals[False]), median(totals[True])
    added = withp - base
    return [
        Row("1 startup", "startup, zeke on the runtimepath (total)", withp, "ms",
            baseline=f"{base:.1f} ms without", target="≤ 1 ms added",
            ok=added <= 1.0, note=f"difference of medians {added:+.2f} ms"),
        Row("1 startup", "sourcing plugin/zeke.lua (self+sourced)", median(plugin_ms), "ms",
            target="≤ 1 ms", ok=median(plugin_ms) <= 1.0,
            note=f"max {max(plugin_ms):.2f} ms over {runs} runs"),
    ]  # fmt: skip


# -- 2. cold first request --------------------------------------------------------------


def _ttft(stamp: dict[str, Any], srv: dict[str, Any]) -> float:
    """Command start → first token visible, minus the server's own time to first byte."""
    server_own = (srv["first_ns"] - srv["recv_ns"]) / 1e6
    return (stamp["first"] - stamp["t0"]) / 1e6 - server_own


def _bytecode_cached() -> bool:
    import zeke.engine.core

    origin = zeke.engine.core.__file__
    return os.path.exists(importlib.util.cache_from_source(origin))


def cold(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
         runs: int = 8) -> list[Row]:  # fmt: skip
    """A fresh Neovim each run: command → host start → first token in the answer buffer."""
    server.mode(tokens=8, newline_every=0)
    rows = []
    pycache = tmp / "pycache"
    variants = [
        ("cached", {"PYTHONPYCACHEPREFIX": str(pycache), "PYTHONDONTWRITEBYTECODE": ""}),
        ("as-is", {}),
    ]
    for name, env in variants:
        samples, splits = [], []
        for i in range(runs + 1):  # run 0 primes the bytecode cache / disk cache
            with watch(nvim_bin, tmp / f"cold-{name}-{i}", server, project, file, env=env) as w:
                st = w.run()
                srv = server.stamps()[-1]
                if st["state"] != "done":
                    raise RuntimeError(f"cold request ended {st['state']}")
                if i:
                    samples.append(_ttft(st, srv))
                    splits.append((srv["recv_ns"] - st["t0"]) / 1e6)
        if name == "cached":
            label = "cold first token (bytecode cached: a normal install)"
            note = f"request reached the server after {median(splits):.0f} ms (host start)"
        else:
            have = "present" if _bytecode_cached() else "absent"
            label = f"cold first token (this checkout as is: zeke bytecode {have})"
            note = f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!s}"
        rows.append(Row("2 cold", label, median(samples), "ms", target="≤ 250 ms",
                        ok=median(samples) <= 250,
                        note=f"{note}; min {min(samples):.0f}, max {max(samples):.0f}"))  # fmt: skip
    return rows


# -- 3. warm overhead -----------------------------------------------------------------------


def _bare(server: SSEServer, body: Path, n: int) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, str(BENCH / "bare_client.py"), f"{server.url}/chat/completions",
         str(body), str(n)],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    return json.loads(out)


def _curl(server: SSEServer, body: Path, rid: str) -> tuple[float, float]:
    """(time to first byte, total) in ms, as curl -N reports them."""
    out = subprocess.run(
        ["curl", "-sS", "-N", "-o", "/dev/null", "-w", "%{time_starttransfer} %{time_total}",
         "-H", "content-type: application/json", "-H", f"x-request-id: {rid}",
         "--data-binary", f"@{body}", f"{server.url}/chat/completions"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    return float(out[0]) * 1000, float(out[1]) * 1000


def warm(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
         runs: int = 30) -> tuple[list[Row], Path]:  # fmt: skip
    """Interleaved, so that all three see the same machine: a zeke request, the same
    body from a bare httpx client (a long-lived process, pooled connection), and
    curl -N (a new process and connection each time)."""
    server.mode(tokens=8, newline_every=0)
    zeke, leave, render, bare_ms, curl_ms = [], [], [], [], []
    body = tmp / "body.json"
    with watch(nvim_bin, tmp / "warm", server, project, file) as w:
        w.run()
        body.write_bytes(server.last_body())
        bare = subprocess.Popen(
            [sys.executable, str(BENCH / "bare_client.py"), f"{server.url}/chat/completions",
             str(body), "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert bare.stdin is not None and bare.stdout is not None
        try:
            for i in range(runs + 4):
                st = w.run()
                bare.stdin.write("go\n")
                bare.stdin.flush()
                b = json.loads(bare.stdout.readline())
                ttfb, _total = _curl(server, body, f"curl-{i}")
                stamps = {s["rid"]: s for s in server.stamps()}
                srv = stamps[st["rid"]]
                if i < 4:
                    continue
                zeke.append(_ttft(st, srv))
                leave.append((srv["recv_ns"] - st["t0"]) / 1e6)
                render.append((st["first"] - srv["first_ns"]) / 1e6)
                sb, sc = stamps[b["rid"]], stamps[f"curl-{i}"]
                bare_ms.append(
                    (b["first_ns"] - b["start_ns"] - (sb["first_ns"] - sb["recv_ns"])) / 1e6
                )
                curl_ms.append(ttfb - (sc["first_ns"] - sc["recv_ns"]) / 1e6)
        finally:
            bare.stdin.close()
            bare.wait(10)
    over = median(zeke) - median(bare_ms)
    return [
        Row("3 warm", "warm first token, zeke (command → visible)", median(zeke), "ms",
            baseline=f"httpx {median(bare_ms):.2f} ms · curl -N {median(curl_ms):.2f} ms",
            note=f"request reaches the server after {median(leave):.1f} ms; its first byte → "
                 f"visible {median(render):.1f} ms; p90 {pctl(zeke, 90):.1f} ms"),
        Row("3 warm", "warm overhead over a bare httpx client", over, "ms",
            baseline=f"curl floor {median(curl_ms):.2f} ms", target="≤ 5 ms", ok=over <= 5,
            note="difference of medians, interleaved runs"),
    ], body  # fmt: skip


def command_cost(nvim_bin: str, server: SSEServer, tmp: Path, project: Path,
                 sizes: dict[int, Path]) -> list[Row]:  # fmt: skip
    """The synchronous part of :ZekeRefactor in Neovim (selection, context capture,
    answer buffer, notify) on big buffers."""
    server.mode(tokens=8, newline_every=0)
    rows = []
    first = next(iter(sizes.values()))
    with watch(nvim_bin, tmp / "cmdcost", server, project, first) as w:
        w.run()  # host up
        for n, path in sizes.items():
            w.nv.cmd(f"edit {path}")
            mid = n // 2
            ms = []
            for _ in range(6):
                st = w.run(f"{mid},{mid + 19}ZekeRefactor")
                ms.append((st["cmd_end"] - st["t0"]) / 1e6)
            rows.append(Row("5 packing", f":ZekeRefactor in Neovim, {n // 1000}k-line buffer "
                            "(sync part, capture included)", median(ms[1:]), "ms",
                            target="≤ 20 ms" if n == 10_000 else "",
                            ok=median(ms[1:]) <= 20 if n == 10_000 else None))  # fmt: skip
    return rows


# -- 4. render throughput and responsiveness ----------------------------------------------


def throughput(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
               body: Path, tokens: int = 20_000, runs: int = 3) -> list[Row]:  # fmt: skip
    server.mode(tokens=tokens, token="tok ", newline_every=16)
    expected = 4 * tokens  # "tok " or "tok\n" each
    rates, idle, busy, totals = [], [], [], []
    with watch(nvim_bin, tmp / "throughput", server, project, file) as w:
        server.mode(tokens=8, newline_every=0)
        w.run()  # host up, connection pooled
        server.mode(tokens=tokens, token="tok ", newline_every=16)
        sock = w.nv.lua("return vim.fn.serverstart()")
        for i in range(runs):
            stop = tmp / f"probe-stop-{i}"
            probe = subprocess.Popen(
                [sys.executable, str(BENCH / "probe.py"), sock, str(stop)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert probe.stdout is not None
            probe.stdout.readline()  # READY
            time.sleep(0.5)  # idle samples first
            st = w.run(poll=0.05)
            got = w.nv.lua("return #require('zeke').last().text")
            time.sleep(0.2)
            stop.touch()
            samples = json.loads(probe.communicate(timeout=30)[0])
            if st["state"] != "done" or got != expected:
                raise RuntimeError(f"stream ended {st['state']} with {got}/{expected} chars")
            rates.append(tokens / ((st["last"] - st["first"]) / 1e9))
            totals.append((st["last"] - st["t0"]) / 1e6)
            idle += [ms for sent, ms in samples if sent < st["t0"]]
            busy += [ms for sent, ms in samples if st["t0"] <= sent <= st["last"]]
    bare = _bare(server, body, runs + 1)[1:]
    server.stamps()
    bare_rates = [b["tokens"] / ((b["last_ns"] - b["first_ns"]) / 1e9) for b in bare]
    curl_rates = []
    for i in range(runs):
        ttfb, total = _curl(server, body, f"curl-t{i}")
        curl_rates.append(tokens / ((total - ttfb) / 1000))
    server.stamps()
    ratio = median(rates) / median(bare_rates)
    return [
        Row("4 render", f"render throughput, {tokens:,} tokens as fast as the server sends",
            median(rates), "tok/s",
            baseline=f"httpx {median(bare_rates):,.0f} tok/s · curl {median(curl_rates):,.0f}",
            target="≥ 5,000 tok/s", ok=median(rates) >= 5000,
            note=f"ratio to httpx {ratio:.2f}; whole answer visible after "
                 f"{median(totals):.0f} ms"),
        Row("4 render", "Neovim answering nvim_eval('1') every 10 ms during it: p99",
            pctl(busy, 99), "ms", baseline=f"idle p99 {pctl(idle, 99):.2f} ms",
            target="≤ 20 ms", ok=pctl(busy, 99) <= 20,
            note=f"p50 {pctl(busy, 50):.2f} ms (idle {pctl(idle, 50):.2f}); max "
                 f"{max(busy):.1f} ms; {len(busy)} samples"),
    ]  # fmt: skip


# -- 7. memory ----------------------------------------------------------------------------

CHAIN_LUA = r"""
local target = ...
_G.zchain = { done = 0 }
local grp = vim.api.nvim_create_augroup('zchain', { clear = true })
local function go() vim.cmd('1,5ZekeRefactor') end
vim.api.nvim_create_autocmd('User', { group = grp, pattern = 'ZekeRequestDone', callback = function(ev)
  zchain.done = zchain.done + 1
  if ev.data and ev.data.state ~= 'done' then zchain.bad = (zchain.bad or 0) + 1 end
  if zchain.done < target then vim.schedule(go) end
end })
go()
"""


def chain(w: Watch, n: int) -> None:
    """n requests back to back, driven from Lua (no RPC round trip in between)."""
    w.nv.lua(CHAIN_LUA, n)
    wait_for(lambda: w.nv.lua("return zchain.done") >= n, timeout=300, interval=0.1,
             message=f"{n} chained requests")  # fmt: skip
    bad = w.nv.lua("return zchain.bad")
    if bad:
        raise RuntimeError(f"{bad} of {n} chained requests did not end 'done'")


def memory(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
           n: int = 500) -> list[Row]:  # fmt: skip
    server.mode(tokens=8, newline_every=0)
    with watch(nvim_bin, tmp / "memory", server, project, file) as w:
        w.run()
        time.sleep(0.3)
        pid, npid = w.host_pid(), w.nvim_pid()
        start = proc_status(pid)
        chain(w, 100)
        time.sleep(0.5)
        at100, nv100 = proc_status(pid), proc_status(npid)
        chain(w, n - 100)
        time.sleep(0.5)
        end, nv_end = proc_status(pid), proc_status(npid)
        server.stamps()
    growth = end["rss_mb"] - at100["rss_mb"]
    return [
        Row("7 memory", "host RSS after start (first request done)", start["rss_mb"], "MB",
            target="< 80 MB", ok=start["rss_mb"] < 80,
            note=f"{start['threads']:.0f} threads, {start['fds']:.0f} fds"),
        Row("7 memory", f"host RSS after {n} requests", end["rss_mb"], "MB",
            baseline=f"{at100['rss_mb']:.1f} MB after 100", target="< 80 MB, no growth",
            ok=end["rss_mb"] < 80 and growth < 3,
            note=f"growth 100→{n}: {growth:+.1f} MB; threads {at100['threads']:.0f}→"
                 f"{end['threads']:.0f}, fds {at100['fds']:.0f}→{end['fds']:.0f}; "
                 f"Neovim RSS {nv100['rss_mb']:.0f}→{nv_end['rss_mb']:.0f} MB"),
    ]  # fmt: skip


# -- 6. :ZekeStats end to end --------------------------------------------------------------

STATS_LUA = r"""
local args = ...
_G.zstats = nil
local t0 = vim.uv.hrtime()
require('zeke.host').call('stats', args, function(res, err)
  _G.zstats = { ms = (vim.uv.hrtime() - t0) / 1e6, rows = res and #res.rows or -1, err = err }
end)
"""


def stats_call(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
               db: Path) -> list[Row]:  # fmt: skip
    rows = []
    with watch(nvim_bin, tmp / "stats", server, project, file, config={"db_path": str(db)}) as w:
        for label, args in (("project", {"project": "bench"}), ("all", {"all": True})):
            ms = []
            for i in range(6):
                w.nv.lua(STATS_LUA, args)
                res = wait_for(lambda: w.nv.lua("return _G.zstats"), timeout=30,
                               message="stats reply")  # fmt: skip
                if res.get("err") or res["rows"] <= 0:
                    raise RuntimeError(f"stats call failed: {res}")
                if i:
                    ms.append(res["ms"])
            rows.append(Row("6 cache", f":ZekeStats host call over 100k rows ({label}), "
                            "Lua → host → Lua", median(ms), "ms", target="≤ 100 ms",
                            ok=median(ms) <= 100))  # fmt: skip
    return rows
