"""Benchmarks that drive a real Neovim with the real host: startup, the command's
cost on big buffers, :ZekeStats end to end, and (for contrast only) the old
`-u NONE` first-token figure. The first-token, render and memory figures a user
gets are in real_cases.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import Row, SSEServer, median, wait_for
from common import watch as legacy_watch
from session import INIT, watch

# -- 1. startup -----------------------------------------------------------------------

_STARTED = re.compile(r"^\s*([\d.]+)\s+.*--- NVIM STARTED ---")
_PLUGIN = re.compile(r"^\s*[\d.]+\s+([\d.]+)\s+[\d.]+: sourcing .*/plugin/zeke\.lua")


def startup(nvim_bin: str, tmp: Path, runs: int = 20) -> list[Row]:
    """`nvim --headless --startuptime` with the bench init (Neovim's defaults), with
    and without zeke on the runtimepath."""
    env = dict(os.environ)
    for sub in ("config", "data", "state", "cache"):
        (tmp / "xdg" / sub).mkdir(parents=True, exist_ok=True)
        env[f"XDG_{sub.upper()}_HOME"] = str(tmp / "xdg" / sub)
    totals: dict[bool, list[float]] = {False: [], True: []}
    plugin_ms: list[float] = []
    log = tmp / "startuptime.log"
    for i in range(runs + 2):  # interleaved, so drift hits both alike; 2 warm-ups each
        # the order alternates too: the second of two back-to-back starts finds more
        # of Neovim in the page cache
        for with_plugin in (False, True) if i % 2 else (True, False):
            log.unlink(missing_ok=True)
            env["ZBENCH_NO_ZEKE"] = "" if with_plugin else "1"
            env["ZBENCH_PY3"] = sys.executable
            subprocess.run(
                [
                    nvim_bin,
                    "--headless",
                    "-u",
                    str(INIT),
                    "--startuptime",
                    str(log),
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
    # each run against its own pair: a machine that slows down for a while slows both
    added = median([w - b for w, b in zip(totals[True], totals[False], strict=True)])
    why = (f"Sourcing plugin/zeke.lua is {median(plugin_ms):.2f} ms of the {added:+.2f} ms; the "
           f"rest is outside zeke's files (one more runtimepath directory to search) or drift "
           f"between the two series: fastest runs {min(totals[True]):.1f} ms with, "
           f"{min(totals[False]):.1f} without.")  # fmt: skip
    return [
        Row("1 startup", "startup, zeke on the runtimepath (total)", withp, "ms",
            baseline=f"{base:.1f} ms without", target="≤ 1 ms added",
            ok=added <= 1.0, note=f"median of paired differences {added:+.2f} ms (medians {withp:.1f} / "
                 f"{base:.1f}); `-u` the bench init",
            extra={"why": why}),
        Row("1 startup", "sourcing plugin/zeke.lua (self+sourced)", median(plugin_ms), "ms",
            target="≤ 1 ms", ok=median(plugin_ms) <= 1.0,
            note=f"max {max(plugin_ms):.2f} ms over {runs} runs"),
    ]  # fmt: skip


# -- the old method, for contrast: `-u NONE`, headless, no UI ----------------------------


def _ttft(stamp: dict[str, Any], srv: dict[str, Any]) -> float:
    """Command start → first token in the buffer, minus the server's own time to first byte."""
    server_own = (srv["first_ns"] - srv["recv_ns"]) / 1e6
    return (stamp["first"] - stamp["t0"]) / 1e6 - server_own


def legacy_warm(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
                runs: int = 10) -> list[Row]:  # fmt: skip
    """What this benchmark used to measure: Neovim with `-u NONE` (no syntax, no
    filetype plugins) and no UI. Kept only beside the realistic figures."""
    server.mode(tokens=8, prefix="", newline_every=0, token_delay=0.0)
    ttft, sync = [], []
    with legacy_watch(nvim_bin, tmp / "legacy", server, project, file) as w:
        for i in range(runs + 2):
            st = w.run("10,30ZekeExplain")
            srv = {s["rid"]: s for s in server.stamps()}[st["rid"]]
            if i >= 2:
                ttft.append(_ttft(st, srv))
                sync.append((st["cmd_end"] - st["t0"]) / 1e6)
    return [
        Row("2 warm", "(-u NONE, no UI: the old method) warm first token, in the buffer",
            median(ttft), "ms", note=f"sync part {median(sync):.2f} ms; not a user's figure"),
    ]  # fmt: skip


def command_cost(nvim_bin: str, server: SSEServer, tmp: Path, project: Path,
                 sizes: dict[int, Path]) -> list[Row]:  # fmt: skip
    """The synchronous part of :ZekeRefactor in Neovim (selection, context capture,
    answer buffer, notify) on big buffers."""
    server.mode(tokens=8, prefix="", newline_every=0, token_delay=0.0)
    rows = []
    first = next(iter(sizes.values()))
    with watch(nvim_bin, tmp / "cmdcost", server, project, first) as w:
        w.run()  # host up
        w.nv.lua("require('zbench').profile()")
        for n, path in sizes.items():
            w.nv.cmd(f"edit {path}")
            mid = n // 2
            ms: list[float] = []
            parts: dict[str, list[float]] = {}
            for i in range(6):
                st = w.run(f"{mid},{mid + 19}ZekeRefactor")
                if i:
                    ms.append((st["cmd_end"] - st["t0"]) / 1e6)
                    got = st.get("parts") or {}
                    for k, v in got.items():
                        parts.setdefault(k, []).append(v)
                    rest = ms[-1] - got.get("answer buffer", 0.0) - got.get("send to host", 0.0)
                    parts.setdefault("rest", []).append(rest)
            pm = {k: median(v) for k, v in parts.items()}
            nan = float("nan")
            ab, send = pm.get("answer buffer", nan), pm.get("send to host", nan)
            split = (f"answer buffer {ab:.1f} ms, send to host {send:.1f}, the rest (selection, "
                     f"capture) {pm['rest']:.1f}")  # fmt: skip
            rows.append(Row("5 packing", f":ZekeRefactor in Neovim, {n // 1000}k-line buffer "
                            "(sync part, capture included)", median(ms), "ms",
                            target="≤ 20 ms" if n == 10_000 else "",
                            ok=median(ms) <= 20 if n == 10_000 else None, note=split,
                            extra={"why": f"Medians of its parts: {split} ms."}))  # fmt: skip
    return rows


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


HISTORY_LUA = r"""
local cmd = ...
_G.zhist = nil
local t0 = vim.uv.hrtime()
vim.ui.select = function(items, opts)
  for _, item in ipairs(items) do
    opts.format_item(item)
  end
  _G.zhist = { ms = (vim.uv.hrtime() - t0) / 1e6, rows = #items }
end
vim.cmd(cmd)
"""


def history_call(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
                 db: Path) -> list[Row]:  # fmt: skip
    """:ZekeHistory[!] typed to the list shown (every item formatted), over 100k rows."""
    rows = []
    cfg = {"db_path": str(db), "project": "bench", "history": {"max_entries": 100_000}}
    with watch(nvim_bin, tmp / "history", server, project, file, config=cfg) as w:
        for cmd in ("ZekeHistory", "ZekeHistory!"):
            ms = []
            for i in range(6):
                w.nv.lua(HISTORY_LUA, cmd)
                res = wait_for(lambda: w.nv.lua("return _G.zhist"), timeout=30,
                               message="the history list")  # fmt: skip
                if res["rows"] <= 0:
                    raise RuntimeError(f"history call failed: {res}")
                if i:
                    ms.append(res["ms"])
            rows.append(Row("6 cache", f":{cmd} over 100k rows, command → list shown "
                            f"({res['rows']} items)", median(ms), "ms", target="≤ 100 ms",
                            ok=median(ms) <= 100))  # fmt: skip
    return rows
