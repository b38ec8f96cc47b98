"""Config values that pass a loose check and then break every command: each is
rejected at setup() with one message naming the key in full, the default is used,
and the commands after it work."""

from __future__ import annotations

import functools
import math

import pytest

import kit
from fakes import omen as fo
from nvimharness import STABLE, NvimSession, wait_for

SOURCE = "def total(xs):\n    return sum(xs)\n"
DEFAULT_BUILDS = [STABLE]  # what setup() accepts does not depend on the build

# setup() is called before the host starts (it starts with the first command), as in
# an init.lua; the router comes from $ZEKE_API_BASE: a rejected api_base falls back to it
start = functools.partial(kit.start, text=SOURCE, host=False)


def router_env(omen: fo.FakeOmen) -> dict[str, str]:
    return {"ZEKE_API_BASE": omen.url}


def setup(nv: NvimSession, opts_lua: str) -> None:
    """setup() with opts written in Lua (NaN and inf are Lua's own)."""
    ok = nv.lua(f"return (pcall(require('zeke').setup, {opts_lua}))")
    assert ok is True, "setup() raised"


def wait_message(nv: NvimSession, needle: str) -> list[str]:
    return wait_for(
        lambda: [m for m in nv.zeke_messages("zeke") if needle in m],
        message=f"a message with {needle!r}",
    )


def explain_works(nv: NvimSession, omen: fo.FakeOmen, text: str = "It adds.") -> dict:
    omen.queue(fo.stream(text))
    nv.cmd("1ZekeExplain")
    last = nv.wait_done(timeout=20)
    assert last["state"] == "done" and last["text"] == text, last
    said = nv.messages()
    assert "Traceback" not in said and "traceback" not in said and "internal error" not in said
    return last


def test_fractional_width_is_rejected_by_name_and_the_default_used(omen, project, make_nvim):
    nv = start(make_nvim, None, project, env=router_env(omen))
    nv.cmd("set columns=160")
    setup(nv, "{ ui = { width = vim.o.columns / 3, focus = false } }")
    (msg,) = wait_message(nv, "'ui.width'")
    assert "53.3" in msg and "whole number of columns" in msg
    explain_works(nv, omen)
    win = nv.lua("return vim.fn.bufwinid(require('zeke').last().buf)")
    assert nv.lua("return vim.api.nvim_win_get_width(...)", win) == int(160 * 0.4)
    # a whole number of columns is fine
    setup(nv, "{ ui = { width = 50 } }")
    nv.cmd("only")
    explain_works(nv, omen, "Again.")
    win = nv.lua("return vim.fn.bufwinid(require('zeke').last().buf)")
    assert nv.lua("return vim.api.nvim_win_get_width(...)", win) == 50


def test_setup_with_a_string_is_one_clear_message_and_commands_work(omen, project, make_nvim):
    nv = start(make_nvim, None, project, env=router_env(omen))
    setup(nv, "'a string'")
    (msg,) = wait_message(nv, "setup() expects a table")
    assert "string" in msg and "defaults" in msg
    explain_works(nv, omen)
    explain_works(nv, omen, "Still fine.")
    assert len(wait_message(nv, "setup() expects a table")) == 1  # said once


def test_non_finite_omen_numbers_are_rejected_by_name(omen, project, make_nvim):
    nv = start(make_nvim, None, project, env=router_env(omen))
    setup(nv, "{ omen = { strategy = 'race', budget_usd = 0/0, k = 1/0, max_latency_ms = -5 } }")
    for key in ("omen.budget_usd", "omen.k", "omen.max_latency_ms"):
        wait_message(nv, f"'{key}'")
    explain_works(nv, omen)
    sent = omen.chat_requests()[-1].body["omen"]
    assert sent["strategy"] == "race"  # the good fields stay
    assert not {"k", "max_latency_ms"} & set(sent), sent
    # the project's cost cap may stand in for the budget: a real number, never NaN
    assert math.isfinite(sent.get("budget_usd", 0)), sent


@pytest.mark.parametrize(
    ("opts", "key", "why"),
    [
        ("{ api_base = 'http://127.0.0.1:99999/v1' }", "'api_base'", "port 99999 is out of range"),
        ("{ api_base = 'http://:8080/v1' }", "'api_base'", "no valid host"),
        ("{ ollama_host = 'http://127.0.0.1:0' }", "'ollama_host'", "port 0 is out of range"),
        ("{ glyph = { url = 'ws://127.0.0.1:70000' } }", "'glyph.url'", "port 70000"),
        ("{ timeouts = { read = 1/0 } }", "'timeouts.read'", "infinite"),
    ],
)
def test_unusable_urls_and_numbers_are_rejected_by_name(omen, project, make_nvim, opts, key, why):
    nv = start(make_nvim, None, project, env=router_env(omen))
    setup(nv, opts)
    (msg,) = wait_message(nv, key)
    assert why in msg and "using the default" in msg
    explain_works(nv, omen)
