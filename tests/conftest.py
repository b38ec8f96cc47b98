from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import ollama as fl
from fakes import omen as fo
from nvimharness import BUILDS, NvimSession, nvim_binaries, nvim_path

NVIMS = nvim_binaries()
UPSTREAMS = Path(__file__).resolve().parent / "upstreams"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--upstreams",
        action="store_true",
        help="run the tier against real programs (tests/upstreams; make test-upstreams)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/upstreams runs only when asked for: it builds and starts real programs."""
    if collection_path == UPSTREAMS and not config.getoption("--upstreams"):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CI") and len(NVIMS) < 2:
        raise pytest.UsageError(f"CI needs both Neovim builds; found {sorted(NVIMS)}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Which Neovim builds a test runs on, chosen one way: every build, unless the
    module sets ``DEFAULT_BUILDS`` (e.g. ``[STABLE]``) or the test itself is marked
    ``@every_build`` / ``@one_build`` (from nvimharness)."""
    if "nvim_bin" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if "nvim_bin" in (names.split(",") if isinstance(names, str) else names):
            return  # the test chose its builds
    builds = getattr(metafunc.module, "DEFAULT_BUILDS", BUILDS)
    metafunc.parametrize("nvim_bin", builds, indirect=True)


@pytest.fixture
def nvim_bin(request: pytest.FixtureRequest) -> str:
    return nvim_path(request.param)


@pytest.fixture
def make_nvim(nvim_bin: str, tmp_path: Path) -> Iterator:
    sessions: list[NvimSession] = []

    def make(
        config: dict | None = None, env: dict | None = None, name: str = "home"
    ) -> NvimSession:
        s = NvimSession(nvim_bin, tmp_path / f"{name}{len(sessions)}", config, env)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.close()


# The fakes. Request them BEFORE make_nvim in a test's arguments: teardown runs in
# reverse, so Neovim (and its host, holding pooled connections) goes first.


@pytest.fixture
def omen() -> Iterator[fo.FakeOmen]:
    """OMEN as the seeds design it: resolves aliases, sends X-OMEN-* facts."""
    server = fo.FakeOmen("designed").start()
    yield server
    server.stop()


@pytest.fixture
def today_omen() -> Iterator[fo.FakeOmen]:
    """OMEN as it is today: no routing facts, 500 on "auto"."""
    server = fo.FakeOmen("today").start()
    yield server
    server.stop()


@pytest.fixture
def ollama() -> Iterator[fl.FakeOllama]:
    server = fl.FakeOllama().start()
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git project named "grim" (its name is the git root's)."""
    root = tmp_path / "grim"
    root.mkdir()
    (root / ".git").mkdir()
    return root.resolve()
