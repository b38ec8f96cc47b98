"""Soak: 300 requests in a row and 30 cancelled mid-stream in one Neovim.

Measured from outside the host (/proc): no leaked threads, file descriptors or
connections, no busy leftover task, memory roughly flat; and every request has
exactly one stats row.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from fakes import omen as fo
from faultkit import frame, start
from nvimharness import db_rows, one_build, wait_for, wait_rows

# Requests chained from Lua: the next one starts when ZekeRequestDone fires, so the
# loop runs at the plugin's pace, not at the pace of RPC round trips from here.
CHAIN_LUA = r"""
local target = ...
_G.soak = _G.soak or { ids = {}, states = {} }
soak.done = 0
local grp = vim.api.nvim_create_augroup('zeke_soak', { clear = true })
local function go() vim.cmd('1ZekeExplain') end
vim.api.nvim_create_autocmd('User', { group = grp, pattern = 'ZekeRequestDone', callback = function(ev)
  soak.done = soak.done + 1
  table.insert(soak.ids, ev.data.id)
  soak.states[ev.data.state] = (soak.states[ev.data.state] or 0) + 1
  if soak.done < target then vim.schedule(go) else vim.api.nvim_del_augroup_by_id(grp) end
end })
go()
"""


def chain(nv, n: int) -> None:
    nv.lua(CHAIN_LUA, n)
    wait_for(lambda: nv.lua("return soak.done") >= n, timeout=60, interval=0.05,
             message=f"{n} chained requests")  # fmt: skip


def footprint(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return {
        "threads": len(os.listdir(f"/proc/{pid}/task")),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "rss_kb": rss_kb,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@one_build
def test_soak_300_requests_and_30_cancels(omen, project, make_nvim):
    nv = start(make_nvim, omen, project)
    db = nv.db_path()
    chain(nv, 20)  # warm-up: host started, connection pooled, cache open
    pid = nv.host_pid()
    wait_rows(db, 20)
    warm = footprint(pid)

    chain(nv, 280)
    states = nv.lua("return soak.states")
    assert states == {"done": 300}, states

    cancelled = []
    for i in range(30):
        omen.queue(fo.stall_after([frame(f"partial {i} ")]))
        nv.cmd("1ZekeExplain")
        wait_for(lambda i=i: f"partial {i}" in nv.last()["text"], message=f"stream {i} to start")
        nv.cmd("ZekeCancel")
        last = nv.wait_done()
        assert last["state"] == "cancelled" and last["text"] == f"partial {i} "
        cancelled.append(last["id"])

    # cancelling closed each stalled connection: the server saw every client go away
    stalled = omen.chat_requests()[-30:]
    wait_for(lambda: all(r.disconnected.is_set() for r in stalled), message="30 disconnects")

    ids = [*nv.lua("return soak.ids"), *cancelled]
    assert len(set(ids)) == 330
    rows = wait_rows(db, 330, timeout=20)
    assert Counter(r[0] for r in rows) == Counter(ids)  # exactly one row per request
    failed = {r[0]: r[2] for r in rows if r[1] == 0}
    assert set(failed) == set(cancelled)
    assert all("cancelled" in e for e in failed.values())

    # the host is idle and no bigger than after warm-up (generous bounds: pools, GC)
    wait_for(lambda: footprint(pid)["threads"] <= warm["threads"] + 4, message="threads settle")
    end = footprint(pid)
    assert end["fds"] <= warm["fds"] + 4, (warm, end)
    assert end["rss_kb"] <= warm["rss_kb"] + 15 * 1024, (warm, end)
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(1.0)  # the measurement window itself, not a wait for anything
    busy = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    assert busy < 0.25, f"the idle host uses {busy:.0%} CPU: a task is still running"
    # the Lua side keeps a bounded history
    assert nv.lua("return vim.tbl_count(require('zeke.requests').by_id)") <= 51
    assert db_rows(db, "SELECT COUNT(*) FROM routing_stats")[0][0] == 330
