"""The local checks: the interpreter, the host's packages, the API key, the database.

Each is a small function returning one `Check`, with no network involved, so
they are tested directly. `check_packages` takes its importer and version
lookup as arguments: a test can simulate a broken install without one.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from zeke.health.report import Check
from zeke.settings import Settings

__all__ = [
    "DB_TIMEOUT",
    "PLUGIN_ROOT",
    "REQUIRED_PACKAGES",
    "check_api_key",
    "check_database",
    "check_packages",
    "check_python",
]

DB_TIMEOUT = 2.0

# Distribution / import name -> minimum version (pyproject.toml's dependencies).
REQUIRED_PACKAGES: dict[str, tuple[int, ...]] = {
    "pynvim": (0, 5),
    "httpx": (0, 27),
    "anyio": (4,),
    "msgpack": (1,),
}

# <root>/rplugin/python3/zeke/health/checks.py: the plugin's root, where `make install` runs.
PLUGIN_ROOT = Path(__file__).resolve().parents[4]


def check_python() -> Check:
    """The interpreter running the doctor is the one running the host: new enough?"""
    v = sys.version_info
    where = sys.executable or "python"
    text = f"Python {v.major}.{v.minor}.{v.micro} at {where}"
    if (v.major, v.minor) < (3, 10):
        return Check(
            "Python",
            "error",
            f"{text}: zeke needs Python 3.10 or newer",
            "Point the config key 'python' at Python 3.10+, or re-run `make install "
            f"PYTHON=python3.12` in {PLUGIN_ROOT}.",
        )
    return Check("Python", "ok", text)


def check_packages(
    importer: Callable[[str], Any] = importlib.import_module,
    version_of: Callable[[str], str] = metadata.version,
) -> Check:
    """The host's dependencies: importable, and recent enough."""
    found: list[str] = []
    missing: list[str] = []
    old: list[str] = []
    for name, minimum in REQUIRED_PACKAGES.items():
        try:
            importer(name)
        except Exception as e:  # a broken install raises more than ImportError
            missing.append(f"{name} ({type(e).__name__}: {e})")
            continue
        try:
            version = version_of(name)
        except Exception:
            version = "?"
        found.append(f"{name} {version}")
        parsed = _version_tuple(version)
        if parsed is not None and parsed < minimum:
            old.append(f"{name} {version} (needs >= {'.'.join(map(str, minimum))})")
    if missing or old:
        parts = []
        if missing:
            parts.append("missing: " + ", ".join(missing))
        if old:
            parts.append("too old: " + ", ".join(old))
        return Check(
            "Python packages",
            "error",
            "; ".join(parts) + f" (interpreter {sys.executable})",
            _install_advice(),
        )
    return Check("Python packages", "ok", ", ".join(found))


def _install_advice() -> str:
    """`make install` in a checkout (it builds the host's venv), else plain pip."""
    if (PLUGIN_ROOT / "Makefile").exists():
        return (
            f"Run `make install` in {PLUGIN_ROOT} (or set the config key 'python' to an "
            "interpreter that has pynvim, httpx, anyio and msgpack)."
        )
    return f"Run `{sys.executable} -m pip install pynvim httpx anyio msgpack`."


def _version_tuple(text: str) -> tuple[int, ...] | None:
    """The leading numeric release of a version string ("0.27.2rc1" -> (0, 27, 2))."""
    out: list[int] = []
    for part in text.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
        if digits != part:
            break
    return tuple(out) or None


def check_api_key(settings: Settings, env: Mapping[str, str]) -> Check:
    """Which variable holds the router's key. The value is never read into the report."""
    names = settings.api_key_env
    present = [n for n in names if env.get(n)]
    if present:
        msg = f"{present[0]} is set (value not shown)"
        if len(present) > 1:
            msg += f"; {', '.join(present[1:])} also set, {present[0]} is used"
        return Check("API key", "ok", msg)
    return Check(
        "API key",
        "info",
        f"none of {', '.join(names) or '(no variables configured)'} is set: requests go "
        "without a key (fine when OMEN runs without auth)",
        f"If OMEN needs a key, export {names[0] if names else 'ZEKE_API_KEY'} before "
        "starting Neovim.",
    )


def check_database(settings: Settings) -> Check:
    """Open (creating at db_path if needed) and migrate the cache; is it writable?"""
    from zeke.store import cache as cache_mod  # sqlite3 only: cheap, and only needed here

    path = Path(settings.db_path).expanduser()
    existed = path.exists()
    cache = cache_mod.Cache(path, busy_timeout_ms=int(DB_TIMEOUT * 500))
    try:
        version = cache.schema_version()
        notices = cache.pop_notices()
    finally:
        cache.close()
    fix_where = (
        f"Make {path.parent} writable, or set the config key 'db_path' to a writable file; "
        "zeke works without stats meanwhile."
    )
    if version <= 0:
        why = "; ".join(notices) or "it could not be opened"
        return Check("Database", "warn", f"{path}: unusable, stats are off ({why})", fix_where)
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    if not writable:
        return Check(
            "Database",
            "warn",
            f"{path} (schema version {version}) is read-only: stats are not saved",
            fix_where,
        )
    msg = f"{path} (schema version {version}, writable)"
    if not existed:
        msg += ", created now"
    if notices:
        msg += "; " + "; ".join(notices)
    return Check("Database", "ok", msg)
