"""Fixtures of the upstream tier (``make test-upstreams``): real LiteLLM, real MCP servers.

The proxy is started once per module (it takes seconds to import); the deployment
behind it is the llama.cpp double (it serves whatever model name it is asked, as
llama.cpp's server does), scripted per test and emptied between tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes.flavours import FakeLlamaCpp
from realprograms import LITELLM, LiteLLMProxy, group, mocked, require

LITELLM_INSTALL = "build it with: bash scripts/upstreams (make test-upstreams does)"


@pytest.fixture(scope="module")
def litellm_bin() -> Path:
    return require(LITELLM, LITELLM_INSTALL)


@pytest.fixture(scope="module")
def deployment() -> Iterator[FakeLlamaCpp]:
    server = FakeLlamaCpp().start()
    yield server
    server.stop()


@pytest.fixture
def backend(deployment: FakeLlamaCpp) -> Iterator[FakeLlamaCpp]:
    """The deployment, with no leftovers from the test before."""
    with deployment._lock:
        deployment._queue.clear()
        deployment.requests.clear()
    yield deployment


@pytest.fixture(scope="module")
def litellm(
    litellm_bin: Path, deployment: FakeLlamaCpp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiteLLMProxy]:
    """A keyed proxy: code-fast and reason-deep priced, code-smart unpriced, limited 429s."""
    models = [
        group("code-fast", "deepseek-coder-v2-lite", deployment),
        group("reason-deep", "qwen3-reasoner-8b", deployment),
        group("code-smart", "gpt-5-codex-2025-09", deployment, priced=False),
        mocked("limited", "litellm.RateLimitError"),
    ]
    proxy = LiteLLMProxy(tmp_path_factory.mktemp("litellm"), models).start()
    yield proxy
    proxy.stop()
