"""Fixtures for the reliability suite; helpers are in faultkit.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes import omen as fo


@pytest.fixture
def omen() -> Iterator[fo.FakeOmen]:
    # Request this fixture BEFORE make_nvim: teardown runs in reverse, so Neovim
    # (and its host, which holds pooled connections) goes first.
    server = fo.FakeOmen("designed").start()
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "grim"
    root.mkdir()
    (root / ".git").mkdir()
    return root
