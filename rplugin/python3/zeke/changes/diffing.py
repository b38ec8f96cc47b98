"""Line diffs for proposed changes: hunks, all-or-nothing application, finding the original.

Everything here works on lists of lines without line terminators (Neovim buffer
lines). A hunk carries the exact old lines it replaces, so applying it to text
that has since changed is detected and refused instead of landing on the wrong
lines.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from zeke.errors import ZekeError

__all__ = ["Hunk", "apply_hunks", "compute_hunks", "locate", "reindent", "unified_diff"]


@dataclass(frozen=True)
class Hunk:
    """One contiguous change: ``old_lines`` at ``old_start`` (0-based) become ``new_lines``.

    ``new_start`` is where the new lines sit in the fully proposed text; it only
    feeds the header and defaults to ``old_start`` when unknown.
    """

    index: int
    old_start: int
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    new_start: int | None = None

    def header(self) -> str:
        """Unified-diff style ``@@ -a,b +c,d @@`` (1-based; an empty side names the line before)."""
        new_start = self.old_start if self.new_start is None else self.new_start
        a, b = _range(self.old_start, len(self.old_lines))
        c, d = _range(new_start, len(self.new_lines))
        return f"@@ -{a},{b} +{c},{d} @@"


def _range(start: int, count: int) -> tuple[int, int]:
    # GNU convention: a zero-length range is numbered by the line it follows.
    return (start + 1 if count else start), count


def compute_hunks(original: Sequence[str], proposed: Sequence[str]) -> list[Hunk]:
    """The changes turning ``original`` into ``proposed``, one hunk per run of changed lines.

    Lines are compared exactly, so a trailing-whitespace-only edit is a change.
    """
    old, new = list(original), list(proposed)
    # autojunk off: with it, frequent lines (blank, "}") in long files get ignored as
    # anchors and the hunks balloon.
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    hunks: list[Hunk] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        hunks.append(
            Hunk(
                index=len(hunks),
                old_start=i1,
                old_lines=tuple(old[i1:i2]),
                new_lines=tuple(new[j1:j2]),
                new_start=j1,
            )
        )
    return hunks


def _describe(h: Hunk) -> str:
    return f"hunk {h.index + 1} ({h.header()})"


def apply_hunks(
    original: Sequence[str], hunks: Sequence[Hunk], accepted: Iterable[int]
) -> list[str]:
    """``original`` with exactly the accepted hunks (by index) applied.

    Every accepted hunk is checked against ``original`` before anything is built;
    if one no longer matches (or two overlap), ZekeError(kind="refused") is raised
    and nothing is applied.
    """
    old = list(original)
    by_index: dict[int, Hunk] = {}
    for h in hunks:
        if h.index in by_index:
            raise ZekeError(
                f"The proposed change lists hunk {h.index + 1} twice; nothing was changed.",
                kind="internal",
            )
        by_index[h.index] = h

    chosen: list[Hunk] = []
    for idx in sorted(set(accepted)):
        h = by_index.get(idx)
        if h is None:
            raise ZekeError(
                f"There is no hunk {idx + 1} in this change (it has {len(by_index)}); "
                "nothing was changed.",
                kind="refused",
            )
        chosen.append(h)

    # Validate everything first so a failure leaves no half-applied result behind.
    chosen.sort(key=lambda h: (h.old_start, len(h.old_lines)))
    end_of_previous = 0
    previous: Hunk | None = None
    for h in chosen:
        stop = h.old_start + len(h.old_lines)
        if h.old_start < 0 or stop > len(old) or tuple(old[h.old_start : stop]) != h.old_lines:
            raise ZekeError(
                f"The text under {_describe(h)} has changed since the diff was made; "
                "nothing was changed. Ask again for a fresh diff.",
                kind="refused",
            )
        if previous is not None and (
            h.old_start < end_of_previous
            or (h.old_start == end_of_previous == previous.old_start and not h.old_lines)
        ):
            # Overlapping regions (or two insertions at one spot) have no single meaning.
            raise ZekeError(
                f"{_describe(previous).capitalize()} and {_describe(h)} overlap; "
                "nothing was changed.",
                kind="refused",
            )
        end_of_previous = stop
        previous = h

    result: list[str] = []
    cursor = 0
    for h in chosen:
        result.extend(old[cursor : h.old_start])
        result.extend(h.new_lines)
        cursor = h.old_start + len(h.old_lines)
    result.extend(old[cursor:])
    return result


def _find(hay: list[str], needle: list[str], hint: int | None) -> int | None:
    """Start of the ``needle`` occurrence in ``hay`` nearest ``hint`` (first one without a hint)."""
    m = len(needle)
    if m > len(hay):
        return None
    # Anchor on the needle line that is rarest in the haystack: few candidates to verify,
    # and a line the haystack lacks settles "not here" after one counting pass.
    counts = Counter(hay)
    offset, anchor = min(enumerate(needle), key=lambda p: (counts.get(p[1], 0), p[0]))
    if counts.get(anchor, 0) == 0:
        return None
    starts = [
        i - offset
        for i, line in enumerate(hay)
        if line == anchor and 0 <= i - offset <= len(hay) - m
    ]
    if hint is not None:
        starts.sort(key=lambda s: (abs(s - hint), s))
    for s in starts:
        if hay[s : s + m] == needle:
            return s
    return None


def locate(haystack: Sequence[str], needle: Sequence[str], hint: int | None = None) -> int | None:
    """Where ``needle`` (the original selection) now starts in ``haystack``, or None.

    An exact match wins; failing that, a match ignoring trailing whitespace. Among
    several matches of the same kind, the one nearest ``hint`` (the 0-based row the
    selection used to start at; ties go up), or the first when there is no hint.
    """
    hay, ndl = list(haystack), list(needle)
    if not ndl:
        # An empty selection sits anywhere; keep it where it was.
        return min(max(hint or 0, 0), len(hay))
    found = _find(hay, ndl, hint)
    if found is None:
        found = _find([s.rstrip() for s in hay], [s.rstrip() for s in ndl], hint)
    return found


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _common_indent(lines: Sequence[str]) -> str:
    indents = [_leading_ws(s) for s in lines if s.strip()]
    if not indents:
        return ""
    first, last = min(indents), max(indents)
    # The common prefix of the lexicographic extremes is the common prefix of all.
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]


def reindent(original: Sequence[str], proposed: Sequence[str]) -> list[str]:
    """Give ``proposed`` back the selection's common indentation if the model dropped it all.

    Only when the original's non-blank lines share an indent and the proposed
    lines share none; blank lines stay blank; the original's indent string
    (tabs or spaces) is used as is. Otherwise ``proposed`` is returned unchanged.
    """
    indent = _common_indent(original)
    if not indent or _common_indent(proposed) or not any(s.strip() for s in proposed):
        return list(proposed)
    return [indent + s if s.strip() else s for s in proposed]


def unified_diff(
    original: Sequence[str], proposed: Sequence[str], *, path: str = "", context: int = 3
) -> str:
    """A unified diff for display or logs; empty when nothing changed."""
    lines = difflib.unified_diff(
        list(original),
        list(proposed),
        fromfile=f"a/{path}" if path else "original",
        tofile=f"b/{path}" if path else "proposed",
        n=context,
        lineterm="",
    )
    text = "\n".join(lines)
    return text + "\n" if text else ""
