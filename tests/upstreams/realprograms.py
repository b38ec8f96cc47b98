"""The real programs the upstream tier runs zeke against, found and started.

- LiteLLM's proxy (PyPI ``litellm[proxy]``), from its own venv built by
  ``scripts/upstreams`` (it pulls in far more than the host needs);
- the MCP reference servers ``mcp-server-time`` and ``mcp-server-git`` (PyPI, in
  the test venv) and ``@modelcontextprotocol/server-filesystem`` (npm);
- llama.cpp's server through llama-cpp-python, when ``make demo`` has built it.

A program that is missing skips its tests with the command that installs it; under
``CI=true`` LiteLLM and the MCP servers must be there, so a missing one fails.
Everything listens on 127.0.0.1 and nothing here reaches beyond it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from nvimharness import wait_for

ROOT = Path(__file__).resolve().parents[2]
UPSTREAMS_VENV = ROOT / ".cache" / "upstreams" / "venv"
LITELLM = UPSTREAMS_VENV / "bin" / "litellm"
TEST_BIN = Path(sys.executable).parent
TIME_SERVER = TEST_BIN / "mcp-server-time"
GIT_SERVER = TEST_BIN / "mcp-server-git"
FS_SERVER = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "mcp-server-filesystem"

MASTER_KEY = "sk-zeke-upstream-master-0123456789"
"""The proxy's master key (what a user puts in ZEKE_API_KEY)."""

STARTUP_S = 90.0
"""LiteLLM's proxy imports a lot: about 5 s on an idle 2-core machine, far more under load."""


def on_ci() -> bool:
    return os.environ.get("CI") == "true"


def require(path: Path, install: str, *, on_ci_too: bool = True) -> Path:
    """``path`` when it is an executable; else skip (or, on CI, fail) saying how to get it."""
    if os.access(path, os.X_OK):
        return path
    message = f"{path} is missing; {install}"
    if on_ci_too and on_ci():
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def program_version(path: Path, *args: str) -> str:
    """What a program says of its version (for the test's report), or ''."""
    try:
        out = subprocess.run(
            [str(path), *args], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return " ".join(out.split())


class LiteLLMProxy:
    """One real LiteLLM proxy on 127.0.0.1 with the given model list.

    ``model_list`` is LiteLLM's own config shape; the file is written as JSON, which
    YAML (what LiteLLM reads) accepts. Prices come from each entry's ``model_info``
    and the bundled cost map only (``LITELLM_LOCAL_MODEL_COST_MAP``): no download.
    """

    def __init__(
        self,
        workdir: Path,
        model_list: list[dict[str, Any]],
        *,
        master_key: str | None = MASTER_KEY,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.master_key = master_key
        general: dict[str, Any] = {"master_key": master_key} if master_key else {}
        self.config = {
            "model_list": model_list,
            "general_settings": general,
            # defaults otherwise: a priced deployment's cost comes in the last chunk's
            # usage.cost as it does for users (the cost headers read 0.0 on a stream)
            "litellm_settings": {"telemetry": False},
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"litellm-{self.port}.log"

    @property
    def url(self) -> str:
        """What zeke's api_base is set to."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiteLLMProxy:
        cfg = self.workdir / f"litellm-{self.port}.yaml"
        cfg.write_text(json.dumps(self.config, indent=2))
        env = {
            k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")
        }  # loopback only: no proxy in between
        env.update(
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LITELLM_TELEMETRY="False",
            NO_PROXY="*",
            HOME=str(self.workdir),  # anything it caches stays in the test's directory
        )
        args = [str(LITELLM), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        wait_for(
            lambda: self.proc.poll() is not None or self._alive(),
            timeout=STARTUP_S,
            interval=0.2,
            message=f"LiteLLM's proxy to answer on port {self.port} (log: {self.log})",
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"LiteLLM's proxy exited: {self.tail()}")
        return self

    def _alive(self) -> bool:
        try:
            r = httpx.get(f"{self.root}/health/liveliness", timeout=2, trust_env=False)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


PRICE_IN, PRICE_OUT = 0.000001, 0.000002
"""USD per token of the priced deployments (model_info in the proxy's config)."""


def group(name: str, model: str, deployment: Any, priced: bool = True) -> dict:
    """One model group of the proxy, served by the deployment double."""
    entry: dict = {
        "model_name": name,
        "litellm_params": {
            "model": f"openai/{model}",
            "api_base": f"{deployment.base}/v1",
            "api_key": "deployment-key-not-a-secret",
        },
    }
    if priced:
        entry["model_info"] = {
            "input_cost_per_token": PRICE_IN,
            "output_cost_per_token": PRICE_OUT,
        }
    return entry


def mocked(name: str, response: str) -> dict:
    """A group answered by LiteLLM itself (``mock_response``): text, or an error by name."""
    return {
        "model_name": name,
        "litellm_params": {"model": "openai/mock-model", "mock_response": response},
    }
