"""A characterwise selection (`v`): the exact span of text it covers, and the lines
a change of exactly that span makes. Pure: no Neovim, no I/O.

Columns are 0-based UTF-8 byte offsets, as Neovim counts them, and the end is
exclusive. A selection that takes a line's newline (`v$`, or `v` on an empty line)
ends at column 0 of the next line: the lines a span touches are then the next one
too (its text is all after the span), and replacing the span joins them, as
deleting it in Neovim would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start_line: int  # 1-based
    start_col: int  # 0-based byte on start_line
    end_line: int  # 1-based
    end_col: int  # 0-based byte on end_line, exclusive

    def ordered(self) -> Span:
        """The same span from its first position to its last (a selection made
        upwards or leftwards has them the other way round)."""
        if (self.end_line, self.end_col) < (self.start_line, self.start_col):
            return Span(self.end_line, self.end_col, self.start_line, self.start_col)
        return self


@dataclass(frozen=True)
class Cut:
    """The lines a span touches, cut in three: the first line's text before the span,
    the span's text (its lines joined with ``\\n``), the last line's text after it."""

    before: str
    text: str
    after: str

    @property
    def lines(self) -> list[str]:
        """The whole lines the span touches, as they are."""
        return (self.before + self.text + self.after).split("\n")


def _encode(line: str) -> bytes:
    # surrogateescape: a line that is not valid UTF-8 keeps its bytes both ways
    return line.encode("utf-8", "surrogateescape")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _boundary(data: bytes, col: int, *, forward: bool) -> int:
    """``col`` clamped to the line and moved off the middle of a character (forward:
    to its end, so a column inside the last character keeps all of it)."""
    i = min(max(col, 0), len(data))
    if forward:
        while 0 < i < len(data) and (data[i] & 0xC0) == 0x80:
            i += 1
    else:
        while 0 < i < len(data) and (data[i] & 0xC0) == 0x80:
            i -= 1
    return i


def cut(lines: Sequence[str], span: Span, first: int = 1) -> Cut:
    """Cut ``span`` out of ``lines`` (``lines[0]`` is line ``first``). Columns past a
    line's end stop at its end (the newline is taken only by ending on the next line).
    Raises ValueError when the span is not within ``lines``."""
    span = span.ordered()
    si, ei = span.start_line - first, span.end_line - first
    if si < 0 or ei >= len(lines):
        raise ValueError(f"span {span} is outside lines {first}-{first + len(lines) - 1}")
    head, tail = _encode(lines[si]), _encode(lines[ei])
    s = _boundary(head, span.start_col, forward=False)
    e = _boundary(tail, span.end_col, forward=True)
    if si == ei:
        e = max(e, s)
        return Cut(_decode(head[:s]), _decode(head[s:e]), _decode(head[e:]))
    middle = [str(x) for x in lines[si + 1 : ei]]
    text = "\n".join([_decode(head[s:]), *middle, _decode(tail[:e])])
    return Cut(_decode(head[:s]), text, _decode(tail[e:]))


def replace(c: Cut, replacement: str) -> list[str]:
    """The lines that stand where ``c.lines`` stood once the span's text is
    ``replacement``: the text before and after the span is kept as it is."""
    return (c.before + replacement + c.after).split("\n")


def fit(c: Cut, code: str) -> str:
    """A model's code as the span's replacement: a code block has no final newline,
    so a span that took its last line's newline keeps it (else the next line would
    join), and one that did not take it gets none (else a line would split)."""
    if code and c.text.endswith("\n") and not code.endswith("\n"):
        return code + "\n"
    if code.endswith("\n") and not c.text.endswith("\n"):
        return code[:-1]
    return code
