"""Degraded mode in a real headless Neovim: OMEN down → local Ollama (docs/design.md §9)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import kit
from fakes import ollama as fl
from fakes import omen as fo
from nvimharness import wait_for, wait_rows

SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
ANSWER = "Use sum():\n\n```python\ndef total(xs):\n    return sum(xs)\n```\n"

start = functools.partial(kit.start, text=SOURCE, timeouts=kit.QUICK_TIMEOUTS)
""":ZekeExplain on calc.py, against OMEN and Ollama (degraded mode on)."""


def banner(nv) -> str:
    """The virtual lines above the answer (where the degraded banner goes)."""
    return nv.lua(
        """
        local r = require('zeke').last()
        local out = {}
        for _, m in ipairs(vim.api.nvim_buf_get_extmarks(r.buf, -1, 0, -1, { details = true })) do
          for _, line in ipairs(m[4].virt_lines or {}) do
            for _, chunk in ipairs(line) do table.insert(out, chunk[1]) end
          end
        end
        return table.concat(out, '\\n')
        """
    )


def degraded_state(nv) -> bool:
    return nv.lua("return require('zeke.requests').degraded")


def stats_rows(db: Path, n: int) -> list[tuple]:
    """routing_stats rows, once there are at least n (the engine records asynchronously)."""
    sql = "SELECT provider, model, degraded, success FROM routing_stats ORDER BY id"
    return [tuple(r) for r in wait_rows(db, n, sql)]


# -- OMEN down from the start ---------------------------------------------------------


def test_omen_down_from_start_streams_from_ollama(make_nvim, project, omen, ollama):
    dead = omen.url
    omen.stop()
    ollama.queue(fl.ollama_stream(ANSWER))
    nv = start(make_nvim, dead, project, ollama=ollama)
    nv.cmd("1,5ZekeRefactor use sum")
    last = nv.wait_done()

    assert last["state"] == "done", last
    assert last["text"] == ANSWER and nv.scratch_text() == ANSWER
    assert last["degraded"] is True
    assert last["provider"] == "ollama" and last["model"] == "deepseek-coder:14b"
    assert last["cost_usd"] == 0  # a local model costs nothing, and that is known
    assert "DEGRADED" in nv.badge()
    assert nv.lua("return vim.g.zeke_status.degraded") is True
    assert "degraded mode on local Ollama (deepseek-coder:14b)" in banner(nv)
    assert "degraded mode on local Ollama (deepseek-coder:14b)" in nv.messages()

    (req,) = ollama.chat_requests()
    assert req.body["model"] == "deepseek-coder:14b" and req.body["stream"] is True
    user = req.body["messages"][-1]["content"]
    assert "for x in xs:" in user and "use sum" in user
    # the Ollama tokens from its final `done` object reach last()
    assert last["tokens_in"] == 26


@pytest.mark.parametrize(
    ("config", "pulled", "expected"),
    [
        # the alias's own model when its provider is ollama
        (
            {"alias": "code-plus"},
            ["deepseek-coder:14b", "deepseek-coder:33b"],
            "deepseek-coder:33b",
        ),
        # else the first local alias's model
        ({"alias": "code-smart"}, ["deepseek-coder:14b"], "deepseek-coder:14b"),
        # else the first model Ollama lists
        (
            {
                "aliases": {
                    "code-fast": {"provider": "azure", "model": "gpt-5-codex"},
                    "code-plus": {"provider": "azure", "model": "gpt-5-codex"},
                }
            },
            ["qwen2.5-coder:7b", "llama3:8b"],
            "qwen2.5-coder:7b",
        ),
    ],
    ids=["alias-is-local", "first-local-alias", "first-listed"],
)
def test_degraded_model_follows_contract_order(
    make_nvim, project, omen, ollama, config, pulled, expected
):
    dead = omen.url
    omen.stop()
    ollama.pulled = pulled
    nv = start(make_nvim, dead, project, config, ollama=ollama)
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "done", last
    assert [r.body["model"] for r in ollama.chat_requests()] == [expected]
    assert last["model"] == expected and last["provider"] == "ollama"


def test_omen_answering_503_degrades(make_nvim, project, omen, ollama):
    omen.ready_status = 503
    omen.queue(fo.error(503, {"error": {"message": "No providers available", "code": 503}}))
    ollama.queue(fl.ollama_stream("local answer"))
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, ollama=ollama)
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "done", last
    assert last["text"] == "local answer"
    assert last["degraded"] is True and last["provider"] == "ollama"
    assert len(omen.chat_requests()) == 1  # tried once, not retried with a concrete model
    assert "DEGRADED" in nv.badge()


def test_omen_dying_between_two_requests(make_nvim, project, omen, ollama):
    omen.queue(fo.stream("from the router"))
    ollama.queue(fl.ollama_stream("from the GPU"))
    nv = start(make_nvim, omen, project, ollama=ollama)
    nv.cmd("1ZekeExplain")
    first = nv.wait_done()
    assert first["state"] == "done" and first["text"] == "from the router"
    assert not first.get("degraded") and first["provider"] != "ollama"
    assert "DEGRADED" not in nv.badge()

    omen.stop()
    nv.cmd("1ZekeExplain")
    wait_for(lambda: nv.last()["id"] != first["id"], message="second request")
    second = nv.wait_done()
    assert second["state"] == "done", second
    assert second["text"] == "from the GPU" and second["degraded"] is True
    assert second["provider"] == "ollama"
    assert "DEGRADED" in nv.badge()
    assert len(ollama.chat_requests()) == 1


def test_omen_coming_back_ends_degraded_mode(make_nvim, project, omen, ollama):
    port = omen.port
    omen.stop()
    nv = start(make_nvim, omen, project, ollama=ollama)
    nv.cmd("1ZekeExplain")
    assert nv.wait_done()["degraded"] is True
    assert degraded_state(nv) is True

    omen.start(port=port)
    omen.queue(fo.stream("the router is back"))
    # the watcher polls /ready with backoff from 1 s: recovery shows within 30 s
    wait_for(lambda: degraded_state(nv) is False, timeout=30, message="degraded mode to end")
    assert any(r.path == "/ready" for r in omen.requests)
    wait_for(lambda: "degraded mode is over" in nv.messages(), message="the recovery notice")
    assert nv.messages().count("degraded mode is over") == 1
    assert "DEGRADED" not in nv.badge()

    before = nv.last()["id"]
    nv.cmd("1ZekeExplain")
    wait_for(lambda: nv.last()["id"] != before, message="next request")
    last = nv.wait_done()
    assert last["state"] == "done" and last["text"] == "the router is back"
    assert not last.get("degraded") and last["provider"] != "ollama"
    assert len(omen.chat_requests()) == 1 and len(ollama.chat_requests()) == 1


def test_last_says_degraded_false_when_omen_answered(make_nvim, project, omen, ollama):
    # docs/design.md §4: `degraded` is one of last()'s fields, a boolean, not absent
    omen.queue(fo.stream("from the router"))
    nv = start(make_nvim, omen, project, ollama=ollama)
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "done"
    assert last.get("degraded") is False
    assert nv.lua("return vim.g.zeke_status.degraded") is False


# -- failures -------------------------------------------------------------------------


def test_both_down_is_one_message_naming_both(make_nvim, project, omen, ollama):
    omen_url, ollama_url = omen.url, ollama.url
    omen.stop()
    ollama.stop()
    nv = start(make_nvim, omen_url, project, ollama=ollama_url)
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "error"
    err = last["error"]
    assert omen_url in err and ollama_url in err
    assert ":checkhealth zeke" in err
    assert "Traceback" not in err
    assert ":checkhealth zeke" in nv.scratch_text()
    # one message: no "degraded mode on local Ollama" announcement that then fails
    zeke_lines = [m for m in nv.messages().splitlines() if m.startswith("zeke:")]
    assert zeke_lines == [err], zeke_lines


def test_model_not_pulled_says_ollama_pull(make_nvim, project, omen, ollama):
    dead = omen.url
    omen.stop()
    ollama.pulled = ["llama3:8b"]
    nv = start(make_nvim, dead, project, {"alias": "code-fast"}, ollama=ollama)
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "error"
    assert "ollama pull deepseek-coder:14b" in last["error"]
    assert "ollama pull deepseek-coder:14b" in nv.scratch_text()


@pytest.mark.parametrize(
    ("reply", "expect"),
    [
        (lambda: fo.error(401, b""), "ZEKE_API_KEY"),
        (
            lambda: fo.error(
                429, {"error": {"message": "Rate limit exceeded", "type": "api_error", "code": 429}}
            ),
            "429",
        ),
    ],
    ids=["401", "429"],
)
def test_router_decisions_are_shown_never_routed_to_ollama(
    make_nvim, project, omen, ollama, reply, expect
):
    omen.queue(reply(), reply())
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, ollama=ollama)
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "error" and expect in last["error"]
    assert not last.get("degraded")
    assert ollama.chat_requests() == []
    assert degraded_state(nv) is False and "DEGRADED" not in nv.badge()


# -- stats ----------------------------------------------------------------------------


def test_stats_rows_say_ollama_and_degraded(make_nvim, project, omen, ollama):
    omen.queue(fo.stream("from the router"))
    nv = start(make_nvim, omen, project, ollama=ollama)
    db = nv.db_path()
    nv.cmd("1ZekeExplain")
    assert not nv.wait_done().get("degraded")
    stats_rows(db, 1)

    omen.stop()
    for _ in range(2):
        before = nv.last()["id"]
        nv.cmd("1ZekeExplain")
        wait_for(lambda b=before: nv.last()["id"] != b, message="next request")
        assert nv.wait_done()["degraded"] is True

    rows = stats_rows(db, 3)
    assert rows[0][0] != "ollama" and rows[0][2] == 0
    assert rows[1:] == [("ollama", "deepseek-coder:14b", 1, 1)] * 2
