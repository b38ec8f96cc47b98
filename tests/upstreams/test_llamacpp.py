"""zeke against llama.cpp's real server (llama-cpp-python, the demo's SmolLM2-135M),
straight and behind LiteLLM's real proxy: the setup users run on a laptop. Runs when
`make demo` has built the local model (tests/localserver.py), else skips saying so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kit import start
from localserver import MODEL_ALIAS, local_model_server
from nvimharness import one_build
from realprograms import MASTER_KEY, LiteLLMProxy, require

pytestmark = [pytest.mark.llamacpp, pytest.mark.nvim, pytest.mark.timeout(300)]

SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
ALIASES = {"local": {"provider": "llama.cpp", "model": MODEL_ALIAS}}


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_model_server(tmp_path_factory.mktemp("llama")) as base:
        yield base


@pytest.fixture(scope="module")
def litellm_over_llama(
    llama_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiteLLMProxy]:
    from conftest import LITELLM_INSTALL

    from realprograms import LITELLM

    require(LITELLM, LITELLM_INSTALL)
    models = [
        {
            "model_name": "local",
            "litellm_params": {
                "model": f"openai/{MODEL_ALIAS}",
                "api_base": llama_server,
                "api_key": "none",
            },
        }
    ]
    proxy = LiteLLMProxy(tmp_path_factory.mktemp("litellm"), models).start()
    yield proxy
    proxy.stop()


def explain(nv) -> dict:
    nv.cmd("1,5ZekeExplain")
    return nv.wait_done(timeout=240)


@one_build
def test_llamacpp_straight_streams_and_claims_nothing_it_did_not_say(
    make_nvim, project, llama_server
):
    nv = start(
        make_nvim, llama_server, project, {"alias": "local", "aliases": ALIASES}, text=SOURCE
    )
    last = explain(nv)
    assert last["state"] == "done", last.get("error")
    assert last["text"].strip() and last["text"].strip() in nv.scratch_text()
    badge = nv.badge()
    assert badge.startswith("zeke ✓ local"), badge
    assert "@" not in badge and "$?" in badge, badge  # llama.cpp names no provider, no price
    assert (last["tokens_out"] or 0) > 0


@one_build
def test_litellm_in_front_of_llamacpp_names_the_deployment(make_nvim, project, litellm_over_llama):
    config = {"alias": "local", "aliases": ALIASES}
    env = {"ZEKE_API_KEY": MASTER_KEY}
    nv = start(make_nvim, litellm_over_llama, project, config, text=SOURCE, env=env)
    last = explain(nv)
    assert last["state"] == "done", last.get("error")
    assert last["text"].strip() in nv.scratch_text()
    assert last["model"] == MODEL_ALIAS, last  # x-litellm-model-name, adapter prefix gone
    badge = nv.badge()
    assert f" local→{MODEL_ALIAS} " in badge and "@" not in badge, badge
