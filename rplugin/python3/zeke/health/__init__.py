"""`python -m zeke doctor [--json]`: the health report behind `:checkhealth zeke`.

It checks the Python host and its dependencies, OMEN (``/ready`` then
``/v1/models``), Ollama (``/api/version``, ``/api/tags``, the aliases' local
models), Glyph (initialize + tools/list), the database and the API key (present
or not, never its value). Every check that is not ok says what to do.

The package, from the bottom up: `report` (the `Check` type, the text form, the
verdict, scrubbing), `config` (the settings from stdin or the environment),
`checks` (the local checks), `probes` (the concurrent network/disk probes),
`compose` (probes -> checks), and here `collect` and `main`.

Only the standard library and zeke's pure modules are imported at load time: the
doctor runs in a fresh process for every `:checkhealth`, and must still run, and
say what is missing, when httpx or anyio are not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict

from zeke.health.checks import check_api_key, check_database, check_packages, check_python
from zeke.health.compose import compose as compose_checks  # `compose` is the submodule
from zeke.health.config import load_config
from zeke.health.probes import Probes, crashed, run_probes
from zeke.health.report import Check, format_text, overall_ok, scrub
from zeke.settings import Settings

__all__ = [
    "Check",
    "check_api_key",
    "check_database",
    "check_packages",
    "check_python",
    "collect",
    "format_text",
    "load_config",
    "main",
    "overall_ok",
]

USAGE = "usage: python -m zeke doctor [--json]"


def collect(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    cwd: str | None = None,
    problems: list[Check] | None = None,
) -> list[Check]:
    """Every check, in report order."""
    env = os.environ if env is None else env
    cwd = cwd or os.getcwd()
    checks = [check_python(), check_packages(), *(problems or [])]
    try:
        import anyio
        import httpx  # noqa: F401  (imported only to know the probes can run)
    except Exception:
        skipped = "not checked: the doctor needs httpx and anyio (see Python packages)"
        checks += [
            Check("OMEN", "info", skipped),
            Check("Ollama", "info", skipped),
            Check("Glyph", "info", skipped),
            _safe_database(settings),
        ]
    else:
        probes: Probes = anyio.run(run_probes, settings, env, cwd)
        checks += compose_checks(settings, probes, env)
    checks.append(check_api_key(settings, env))
    return scrub(checks, settings, env)


def _safe_database(settings: Settings) -> Check:
    """The database check without the probes' machinery (no anyio to run them on)."""
    try:
        return check_database(settings)
    except Exception as e:
        return crashed("database", e)


def main(args: list[str]) -> int:
    """Entry point of `python -m zeke doctor [--json]`; returns the exit code."""
    as_json = False
    for a in args:
        if a == "--json":
            as_json = True
        elif a in ("-h", "--help"):
            print(
                f"{USAGE}\n\n"
                "Checks what zeke.nvim needs. Reads the config as a JSON "
                "object on stdin when stdin is not a terminal, else from ZEKE_API_BASE, "
                "OLLAMA_HOST and the defaults. Exit code 1 when something required fails."
            )
            return 0
        else:
            print(f"zeke doctor: unknown argument {a!r} ({USAGE})", file=sys.stderr)
            return 2
    settings, source, problems = load_config(sys.stdin, os.environ)
    checks = collect(settings, os.environ, problems=problems)
    ok = overall_ok(checks)
    if as_json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
    else:
        with contextlib.suppress(BrokenPipeError):
            print(format_text(checks, source))
    return 0 if ok else 1
