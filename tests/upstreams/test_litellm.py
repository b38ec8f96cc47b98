"""zeke in a real Neovim against LiteLLM's real proxy (PyPI), in front of a scripted
deployment: what the badge, the answer, :ZekeStats' rows and the messages say.

LiteLLM as it is (1.108): ``/ready`` is 404; the deployment's model comes in
``x-litellm-model-name`` with LiteLLM's adapter prefix (``openai/…``); on a stream
the cost headers read 0.0 and the cost comes in the last chunk's ``usage.cost``;
an unknown group is a 400 "Invalid model name"; without a database a key that is
not the master key is a 400 "No connected db.".
"""

from __future__ import annotations

import functools
import re

import httpx
import pytest

import kit
from fakes import ollama as fl
from fakes import omen as fo
from nvimharness import one_build, wait_for, wait_rows
from realprograms import MASTER_KEY, PRICE_IN, PRICE_OUT, LiteLLMProxy, free_port, group

pytestmark = [pytest.mark.litellm, pytest.mark.nvim]

SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
KEYED = {"ZEKE_API_KEY": MASTER_KEY}

start = functools.partial(kit.start, text=SOURCE, env=KEYED, notes=True)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "cache" / "zeke.db"


def explain(nv, timeout: float = 30.0) -> dict:
    nv.cmd("1,5ZekeExplain")
    return nv.wait_done(timeout=timeout)


def asked(deployment) -> list[str]:
    """The models LiteLLM asked its deployment for, in order."""
    return [r.body["model"] for r in deployment.chat_requests()]


@one_build
def test_an_answer_through_litellm_names_the_deployment_and_its_cost(
    make_nvim, project, db, backend, litellm
):
    backend.queue(fo.stream("It sums the numbers in xs."))
    nv = start(make_nvim, litellm, project, {"alias": "code-fast"}, db=db)
    last = explain(nv)
    assert last["state"] == "done", last
    assert "It sums the numbers in xs." in nv.scratch_text()
    assert asked(backend) == ["deepseek-coder-v2-lite"]
    # the deployment, without LiteLLM's adapter prefix; "openai/" is not a provider
    assert last["model"] == "deepseek-coder-v2-lite" and last.get("provider") is None, last
    tokens_in, tokens_out = last["tokens_in"], last["tokens_out"]
    assert tokens_in > 0 and tokens_out > 0
    cost = PRICE_IN * tokens_in + PRICE_OUT * tokens_out
    assert last["cost_usd"] == pytest.approx(cost), last  # usage.cost, not the 0.0 headers
    badge = nv.badge()
    assert " code-fast→deepseek-coder-v2-lite " in badge and "@" not in badge, badge
    assert "$?" not in badge and "$0 " not in badge, badge
    rows = wait_rows(db, 1, "SELECT model, provider, cost_usd, status FROM routing_stats")
    assert [tuple(r)[:2] + tuple(r)[3:] for r in rows] == [("deepseek-coder-v2-lite", None, "ok")]
    assert rows[0]["cost_usd"] == pytest.approx(cost)
    (trace,) = wait_rows(db, 1, "SELECT trace FROM routing_trace")
    assert '"x-litellm-model-group": "code-fast"' in trace["trace"], trace["trace"]


@one_build
def test_an_unpriced_group_costs_unknown_not_zero(make_nvim, project, db, backend, litellm):
    nv = start(make_nvim, litellm, project, {"alias": "code-smart"}, db=db)
    last = explain(nv)
    assert last["state"] == "done", last
    assert last["model"] == "gpt-5-codex-2025-09"
    assert last.get("cost_usd") is None, last
    badge = nv.badge()
    assert " $? " in badge or badge.endswith(" $?"), badge
    rows = wait_rows(db, 1, "SELECT cost_usd FROM routing_stats")
    assert rows[0]["cost_usd"] is None


