""":ZekeWhy (the routing receipt, also `gR` in the answer buffer), :ZekePrefer and
:ZekeBudget on a real Neovim with the real host: the float's text for an OMEN-shaped,
a LiteLLM-shaped and a silent router, the hints the prefs put in the request body,
and bad arguments refused with nothing stored."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import kit
from fakes.flavours import FakeLiteLLM
from nvimharness import db_rows, one_build, wait_for, wait_rows

SOURCE = "def total(xs):\n    return sum(xs)\n"
KEY = "sk-why-test"

start = functools.partial(kit.start, text=SOURCE)

FLOAT_TEXT = r"""
local why = require("zeke.why")
if not why.win or not vim.api.nvim_win_is_valid(why.win) then return vim.NIL end
local buf = vim.api.nvim_win_get_buf(why.win)
return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "zeke.db"


def float_text(nv) -> str:
    return wait_for(lambda: nv.lua(FLOAT_TEXT), message="the receipt's float")


def close_float(nv) -> None:
    nv.lua(
        "local w = require('zeke.why').win; if w and vim.api.nvim_win_is_valid(w) then vim.api.nvim_win_close(w, true) end"
    )


def line(text: str, label: str) -> str:
    hits = [x for x in text.splitlines() if x.strip().startswith(label)]
    assert hits, (label, text)
    return hits[0]


def explain(nv) -> dict:
    nv.cmd("1ZekeExplain")
    return nv.wait_done()


def prefs_row(db: Path) -> list[dict]:
    return [dict(r) for r in db_rows(db, "SELECT * FROM routing_prefs WHERE project = 'grim'")]


@one_build
def test_why_after_an_omen_answer_shows_the_hints_the_answer_and_their_sources(
    make_nvim, omen, project, db
):
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db)
    assert explain(nv)["state"] == "done"
    nv.cmd("ZekeWhy")
    text = float_text(nv)
    assert "the router reported nothing" not in text
    assert "code-smart" in line(text, "asked for")
    assert "reason" in line(text, "intent") and "grim" in line(text, "project")
    assert line(text, "size_hint").split()[1] == "tiny"
    assert "(none sent)" in line(text, "omen")
    assert "prefer auto" in line(text, "prefs")
    assert "router header X-OMEN-*" in line(text, "provider")
    assert "router header X-OMEN-*" in line(text, "model ")
    assert "42 ms" in line(text, "router latency")
    assert "measured by zeke" in line(text, "ttfb") and " ms" in line(text, "duration")
    assert "$" in line(text, "cost") and "X-OMEN-*" in line(text, "cost")
    assert "explicit model" in line(text, "reason") or "X-OMEN-*" in line(text, "reason")
    assert "single" in line(text, "strategy")
    close_float(nv)

    # gR in the answer buffer: the receipt of the request that buffer shows
    buf = nv.last()["buf"]
    nv.lua("vim.api.nvim_set_current_win(vim.fn.bufwinid(...))", buf)
    nv.lua("vim.api.nvim_feedkeys('gR', 'x', false)")
    again = float_text(nv)
    assert nv.last()["id"] in again.splitlines()[0]


@one_build
def test_why_after_a_litellm_answer_names_its_headers_and_the_stand_in(make_nvim, project, db):
    litellm = FakeLiteLLM().start()
    try:
        litellm.master_key = KEY
        nv = start(make_nvim, litellm, project, {"alias": "auto"}, db=db, env={"ZEKE_API_KEY": KEY})
        wait_for(
            lambda: any(r.path.endswith("/models") for r in litellm.requests),
            message="the model list fetched",
        )
        assert explain(nv)["state"] == "done"
        nv.cmd("ZekeWhy")
        text = float_text(nv)
        assert "claude-3-5-sonnet-20241022" in line(text, "model ")
        assert "router header x-litellm-*" in line(text, "model ")
        assert "zeke asked for reason-deep instead" in line(text, "stand-in")
        assert "$0.0004" in line(text, "cost") and "usage" in line(text, "cost")
        assert "the router reported nothing" not in text
    finally:
        litellm.stop()


