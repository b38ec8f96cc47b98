"""What the unit tests share: anyio on asyncio, and a project with one file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git project named "grim" holding ``a.py`` (the engine's tests read it)."""
    root = tmp_path / "grim"
    (root / ".git").mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n", encoding="utf-8")
    return root.resolve()
