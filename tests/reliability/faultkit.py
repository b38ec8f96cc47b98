"""Helpers for the reliability suite (faults, soak, security); fixtures are in conftest.py."""

from __future__ import annotations

import functools

import kit

# Most reliability tests exercise the host, not Neovim's API: one build is enough
# and keeps the suite quick (nvimharness.one_build, the stable release).

SOURCE = """\
def total(xs):
    s = 0
    for x in xs:
        s += x
    return s


def other():
    return 1
"""

start = functools.partial(kit.start, text=SOURCE)
"""zeke against the fake OMEN, editing calc.py (SOURCE) in the project."""


def frame(text: str) -> bytes:
    """One complete SSE content frame."""
    return b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % text.encode()
