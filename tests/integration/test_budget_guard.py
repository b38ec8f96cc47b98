"""The budget guard on a real Neovim with the real host (issue 16, item 3): over the
project's cap (:ZekeBudget), zeke asks before sending — send anyway (the body reaches
the router), send to a local alias (the body names it), cancel (nothing is sent, a
clear message) — and :ZekeWhy shows the forecast beside the actual cost. No prices
listed: no prompt, and the receipt says why. vim.ui.select is replaced by a recorder."""

from __future__ import annotations

from pathlib import Path

import pytest

import kit
from nvimharness import one_build, wait_for

SOURCE = "def total(xs):\n    return sum(xs)\n"

UI_RECORDER = """
_G.prompts, _G.choices = {}, {}
vim.ui.select = function(items, opts, on_choice)
  local labels = {}
  for i, item in ipairs(items) do
    labels[i] = opts.format_item and opts.format_item(item) or tostring(item)
  end
  table.insert(_G.prompts, { prompt = opts.prompt or '', kind = opts.kind or '', labels = labels })
  local want = table.remove(_G.choices, 1)
  local pick, idx = nil, nil
  for i, l in ipairs(labels) do
    if want and vim.startswith(l, want) then
      pick, idx = items[i], i
      break
    end
  end
  vim.schedule(function() on_choice(pick, idx) end) -- later, as real pickers do
end
"""

FLOAT_TEXT = r"""
local why = require("zeke.why")
if not why.win or not vim.api.nvim_win_is_valid(why.win) then return vim.NIL end
return table.concat(vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(why.win), 0, -1, false), "\n")
"""

CHOICES = [
    "Send anyway",
    "Send to code-fast (local, free)",
    "Send to code-plus (local, free)",
    "Cancel (nothing is sent)",
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "zeke.db"


def guarded(make_nvim, omen, project, db, budget: str = "0"):
    nv = kit.start(
        make_nvim,
        omen,
        project,
        {"alias": "code-smart"},
        db=db,
        text=SOURCE,
        notes=True,
        lua=UI_RECORDER,
    )
    nv.cmd(f"ZekeBudget {budget}")
    wait_for(
        lambda: any(f"budget {budget}¢" in n["msg"] for n in nv.notes()),
        message="the budget confirmed",
    )
    return nv


def prompts(nv) -> list[dict]:
    return [p for p in nv.lua("return _G.prompts") if p["kind"] == "zeke.guard"]


def receipt(nv) -> str:
    nv.cmd("ZekeWhy")
    return wait_for(lambda: nv.lua(FLOAT_TEXT), message="the receipt's float")


def line(text: str, label: str) -> str:
    hits = [x for x in text.splitlines() if x.strip().startswith(label)]
    assert hits, (label, text)
    return hits[0]


@one_build
def test_over_the_cap_it_asks_and_send_anyway_sends(make_nvim, omen, project, db):
    nv = guarded(make_nvim, omen, project, db)
    nv.lua("table.insert(_G.choices, 'Send anyway')")
    nv.cmd("1ZekeRefactor")
    done = nv.wait_done()
    assert done["state"] == "done", done
    (asked,) = prompts(nv)
    assert asked["labels"] == CHOICES
    text = asked["prompt"]
    assert "code-smart" in text and "over this project's budget of 0¢" in text
    assert "$" in text and "–" in text and ":ZekeBudget" in text
    (req,) = omen.chat_requests()
    assert req.body["model"] == "code-smart"
    why = receipt(nv)
    assert "before sending" in line(why, "forecast") and "gpt-5-codex" in line(why, "forecast")
    assert "sent anyway" in line(why, "guard")
    assert "$" in line(why, "cost")  # the actual beside the forecast


@one_build
def test_send_to_a_local_alias_sends_it_there(make_nvim, omen, project, db):
    nv = guarded(make_nvim, omen, project, db)
    nv.lua("table.insert(_G.choices, 'Send to code-fast')")
    nv.cmd("1ZekeRefactor")
    done = nv.wait_done()
    assert done["state"] == "done", done
    assert len(prompts(nv)) == 1
    (req,) = omen.chat_requests()
    assert req.body["model"] == "code-fast"
    assert nv.last()["alias"] == "code-fast"
    assert "sent to the local alias code-fast" in line(receipt(nv), "guard")


@one_build
def test_cancel_sends_nothing_and_says_so(make_nvim, omen, project, db):
    nv = guarded(make_nvim, omen, project, db)
    nv.lua("table.insert(_G.choices, 'Cancel')")
    nv.cmd("1ZekeRefactor")
    done = nv.wait_done()
    assert done["state"] == "cancelled", done
    assert "not sent" in done["error"] and "budget of 0¢" in done["error"]
    assert omen.chat_requests() == []
    assert "cancelled, nothing sent" in line(receipt(nv), "guard")


@one_build
def test_dismissing_the_prompt_is_a_cancel(make_nvim, omen, project, db):
    nv = guarded(make_nvim, omen, project, db)
    nv.cmd("1ZekeRefactor")  # no choice queued: the recorder picks nothing
    done = nv.wait_done()
    assert done["state"] == "cancelled" and "not sent" in done["error"]
    assert omen.chat_requests() == []


@one_build
def test_under_the_cap_no_prompt(make_nvim, omen, project, db):
    nv = guarded(make_nvim, omen, project, db, budget="200")
    nv.cmd("1ZekeRefactor")
    assert nv.wait_done()["state"] == "done"
    assert prompts(nv) == []
    assert len(omen.chat_requests()) == 1
    assert "within the 200¢ cap" in line(receipt(nv), "guard")


@one_build
def test_no_prices_listed_no_guard_and_the_receipt_says_why(make_nvim, omen, project, db):
    for m in omen.models:
        m.pop("pricing", None)
    nv = guarded(make_nvim, omen, project, db)
    nv.cmd("1ZekeRefactor")
    assert nv.wait_done()["state"] == "done"
    assert prompts(nv) == []
    assert len(omen.chat_requests()) == 1
    why = receipt(nv)
    assert "no prices listed: no forecast" in line(why, "forecast")
    assert "no guard" in line(why, "guard")


@one_build
def test_a_local_alias_is_never_guarded(make_nvim, omen, project, db):
    nv = guarded(make_nvim, omen, project, db)
    nv.cmd("ZekeModel code-fast")
    wait_for(lambda: any("now uses code-fast" in n["msg"] for n in nv.notes()), message="pick")
    nv.cmd("1ZekeRefactor")
    assert nv.wait_done()["state"] == "done"
    assert prompts(nv) == []
    assert omen.chat_requests()[0].body["model"] == "code-fast"
