"""The demo's local model: build it with progress, serve it, check it answers.

scripts/demo runs this file as a command and tests/integration/test_localmodel.py
imports it, so the demo and the test start and check the model server the same
way. Standard library only: it runs on whichever Python is at hand (the host's
interpreter for ``progress``/``smoke``/``explain``, the demo venv's for ``serve``).

    python demo_model.py progress --label L --log FILE -- CMD...   run CMD, a line every 20 s
    python demo_model.py cmake-args [--cpu auto|avx2|generic]      the portable CMAKE_ARGS
    python demo_model.py serve ARGS...                             llama_cpp.server ARGS
    python demo_model.py smoke BASE MODEL                          one tiny completion
    python demo_model.py explain --status N --log FILE [--detail]  why the server failed
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# The llama-cpp-python release the demo builds, tested on x86-64 and Linux.
LLAMA_CPP_VERSION = "0.3.36"

# What the server needs and nothing else: no multimodal (mtmd) library, no tests,
# examples, tools or llama.cpp's own server, no HTTPS client.
_LEAN = [
    "-DLLAVA_BUILD=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_OPENSSL=OFF",
]
# x86-64 CPU extras that are never compiled in: -march=native may pick AVX-512 or
# AMX where the CPU advertises them but the kernel (or hypervisor) traps them.
_NO_TRAPS = [
    "-DGGML_AVX512=OFF",
    "-DGGML_AVX512_VBMI=OFF",
    "-DGGML_AVX512_VNNI=OFF",
    "-DGGML_AVX512_BF16=OFF",
    "-DGGML_AVX_VNNI=OFF",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
]
_X86_LEVELS = {
    "avx2": ["SSE42", "AVX", "AVX2", "FMA", "F16C", "BMI2"],
    "generic": [],
}
_X86_ALL = ["SSE42", "AVX", "AVX2", "FMA", "F16C", "BMI2"]
_AVX2_FLAGS = {"avx", "avx2", "fma", "f16c", "bmi2"}

PROGRESS_EVERY = 20.0  # seconds between "still compiling" lines (the promise is 30)


# --- build ------------------------------------------------------------------------


def cpu_flags(cpuinfo: str) -> set[str]:
    """The feature flags the kernel reports (Linux /proc/cpuinfo text)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def pick_cpu_level(machine: str, flags: set[str]) -> str:
    """The CPU level: "avx2" on an x86-64 that reports every AVX2-era flag, else "generic"."""
    if machine.lower() in ("x86_64", "amd64") and flags >= _AVX2_FLAGS:
        return "avx2"
    return "generic"


def cmake_args(machine: str, level: str) -> list[str]:
    """CMAKE_ARGS for a build that runs on any CPU of this kind, not just this one:
    never -march=native; on x86-64 at most AVX2 (``generic``: no SIMD extras)."""
    args = ["-DGGML_NATIVE=OFF", *_LEAN]
    if machine.lower() in ("x86_64", "amd64", "i386", "i686", "x86"):
        if level not in _X86_LEVELS:
            raise ValueError(f"unknown CPU level {level!r} (avx2 or generic)")
        on = _X86_LEVELS[level]
        args += [f"-DGGML_{f}={'ON' if f in on else 'OFF'}" for f in _X86_ALL]
        args += _NO_TRAPS
    return args


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def fmt_elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


_STEP = re.compile(r"\[(\d+)/(\d+)\]")
_OBJECT = re.compile(r"-o \S*?([^/\s]+)\.o\b")


def build_step(log_tail: str) -> str:
    """What the build is doing, from the last ninja line in the log: "step 45/140,
    llama-model.cpp" (ninja prints ``[45/140] <compiler command -o …/x.cpp.o>``)."""
    for line in reversed(log_tail.splitlines()):
        m = _STEP.search(line)
        if m:
            obj = _OBJECT.search(line)
            where = f", {obj.group(1)}" if obj else ""
            return f"step {m.group(1)}/{m.group(2)}{where}"
    return ""


