"""The report's unit (`Check`) and what is done with a finished list of them.

A `Check` is one line of the health report. This module also renders the list
for a terminal, decides the exit verdict, and scrubs the router key out of any
text a server may have echoed back. Every other module of the health package
builds on this one, so it imports nothing of the package itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zeke.settings import Settings

__all__ = ["STATUSES", "Check", "counted", "format_text", "overall_ok", "scrub"]

STATUSES = ("ok", "warn", "error", "info")

_LABELS = {"ok": "OK", "warn": "WARN", "error": "ERROR", "info": "info"}


def counted(n: int, word: str) -> str:
    """``1 model``, ``4 models``: a count and its noun, singular when it is one."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass
class Check:
    """One line of the report. ``fix`` says what to do; set whenever status is not ok."""

    name: str
    status: str
    message: str
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")


def overall_ok(checks: list[Check]) -> bool:
    """Required things work: only those checks are ever given status error."""
    return not any(c.status == "error" for c in checks)


def scrub(checks: list[Check], settings: Settings, env: Mapping[str, str]) -> list[Check]:
    """Belt and braces: a server echoing the key back must not put it in the report."""
    secrets = [env[n] for n in settings.api_key_env if env.get(n) and len(env[n]) >= 4]
    if not secrets:
        return checks
    for c in checks:
        for s in secrets:
            c.message = c.message.replace(s, "[redacted]")
            if c.fix:
                c.fix = c.fix.replace(s, "[redacted]")
    return checks


def format_text(checks: list[Check], source: str) -> str:
    """The report for a terminal."""
    lines = [f"zeke doctor (config from {source})", ""]
    width = max(len(c.name) for c in checks) if checks else 0
    for c in checks:
        lines.append(f"  {_LABELS[c.status]:<5}  {c.name:<{width}}  {c.message}")
        if c.fix and c.status != "ok":
            lines.append(f"  {'':<5}  {'':<{width}}  → {c.fix}")
    errors = sum(c.status == "error" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    lines.append("")
    if errors:
        lines.append(f"{errors} problem(s) to fix before zeke can answer; {warns} warning(s).")
    elif warns:
        lines.append(f"zeke can answer; {warns} warning(s).")
    else:
        lines.append("All good.")
    return "\n".join(lines)