@one_build
def test_a_500_is_shown_and_the_next_request_asks_for_the_same_alias(
    make_nvim, project, db, backend, litellm
):
    restarting = fo.error(500, {"error": {"message": "backend restarting", "type": "server_error"}})
    # LiteLLM retries a deployment's 500 twice itself; the third one reaches zeke
    backend.queue(restarting, restarting, restarting, fo.stream("Back again."))
    nv = start(make_nvim, litellm, project, {"alias": "code-fast"}, db=db)
    first = explain(nv)
    assert first["state"] == "error", first
    assert "backend restarting" in first["error"] and "500" in first["error"], first["error"]
    assert len(backend.chat_requests()) == 3
    assert "instead" not in first["error"]  # no stand-in for a transient failure
    second = explain(nv)
    assert second["state"] == "done", second
    assert "Back again." in nv.scratch_text()
    # both asked for code-fast's deployment: the alias was never swapped
    assert set(asked(backend)) == {"deepseek-coder-v2-lite"}
    assert " code-fast→deepseek-coder-v2-lite " in nv.badge(), nv.badge()


@one_build
def test_auto_unknown_to_litellm_is_asked_as_the_intents_alias(
    make_nvim, project, db, backend, litellm
):
    backend.queue(fo.stream("Reasoned."))
    nv = start(make_nvim, litellm, project, {"alias": "auto"}, db=db)
    last = explain(nv)
    assert last["state"] == "done", last
    assert asked(backend) == ["qwen3-reasoner-8b"]  # reason-deep's deployment
    badge = nv.badge()
    assert " auto⇢reason-deep→qwen3-reasoner-8b " in badge, badge
    assert last["retried_as"] == "reason-deep", last


@one_build
def test_a_key_litellm_does_not_know_is_named_as_the_key(make_nvim, project, db, backend, litellm):
    env = {"ZEKE_API_KEY": "sk-not-the-master-key-9876543210"}
    nv = start(make_nvim, litellm, project, {"alias": "code-fast"}, db=db, env=env)
    last = explain(nv)
    assert last["state"] == "error", last
    assert "key" in last["error"] and "ZEKE_API_KEY" in last["error"], last["error"]
    assert "sk-not-the-master-key" not in last["error"]
    assert asked(backend) == []
    assert "instead" not in last["error"]


@one_build
def test_a_rate_limit_says_so_and_asks_nothing_else(make_nvim, project, db, backend, litellm):
    config = {"alias": "limited", "aliases": {"limited": {"provider": "x", "model": "limited"}}}
    nv = start(make_nvim, litellm, project, config, db=db)
    last = explain(nv)
    assert last["state"] == "error", last
    assert "rate limit" in last["error"], last["error"]
    assert "instead" not in last["error"]
    rows = wait_rows(db, 1, "SELECT status FROM routing_stats")
    assert rows[0]["status"] == "failed"


@one_build
def test_degraded_mode_ends_when_litellm_comes_back(
    make_nvim, project, db, backend, litellm_bin, tmp_path, ollama
):
    port = free_port()
    later = LiteLLMProxy(
        tmp_path, [group("code-fast", "deepseek-coder-v2-lite", backend)], port=port
    )
    ollama.queue(fl.ollama_stream("From the laptop."))
    backend.queue(fo.stream("From the router."))
    nv = start(make_nvim, later, project, {"alias": "code-fast"}, db=db, ollama=ollama)
    try:
        first = explain(nv)  # nothing listens on the port yet
        assert first["state"] == "done" and first["degraded"] is True, first
        assert "From the laptop." in nv.scratch_text()
        later.start()
        assert httpx.get(f"{later.root}/ready", timeout=5, trust_env=False).status_code == 404
        wait_for(
            lambda: "DEGRADED" not in nv.badge(),
            timeout=60,
            message="zeke to leave degraded mode (LiteLLM has no /ready)",
        )
        second = explain(nv)
        assert second["state"] == "done" and not second.get("degraded"), second
        assert "From the router." in nv.scratch_text()
        assert re.search(r"code-fast→deepseek-coder-v2-lite", nv.badge()), nv.badge()
    finally:
        later.stop()