@one_build
def test_why_after_a_silent_router_says_it_reported_nothing(make_nvim, today_omen, project, db):
    nv = start(make_nvim, today_omen, project, {"alias": "code-fast"}, db=db)
    assert explain(nv)["state"] == "done"
    nv.cmd("ZekeWhy")
    text = float_text(nv)
    assert "the router reported nothing" in text
    assert "measured by zeke" in line(text, "ttfb")


@one_build
def test_prefs_go_into_every_request_and_show_in_why_stats_and_health(make_nvim, omen, project, db):
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db, notes=True)
    explain(nv)  # the cache exists
    assert "prefer_local" not in omen.chat_requests()[-1].body["tags"]  # auto: honest default
    assert "omen" not in omen.chat_requests()[-1].body

    nv.cmd("ZekePrefer local")
    nv.cmd("ZekeBudget 35")
    wait_for(
        lambda: any("budget 35¢" in n["msg"] for n in nv.notes()), message="the budget confirmed"
    )
    row = prefs_row(db)[0]
    assert (row["prefer_local"], row["prefer_local_set"], row["max_cloud_cost_cents"]) == (1, 1, 35)
    explain(nv)
    body = omen.chat_requests()[-1].body
    assert body["tags"]["prefer_local"] == "true" and body["tags"]["size_hint"] == "tiny"
    assert body["omen"] == {"budget_usd": 0.35}  # added: the config has none
    nv.cmd("ZekeWhy")
    text = float_text(nv)
    assert "prefer local · budget 35¢" in line(text, "prefs")
    assert '"budget_usd": 0.35' in line(text, "omen")
    close_float(nv)

    # large: no local hint
    big = "".join(f"value_{i:05d} = {i} * 2  # filler line\n" for i in range(1500))
    nv.open_file(project / "big.py", big)
    nv.cmd("%ZekeExplain")
    nv.wait_done()
    tags = omen.chat_requests()[-1].body["tags"]
    assert tags["size_hint"] == "large" and "prefer_local" not in tags

    nv.cmd("ZekeStats")
    stats = wait_for(lambda: nv.buf_lines("zeke: stats"), message="the stats table")
    assert any(x.startswith("routing prefs of grim: prefer local") for x in stats), stats

    nv.cmd("ZekePrefer cloud")
    nv.cmd("ZekeBudget off")
    wait_for(lambda: any("budget off" in n["msg"] for n in nv.notes()), message="off confirmed")
    nv.open_file(project / "calc.py")
    explain(nv)
    body = omen.chat_requests()[-1].body
    assert body["tags"]["prefer_local"] == "false" and "omen" not in body

    nv.cmd("checkhealth zeke")
    health = wait_for(
        lambda: "\n".join(nv.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")),
        message="the health report",
    )
    assert "routing prefs of grim: prefer cloud" in health and "budget off" in health


@one_build
def test_bad_prefs_name_the_allowed_values_and_store_nothing(make_nvim, omen, project, db):
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db, notes=True)
    explain(nv)
    wait_rows(db, 1)
    for command in (
        "ZekeBudget -5",
        "ZekeBudget abc",
        "ZekeBudget 99999999999",
        "ZekePrefer maybe",
    ):
        nv.cmd(command)
    errors = wait_for(
        lambda: (
            [n["msg"] for n in nv.notes() if n["level"] == 4 and "takes" in n["msg"]]
            if len([n for n in nv.notes() if "takes" in n["msg"]]) >= 4
            else None
        ),
        message="four refusals",
    )
    assert sum("whole number of cents" in e and "or off" in e for e in errors) == 3
    assert sum("local, cloud or auto" in e for e in errors) == 1
    assert all(r["prefer_local_set"] == 0 and r["max_cloud_cost_set"] == 0 for r in prefs_row(db))
    explain(nv)
    body = omen.chat_requests()[-1].body
    assert "prefer_local" not in body["tags"] and "omen" not in body
