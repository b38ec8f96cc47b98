"""A huge tool write is diffed for the consent view without freezing the host: in a
real headless Neovim, :ZekeStats-style host calls keep coming back while the model's
20,000-line write_file is turned into hunks."""

from __future__ import annotations

import json
import random
import time

import kit
from fakes import omen as fo
from nvimharness import STABLE, wait_for

DEFAULT_BUILDS = [STABLE]  # the key tests run on every build (@every_build)


PROMPT_RECORDER = """
_G.prompts = {}
vim.ui.select = function(items, opts, on_choice)
  local b = vim.fn.bufnr('zeke: consent')
  table.insert(_G.prompts, b ~= -1 and vim.api.nvim_buf_line_count(b) or 0)
  local cancel
  for i, item in ipairs(items) do
    if item.key == 'cancel' then cancel = i end
  end
  vim.schedule(function() on_choice(items[cancel], cancel) end)
end
"""

STATS_CALL = """
_G.stats_ms = vim.NIL
local t0 = vim.uv.hrtime()
require('zeke.host').call('stats', { cwd = vim.fn.getcwd(), all = false }, function()
  _G.stats_ms = (vim.uv.hrtime() - t0) / 1e6
end)
"""


def big_rewrite(n: int) -> tuple[str, str]:
    """A file and a rewrite of it that a quadratic diff takes minutes over: re-indented
    code (only blank lines in common) and a long run of a few repeated lines."""
    rnd = random.Random(7)
    pool = ["", "}", "    }", "        return x;", "end", "else"]
    old = [f"    value_{k} = compute({k})" if k % 4 else "" for k in range(n)]
    new = ["    " + s if s else s for s in old]
    old += [rnd.choice(pool) for _ in range(n)]
    new += [rnd.choice(pool) for _ in range(n)]
    return "\n".join(old) + "\n", "\n".join(new) + "\n"


def test_host_keeps_answering_while_a_huge_tool_write_is_diffed(make_nvim, omen, project):
    old, new = big_rewrite(10_000)
    (project / "big.txt").write_text(old)
    args = json.dumps({"path": "big.txt", "content": new})
    omen.queue(
        fo.stream("", tool_calls=[("write_file", args)], finish_reason="tool_calls"),
        fo.stream("Left it as it was."),
    )
    nv = kit.start(
        make_nvim,
        omen,
        project,
        glyph=True,
        text="def f():\n    return 1\n",
        filetype="python",
        lua=PROMPT_RECORDER,
    )

    nv.cmd("1,2ZekeRefactor")
    round_trips: list[float] = []
    deadline = time.monotonic() + 90
    # one host call after another until the consent prompt (with the diff) is up: each
    # must come back promptly, whatever the host is busy with
    while not nv.lua("return #_G.prompts") and time.monotonic() < deadline:
        nv.lua(STATS_CALL)
        round_trips.append(
            wait_for(
                lambda: nv.lua("return _G.stats_ms"),
                timeout=5,
                message="a stats reply from the host (it froze)",
            )
        )
    assert nv.lua("return #_G.prompts") == 1, "the consent prompt never came"
    assert round_trips, "no host call was made while the write was prepared"
    # the prompt showed the diff: far more than the title lines
    assert nv.lua("return _G.prompts[1]") > 1000
    assert nv.wait_done(timeout=30)["state"] == "done"
    assert (project / "big.txt").read_text() == old  # cancelled: nothing written
