"""What a user sees on routers that are not OMEN, in a real headless Neovim: the badge,
:ZekeStats and the messages against fakes playing LiteLLM's proxy and llama.cpp's
server (tests/fakes/flavours.py), and degraded mode on routers without ``/ready``."""

from __future__ import annotations

import functools
import re

import pytest

import kit
from fakes import ollama as fl
from fakes import omen as fo
from fakes.flavours import FakeLiteLLM, FakeLlamaCpp
from nvimharness import one_build, wait_for, wait_rows

SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
KEY = "sk-litellm-master-0123456789"

start = functools.partial(kit.start, text=SOURCE)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "cache" / "zeke.db"


@pytest.fixture
def litellm():
    server = FakeLiteLLM().start()
    yield server
    server.stop()


@pytest.fixture
def llamacpp():
    server = FakeLlamaCpp().start()
    yield server
    server.stop()


def models_loaded(server) -> None:
    wait_for(
        lambda: any(r.path.endswith("/models") for r in server.requests),
        message="the model list fetched",
    )


def explain(nv) -> dict:
    nv.cmd("1,5ZekeExplain")
    return nv.wait_done()


@one_build
def test_litellm_auto_goes_to_the_reason_alias_and_the_badge_says_so(
    make_nvim, project, db, litellm
):
    litellm.master_key = KEY
    nv = start(make_nvim, litellm, project, {"alias": "auto"}, db=db, env={"ZEKE_API_KEY": KEY})
    models_loaded(litellm)
    last = explain(nv)
    assert last["state"] == "done", last
    # asked for auto; LiteLLM has no such group: zeke asked for the reason alias
    assert [r.body["model"] for r in litellm.chat_requests()] == ["auto", "reason-deep"]
    badge = nv.badge()
    assert " auto⇢reason-deep→claude-3-5-sonnet-20241022 " in badge, badge
    assert " $0.0004 " in badge and "@" not in badge  # LiteLLM's cost; nobody named a provider
    # the model list was asked with the key (a keyed LiteLLM refuses it otherwise)
    listing = [r for r in litellm.requests if r.path.endswith("/models")]
    assert listing and all(r.headers.get("authorization") == f"Bearer {KEY}" for r in listing)


@one_build
def test_llamacpp_echo_is_not_a_model_and_unknown_stays_unknown(make_nvim, project, db, llamacpp):
    nv = start(make_nvim, llamacpp, project, {"alias": "code-fast"}, db=db)
    models_loaded(llamacpp)
    last = explain(nv)
    assert last["state"] == "done", last
    badge = nv.badge()
    # not "code-fast→deepseek-coder:14b @ollama $0": nobody said so
    assert re.search(r"zeke ✓ code-fast \$\? ", badge), badge
    assert last.get("model") is None and last.get("provider") is None
    assert last.get("cost_usd") is None
    rows = wait_rows(db, 1, "SELECT model, provider, cost_usd, status FROM routing_stats")
    assert [tuple(r) for r in rows] == [(None, None, None, "ok")]


@one_build
def test_a_model_switch_mid_answer_shows_both(make_nvim, project, db, omen):
    omen.personality = "designed"

    def by_claude(text: str, finish: str | None = None) -> dict:
        return {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "claude-3-5-sonnet",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
        }

    # the header says gpt-5-codex; from the second chunk on, another model answers
    chunks = ["first ", by_claude("more"), by_claude(" done", "stop")]
    omen.queue(fo.stream(chunks, usage=False, finish_reason=None))
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db)
    last = explain(nv)
    assert last["state"] == "done", last
    assert (last["switched_from"], last["model"]) == ("gpt-5-codex", "claude-3-5-sonnet")
    assert " code-smart→gpt-5-codex→claude-3-5-sonnet " in nv.badge(), nv.badge()


@one_build
def test_the_badge_follows_zekemodel_before_the_next_request(make_nvim, project, db, omen):
    omen.personality = "designed"
    nv = start(make_nvim, omen, project, {"alias": "code-fast"}, db=db)
    assert explain(nv)["state"] == "done"
    assert " code-fast→deepseek-coder:14b " in nv.badge()
    nv.cmd("ZekeModel code-smart")
    wait_for(lambda: nv.badge() == "zeke code-smart", message="the badge naming code-smart")


@one_build
def test_an_empty_answer_is_an_error_naming_the_router(make_nvim, project, db, llamacpp):
    llamacpp.queue(fo.stream([]))
    nv = start(make_nvim, llamacpp, project, db=db)
    last = explain(nv)
    assert last["state"] == "error"
    port = llamacpp.url.split(":")[-1].split("/")[0]
    assert f"the router at 127.0.0.1:{port} sent an empty answer" in last["error"]
    assert "OMEN" not in last["error"]


@one_build
def test_degraded_mode_ends_on_a_router_without_ready(make_nvim, project, db, litellm, ollama):
    litellm.chat_status = 503  # a backend restarting behind the proxy
    ollama.queue(fl.ollama_stream("from the laptop"))
    nv = start(make_nvim, litellm, project, {"alias": "code-fast"}, db=db, ollama=ollama)
    first = explain(nv)
    assert first["state"] == "done" and first["degraded"] is True, first
    litellm.chat_status = None  # back; its /ready is still 404, /models answers
    wait_for(
        lambda: nv.lua("return require('zeke.requests').degraded") is False,
        timeout=40,  # the watcher's backoff: 1, 2, 4 … s
        message="degraded mode over",
    )
    assert "the router is back" in nv.messages()
    again = explain(nv)
    assert again["state"] == "done" and again["degraded"] is False, again


@one_build
def test_a_stalled_router_whose_ready_says_503_falls_back_without_the_read_timeout(
    make_nvim, project, db, omen, ollama
):
    omen.queue(fo.hang())
    omen.ready_status = 503
    ollama.queue(fl.ollama_stream("local answer"))
    nv = start(
        make_nvim,
        omen,
        project,
        db=db,
        ollama=ollama,
        timeouts={"connect": 1, "first_byte": 120, "read": 120},
    )
    nv.cmd("1,5ZekeExplain")
    last = nv.wait_done(timeout=30)  # far less than the 120 s the router would cost
    assert last["state"] == "done" and last["degraded"] is True, last
    assert last["text"] == "local answer"