def _tail(path: Path, size: int = 8192, since: int = 0) -> str:
    """The last ``size`` bytes of ``path``, none before offset ``since``."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(since, f.tell() - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def run_with_progress(cmd: list[str], log: Path, label: str, every: float) -> int:
    """Run ``cmd`` with its output appended to ``log``; every ``every`` seconds say
    that it is still running, for how long, and what it is doing. A silent
    ten-minute compile looks like a hang."""
    start = time.monotonic()
    with log.open("ab") as out:
        since = out.tell()  # earlier runs' lines in the log say nothing about this one
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                return proc.wait(timeout=every)
            except subprocess.TimeoutExpired:
                step = build_step(_tail(log, since=since))
                print(
                    f"demo: still {label} ({fmt_elapsed(time.monotonic() - start)})"
                    + (f": {step}" if step else "")
                    + " …",
                    flush=True,
                )
    finally:
        if proc.poll() is None:  # interrupted: do not leave the compiler running
            proc.terminate()
            proc.wait()


# --- serve ------------------------------------------------------------------------


def serve(argv: list[str]) -> None:
    """llama_cpp.server with ``argv``, in this process (the demo venv's Python).

    llama-cpp-python's server answers 400 to an X-Request-ID that is not a UUID
    (its starlette-context plugin validates it); zeke's request ids are shorter,
    so the check is turned off here. The model is a local file: nothing may be
    fetched from a hub at run time."""
    import functools
    import runpy

    os.environ["HF_HUB_OFFLINE"] = "1"
    import starlette_context.plugins as plugins

    plugins.RequestIdPlugin = functools.partial(plugins.RequestIdPlugin, validate=False)
    sys.argv = ["llama_cpp.server", *argv]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


def server_command(python: str, gguf: str, alias: str, port: int) -> list[str]:
    """The command that serves ``gguf`` as ``alias`` on 127.0.0.1:``port``."""
    return [
        python, str(Path(__file__).resolve()), "serve",
        "--model", gguf, "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
    ]  # fmt: skip


# --- check ------------------------------------------------------------------------


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


def answers(url: str) -> bool:
    """True when ``url`` answers 2xx within 2 s."""
    try:
        with _opener().open(url, timeout=2) as r:
            return 200 <= r.status < 300
    except (OSError, ValueError):
        return False


def smoke(base: str, model: str, timeout: float = 120.0) -> str | None:
    """One tiny completion (a few tokens): None when the server computes an answer,
    else what went wrong. /models answering proves little: the matrix kernels
    (where a CPU the build does not fit traps) only run for a completion."""
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "Say OK."}],
            "max_tokens": 4,
            "temperature": 0,
        }
    ).encode()
    req = urllib.request.Request(
        base.rstrip("/") + "/chat/completions",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with _opener().open(req, timeout=timeout) as r:
            reply = json.loads(r.read().decode(errors="replace"))
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")[:300]
        return f"the test completion got HTTP {e.code}: {text}"
    except TimeoutError:
        return f"the test completion got no answer within {timeout:.0f} s"
    except (OSError, ValueError) as e:
        return f"the test completion failed: {e}"
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not choices or not isinstance(choices, list):
        return f"the test completion came back without choices: {str(reply)[:300]}"
    return None


def signal_of(status: int | None) -> int | None:
    """The signal that ended the server: Python's -N, or a shell's 128+N."""
    if status is None:
        return None
    if status < 0:
        return -status
    if 128 < status < 160:
        return status - 128
    return None


REBUILD = "rm -rf .cache/demo-venv .cache/demo-wheels"


def explain(status: int | None, log_tail: str, detail: str = "") -> str:
    """The cause of a model server failure and the fix, in words a user can act on.

    ``status``: the server's exit status (None while it is still running)."""
    sig = signal_of(status)
    if sig == signal.SIGILL:
        return (
            "the model server died of an illegal instruction: this llama-cpp-python was "
            "compiled for CPU features this machine does not run. Fix: build it for a "
            "plain CPU baseline (no AVX; slower, but it runs anywhere): "
            "ZEKE_DEMO_CPU=generic make demo"
        )
    if sig == signal.SIGSEGV:
        return (
            "the model server crashed (segmentation fault). Fix: rebuild it: "
            f"{REBUILD}; make demo (ZEKE_DEMO_CPU=generic for a plain CPU baseline)"
        )
    if sig == signal.SIGKILL:
        return (
            "the model server was killed (SIGKILL; out of memory?). Fix: free some "
            "memory, or use your own router (ZEKE_API_BASE) or Ollama (OLLAMA_HOST)"
        )
    if "error loading model" in log_tail or "failed to load model" in log_tail:
        return (
            "the model server could not load the model file. Fix: reinstall it: "
            "rm -rf .cache/demo-venv; make demo"
        )
    if status is not None:
        how = f"signal {sig}" if sig else f"status {status}"
        return f"the model server exited ({how}); its log says why. {detail}".strip()
    return (
        f"the model server runs but does not answer: {detail or 'no reason given'}. "
        "Fix: see its log; a busy machine may need a second try"
    )


# --- command line -----------------------------------------------------------------


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:  # every argument after it is the server's own
        serve(argv[1:])
        return 0
    p = argparse.ArgumentParser(prog="demo_model.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("progress")
    pr.add_argument("--label", required=True)
    pr.add_argument("--log", type=Path, required=True)
    pr.add_argument("--every", type=float, default=PROGRESS_EVERY)
    pr.add_argument("command", nargs=argparse.REMAINDER)
    ca = sub.add_parser("cmake-args")
    ca.add_argument("--cpu", default="auto")
    sm = sub.add_parser("smoke")
    sm.add_argument("base")
    sm.add_argument("model")
    sm.add_argument("--timeout", type=float, default=120.0)
    ex = sub.add_parser("explain")
    ex.add_argument("--status", type=int)
    ex.add_argument("--log", type=Path)
    ex.add_argument("--detail", default="")
    sub.add_parser("version")
    a = p.parse_args(argv)

    if a.cmd == "progress":
        command = a.command[1:] if a.command[:1] == ["--"] else a.command
        return run_with_progress(command, a.log, a.label, a.every)
    if a.cmd == "cmake-args":
        machine = platform.machine()
        level = a.cpu if a.cpu != "auto" else pick_cpu_level(machine, cpu_flags(_read_cpuinfo()))
        try:
            print(" ".join(cmake_args(machine, level)))
        except ValueError as e:
            print(f"demo: ZEKE_DEMO_CPU: {e}", file=sys.stderr)
            return 2
        return 0
    if a.cmd == "smoke":
        problem = smoke(a.base, a.model, a.timeout)
        if problem:
            print(problem)
            return 1
        return 0
    if a.cmd == "explain":
        print(explain(a.status, _tail(a.log) if a.log else "", a.detail))
        return 0
    print(LLAMA_CPP_VERSION)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
