"""One real :ZekeRefactor against a real local model (the demo's SmolLM2-135M),
started and checked as the demo does (tests/localserver.py); skipped with the cause
when it is not installed or cannot answer on this machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localserver import MODEL_ALIAS, local_model_server

pytestmark = [pytest.mark.localmodel, pytest.mark.nvim]

SOURCE = """\
def total_value(items):
    total = 0.0
    for i in range(len(items)):
        item = items[i]
        if item["qty"] > 0:
            total = total + item["qty"] * item["price"]
    return total
"""


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_model_server(tmp_path_factory.mktemp("llama")) as base:
        yield base


@pytest.mark.timeout(300)
def test_refactor_streams_a_real_answer_from_the_local_model(model_server, make_nvim, tmp_path):
    nv = make_nvim(
        {
            "api_base": model_server,
            "fallback": False,
            "alias": "smollm2",
            "aliases": {"smollm2": {"provider": "llama.cpp", "model": MODEL_ALIAS}},
        }
    )
    nv.open_file(tmp_path / "sample" / "inventory.py", SOURCE)
    nv.cmd("1,7ZekeRefactor use sum() with a generator")
    last = nv.wait_done(timeout=180)

    assert last["state"] == "done", last.get("error")
    assert last["text"].strip(), "the model sent no text"
    # what the user sees: the answer in the scratch buffer, the badge done
    assert nv.scratch_text().strip() and last["text"].strip() in nv.scratch_text()
    badge = nv.badge()
    assert badge.startswith("zeke ✓ smollm2"), badge
    assert (last["tokens_out"] or 0) > 0
