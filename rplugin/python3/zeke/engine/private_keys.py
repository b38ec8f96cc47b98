"""PEM private keys in text: find their bodies and hide them, whole or cut off.

A selection or a context window can begin or end in the middle of a key, so a
marker's partner may lie outside the text: the base64 body next to a lone marker
is hidden too. Code that only mentions the markers (a PEM parser) has no base64
body and is left alone. Used by ``redact``; pure, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_PEM_MARKER_RE = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
# One line of a key body, possibly inside a string literal in code.
_PEM_BODY_RE = re.compile(r"""["'`]?[A-Za-z0-9+/=]{4,}(?:\\n)?["'`]?[ \t]*[+,;\\]?""")
_PEM_HEADER_RE = re.compile(r"[A-Za-z][A-Za-z\-]{1,30}: [^\n]*")
_B64_RUN_RE = re.compile(r"[A-Za-z0-9+/]{16}")


def hide(text: str, *, inside: bool, mark: str) -> tuple[str, int]:
    """``text`` with every private key body replaced by ``mark`` (one per line), and
    how many keys were hidden. ``inside``: the text begins inside a key block."""
    if not inside and "PRIVATE KEY" not in text:
        return text, 0
    spans = _private_key_spans(text, inside)
    if not spans:
        return text, 0
    out: list[str] = []
    done = 0
    for s, e in spans:
        out.append(text[done:s])
        # One marker per line keeps line numbers (and indentation) stable, so a
        # prompt that says "line 12" still means line 12.
        pieces = text[s:e].split("\n")
        lines = [mark] + [p[: len(p) - len(p.lstrip())] + mark for p in pieces[1:]]
        out.append("\n".join(lines))
        done = e
    out.append(text[done:])
    return "".join(out), len(spans)


def starts_inside_private_key(lines: Sequence[str], index: int, lookback: int = 200) -> bool:
    """True when ``lines[index]`` lies inside a PEM private key block, judged from
    the nearest marker line above it (at most ``lookback`` lines up).

    A caller that redacts slices of a buffer (selection, context) uses it so a
    slice that begins in the middle of a key is still hidden.
    """
    lo = max(0, index - lookback)
    for i in range(min(index, len(lines)) - 1, lo - 1, -1):
        line = lines[i]
        if "PRIVATE KEY" not in line:
            continue
        markers = list(_PEM_MARKER_RE.finditer(line))
        if markers:
            return markers[-1].group(1) == "BEGIN"
    return False


# ----------------------------------------------------------------------- helpers


def _body_kind(line: str) -> int:
    """0: not key body, 1: blank/header/short body line, 2: a real base64 line."""
    s = line.strip()
    if not s:
        return 1
    if _PEM_BODY_RE.fullmatch(s):
        return 2 if _B64_RUN_RE.search(s) else 1
    return 1 if _PEM_HEADER_RE.fullmatch(s) else 0


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _cover_forward(text: str, pos: int) -> tuple[int, bool]:
    """From line start ``pos``, cover key-body lines up to and including an END
    marker.  Returns (end offset, saw a real base64 line); trailing blank lines
    are not covered."""
    edge, strong, cur, n = pos, False, pos, len(text)
    while cur < n:
        le = text.find("\n", cur)
        le = n if le < 0 else le
        line = text[cur:le]
        end = _PEM_MARKER_RE.search(line)
        if end is not None and end.group(1) == "END":
            head = line[: end.start()]
            if head.strip() and _B64_RUN_RE.search(head):
                strong = True
            return (cur + end.end() if strong else edge), strong
        kind = _body_kind(line)
        if kind == 0 or end is not None:
            break
        if line.strip():
            edge = le
            strong = strong or kind == 2
        cur = le + 1
    return edge, strong


def _cover_backward(text: str, pos: int) -> tuple[int, bool]:
    """Cover the key-body lines just above line start ``pos``: (start, strong)."""
    edge, strong, cur = pos, False, pos
    while cur > 0:
        ls = text.rfind("\n", 0, cur - 1) + 1
        line = text[ls : cur - 1]
        kind = _body_kind(line)
        if kind == 0:
            break
        if line.strip():
            edge = ls + _indent(line)
            strong = strong or kind == 2
        cur = ls
    return edge, strong


def _private_key_spans(text: str, inside: bool) -> list[tuple[int, int]]:
    """Spans to hide: BEGIN..END pairs, and the key body next to a marker whose
    partner lies outside ``text``.  Code that merely mentions the markers (a
    PEM parser) has no base64 body and is left alone."""
    spans: list[tuple[int, int]] = []
    floor = 0
    if inside:
        end, strong = _cover_forward(text, 0)
        if end > 0:
            spans.append((0, end))
            floor = end
    open_at: int | None = None
    open_end = 0
    for m in _PEM_MARKER_RE.finditer(text, floor):
        if m.group(1) == "BEGIN":
            if open_at is None:
                open_at, open_end = m.start(), m.end()
        elif open_at is not None:
            if _B64_RUN_RE.search(text, open_at, m.start()):
                spans.append((open_at, m.end()))
                floor = m.end()
            open_at = None
        else:
            # END without BEGIN: the text starts inside a key.
            ls = text.rfind("\n", 0, m.start()) + 1
            head = text[ls : m.start()]
            start, strong = _cover_backward(text, ls)
            if head.strip() and _B64_RUN_RE.search(head):
                strong = True
                start = start if start < ls else ls + _indent(head)
            if strong and start >= floor:
                spans.append((start, m.end()))
                floor = m.end()
    if open_at is not None:
        # BEGIN whose END is beyond the text: hide the body that follows.
        le = text.find("\n", open_end)
        le = len(text) if le < 0 else le
        rest = text[open_end:le]
        end, strong = _cover_forward(text, le + 1) if le < len(text) else (le, False)
        if _B64_RUN_RE.search(rest):
            strong, end = True, max(end, le)
        if strong:
            spans.append((open_at, end))
    return spans
