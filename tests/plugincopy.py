"""A copy of the plugin as a user's checkout, for tests that run `make install` or
scripts/demo: whatever those write lands in the copy, never in this repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SKIP = {".venv", ".cache", ".git", "__pycache__", "build", ".pytest_cache", ".ruff_cache"}


def _tracked_files() -> list[str] | None:
    if shutil.which("git") is None:
        return None
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    return [f for f in proc.stdout.decode().split("\0") if f]


def copy_plugin(dest: Path, *, git: bool = True) -> Path:
    """The plugin's files in ``dest`` (its tracked files when this is a git checkout),
    (and the new ones not yet committed), with no .venv, .cache or doc/tags; a git repository itself when ``git``, like
    a clone."""
    files = _tracked_files()
    if files is None:
        shutil.copytree(
            ROOT, dest, ignore=lambda d, names: [n for n in names if n in _SKIP or n == "tags"]
        )
    else:
        for rel in files:
            src = ROOT / rel
            if not src.is_file():  # deleted in the work tree, not yet committed
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    if git and shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(dest)], check=True)
    return dest


def link_venv(copy: Path) -> None:
    """The copy runs its host on this checkout's venv (nothing is installed)."""
    (copy / ".venv").symlink_to((ROOT / ".venv").resolve(), target_is_directory=True)
