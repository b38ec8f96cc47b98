"""scripts/demo_model.py: the demo's portable build flags, build progress, smoke check
and the words a user reads when the local model server fails."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "demo_model.py"

_spec = importlib.util.spec_from_file_location("demo_model", SCRIPT)
assert _spec and _spec.loader
dm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dm)

# A CPU like this machine's: advertises AMX and AVX-512 (which the kernel may trap).
CPUINFO_AMX = (
    "processor\t: 0\nmodel name\t: Some Xeon\n"
    "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi1 bmi2 avx2 "
    "avx512f avx512bw avx512_vnni amx_tile amx_int8 amx_bf16\n"
)
CPUINFO_OLD = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt\n"


def flags_of(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("-D").split("=", 1) for a in args)


# --- build flags ---------------------------------------------------------------------


def test_an_amx_cpu_gets_avx2_at_most_and_never_native() -> None:
    level = dm.pick_cpu_level("x86_64", dm.cpu_flags(CPUINFO_AMX))
    args = dm.cmake_args("x86_64", level)
    got = flags_of(args)
    assert got["GGML_NATIVE"] == "OFF"
    assert not any("march" in a for a in args)
    assert got["GGML_AVX2"] == "ON" and got["GGML_FMA"] == "ON"
    trapping = [k for k in got if re.match(r"GGML_(AVX512|AMX|AVX_VNNI)", k)]
    assert trapping and all(got[k] == "OFF" for k in trapping)


def test_a_cpu_without_avx2_gets_no_simd_extras() -> None:
    level = dm.pick_cpu_level("x86_64", dm.cpu_flags(CPUINFO_OLD))
    assert level == "generic"
    got = flags_of(dm.cmake_args("x86_64", level))
    assert all(got[f"GGML_{f}"] == "OFF" for f in ("AVX", "AVX2", "FMA", "F16C", "BMI2"))
    assert got["GGML_NATIVE"] == "OFF"


def test_the_build_is_only_what_the_server_needs() -> None:
    for machine in ("x86_64", "aarch64"):
        got = flags_of(dm.cmake_args(machine, "avx2"))
        for off in (
            "LLAVA_BUILD",
            "LLAMA_BUILD_TESTS",
            "LLAMA_BUILD_EXAMPLES",
            "LLAMA_BUILD_TOOLS",
        ):
            assert got[off] == "OFF", (machine, off)
    # no x86 flags on ARM: the compiler's baseline, not this machine's
    assert not any(k.startswith("GGML_AVX") for k in flags_of(dm.cmake_args("aarch64", "avx2")))


def test_cmake_args_command_rejects_an_unknown_cpu_level() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "cmake-args", "--cpu", "avx9"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0:  # not an x86 machine: the level does not apply
        assert "GGML_AVX" not in proc.stdout
    else:
        assert "ZEKE_DEMO_CPU" in proc.stderr and "avx9" in proc.stderr


# --- build progress ------------------------------------------------------------------

NINJA_LINE = (
    "  [45/140] /usr/bin/g++ -DGGML_BUILD -O3 -c -MD -MT x -o "
    "vendor/llama.cpp/src/CMakeFiles/llama.dir/llama-model.cpp.o -c /tmp/b/llama-model.cpp"
)


def test_build_step_names_the_ninja_step_and_the_file() -> None:
    tail = (
        "*** Building project with Ninja...\n  [44/140] g++ -o a/b/ggml.c.o -c ggml.c\n"
        + NINJA_LINE
    )
    assert dm.build_step(tail) == "step 45/140, llama-model.cpp"
    assert dm.build_step("Collecting scikit-build-core\n") == ""


def test_a_long_build_prints_a_line_with_elapsed_time_and_step(tmp_path: Path) -> None:
    log = tmp_path / "install.log"
    log.write_text("  [139/140] g++ -o a/old-build.cpp.o -c old-build.cpp\n")  # a run before
    slow_build = (
        f"import sys, time; print({NINJA_LINE!r}, flush=True); time.sleep(2.5); sys.exit(3)"
    )
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "progress", "--label", "compiling llama-cpp-python",
         "--log", str(log), "--every", "0.4", "--", sys.executable, "-c", slow_build],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln]
    assert proc.returncode == 3  # the build's own exit status
    assert len(lines) >= 2, proc.stdout
    assert all(re.match(r"demo: still compiling llama-cpp-python \(\d+s\)", ln) for ln in lines)
    assert any("step 45/140, llama-model.cpp" in ln for ln in lines), lines
    assert not any("old-build" in ln for ln in lines), lines
    assert NINJA_LINE in log.read_text()  # the output went to the log, not the terminal


def test_elapsed_time_reads_in_minutes() -> None:
    assert dm.fmt_elapsed(9.9) == "9s"
    assert dm.fmt_elapsed(210) == "3m30s"


# --- smoke check and explanations ----------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    reply: tuple[int, dict] = (200, {})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.reply
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    httpd.shutdown()
    httpd.server_close()


def test_smoke_passes_when_the_server_completes(server) -> None:
    base, handler = server
    handler.reply = (200, {"choices": [{"message": {"role": "assistant", "content": "OK"}}]})
    assert dm.smoke(base, "m", timeout=30) is None


def test_smoke_reports_an_error_reply(server) -> None:
    base, handler = server
    handler.reply = (500, {"error": "ggml_abort: out of memory"})
    problem = dm.smoke(base, "m", timeout=30)
    assert problem and "HTTP 500" in problem and "out of memory" in problem


def test_smoke_reports_a_closed_port() -> None:
    problem = dm.smoke(f"http://127.0.0.1:{_closed_port()}/v1", "m", timeout=10)
    assert problem and "failed" in problem


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("status", [-4, 132])  # Python's and a shell's SIGILL
def test_an_illegal_instruction_names_the_cause_and_the_fix(status: int) -> None:
    text = dm.explain(status, "llama_model_loader: loaded meta data\n")
    assert "illegal instruction" in text and "CPU" in text
    assert "ZEKE_DEMO_CPU=generic make demo" in text


def test_a_running_server_that_fails_the_check_says_what_it_saw() -> None:
    text = dm.explain(None, "", "the test completion got HTTP 500: boom")
    assert "runs but does not answer" in text and "HTTP 500: boom" in text


def test_a_model_that_does_not_load_says_so() -> None:
    text = dm.explain(1, "llama_model_load: error loading model: bad magic\n")
    assert "could not load the model file" in text
