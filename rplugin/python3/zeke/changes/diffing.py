"""Line diffs for proposed changes: hunks, all-or-nothing application, finding the original.

Everything here works on lists of lines without line terminators (Neovim buffer
lines). A hunk carries the exact old lines it replaces, so applying it to text
that has since changed is detected and refused instead of landing on the wrong
lines.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from zeke.errors import ZekeError

__all__ = [
    "Hunk",
    "LineMatches",
    "apply_hunks",
    "compute_hunks",
    "locate",
    "match_lines",
    "reindent",
    "unified_diff",
]


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


# Work units (roughly one Python loop step each) one diff may spend, on top of
# DIFF_WORK_PER_LINE for each line of input, before the regions still open are shown
# as whole replacements: keeps a diff near-linear in its size whatever the input.
DIFF_BUDGET = 500_000
DIFF_WORK_PER_LINE = 10
# Most one ambiguous region (no line unique on both sides) may spend on an exact diff.
_REGION_BUDGET = 200_000


@dataclass
class LineMatches:
    """Which lines two texts share, as increasing ``(old_index, new_index)`` pairs.

    ``work`` is what finding them cost (comparable across inputs; bounded by the budget).
    """

    pairs: list[tuple[int, int]]
    work: int


def match_lines(
    old: Sequence[Hashable], new: Sequence[Hashable], *, budget: int | None = None
) -> LineMatches:
    """The lines ``old`` and ``new`` keep, found in near-linear time.

    Patience style: common prefix and suffix first; then the lines that occur once
    on each side anchor the match (their longest increasing run), and the stretches
    between anchors are matched the same way. A stretch with no such line gets an
    exact shortest-edit diff (Myers) while it stays cheap; past ``budget`` (or the
    region's share) a stretch is left unmatched, i.e. shown as replaced whole. So a
    huge rewrite costs about its size, never its size squared. ``budget`` defaults
    to DIFF_BUDGET plus DIFF_WORK_PER_LINE per line.
    """
    ids: dict[Hashable, int] = {}
    a = [ids.setdefault(x, len(ids)) for x in old]
    b = [ids.setdefault(x, len(ids)) for x in new]
    if budget is None:
        budget = DIFF_BUDGET + DIFF_WORK_PER_LINE * (len(a) + len(b))
    work = len(a) + len(b)
    pairs: list[tuple[int, int]] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        kept = len(pairs)
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            pairs.append((alo, blo))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            pairs.append((ahi, bhi))
        work += 1 + len(pairs) - kept
        if alo == ahi or blo == bhi:
            continue
        # each pass below (counting, anchoring, the lower bound) reads the region once
        work += (ahi - alo) + (bhi - blo)
        if work > budget:
            continue
        anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
        if anchors:
            pairs.extend(anchors)
            prev_i, prev_j = alo - 1, blo - 1
            for i, j in [*anchors, (ahi, bhi)]:
                if i > prev_i + 1 or j > prev_j + 1:
                    stack.append((prev_i + 1, i, prev_j + 1, j))
                prev_i, prev_j = i, j
            continue
        sa, sb = a[alo:ahi], b[blo:bhi]
        limit = min(_REGION_BUDGET, budget - work)
        fewest = _fewest_edits(sa, sb)
        if fewest == len(sa) + len(sb) or fewest**2 > limit:
            continue  # nothing (or too little) in common: shown as one replacement
        found, spent = _myers(sa, sb, limit)
        work += spent
        if found is not None:
            pairs.extend((alo + i, blo + j) for i, j in found)
    pairs.sort()
    return LineMatches(pairs, work)


def _unique_anchors(
    a: list[int], alo: int, ahi: int, b: list[int], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Lines found exactly once in a[alo:ahi] and once in b[blo:bhi], longest in-order run."""
    count_a = Counter(a[alo:ahi])
    count_b = Counter(b[blo:bhi])
    where_b = {b[j]: j for j in range(blo, bhi) if count_b[b[j]] == 1}
    candidates = [
        (i, where_b[a[i]]) for i in range(alo, ahi) if count_a[a[i]] == 1 and a[i] in where_b
    ]
    if not candidates:
        return []
    # Longest increasing subsequence of the new-side positions (patience sorting).
    tails: list[int] = []  # candidate index ending the best run of each length
    tail_js: list[int] = []
    back = [-1] * len(candidates)
    for idx, (_, j) in enumerate(candidates):
        k = bisect.bisect_left(tail_js, j)
        if k:
            back[idx] = tails[k - 1]
        if k == len(tails):
            tails.append(idx)
            tail_js.append(j)
        else:
            tails[k] = idx
            tail_js[k] = j
    run: list[tuple[int, int]] = []
    idx = tails[-1]
    while idx != -1:
        run.append(candidates[idx])
        idx = back[idx]
    run.reverse()
    return run


def _fewest_edits(a: list[int], b: list[int]) -> int:
    """A lower bound of the edit distance: lines that cannot all be matched up.

    Myers' diff costs at least the square of the distance, so this says in one
    counting pass when it cannot finish within budget.
    """
    count_b = Counter(b)
    common = sum(min(c, count_b[x]) for x, c in Counter(a).items() if x in count_b)
    return len(a) + len(b) - 2 * common


def _myers(a: list[int], b: list[int], limit: int) -> tuple[list[tuple[int, int]] | None, int]:
    """Matched pairs of a shortest edit script from ``a`` to ``b`` (Myers' greedy
    algorithm), or None once it would cost more than ``limit`` work units."""
    n, m = len(a), len(b)
    offset = n + m + 1
    v = [0] * (2 * offset + 1)
    trace: list[list[int]] = []
    work = 0
    for d in range(n + m + 1):
        trace.append(v[offset - d - 1 : offset + d + 2])
        work += 2 * d + 1
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                x = v[offset + k + 1]
            else:
                x = v[offset + k - 1] + 1
            y = x - k
            start = x
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            work += x - start
            v[offset + k] = x
            if x >= n and y >= m:
                return _myers_path(trace, a, b, d, k), work
        if work > limit:
            return None, work
    raise AssertionError("unreachable: d = n + m always reaches the end")


def _myers_path(
    trace: list[list[int]], a: list[int], b: list[int], d_end: int, k_end: int
) -> list[tuple[int, int]]:
    """Walk the saved frontiers back from the end; collect the diagonal (equal) steps."""
    pairs: list[tuple[int, int]] = []
    x, y = len(a), len(b)
    k = k_end
    for d in range(d_end, 0, -1):
        frontier = trace[d]  # v as it was before step d, for k in [-d-1, d+1]

        def at(kk: int, frontier: list[int] = frontier, d: int = d) -> int:
            return frontier[kk + d + 1]

        if k == -d or (k != d and at(k - 1) < at(k + 1)):
            prev_k = k + 1
            prev_x = at(prev_k)
            mid_x = prev_x  # a step down: an insertion from b
        else:
            prev_k = k - 1
            prev_x = at(prev_k)
            mid_x = prev_x + 1  # a step right: a deletion from a
        mid_y = mid_x - k
        while x > mid_x and y > mid_y:
            x, y = x - 1, y - 1
            pairs.append((x, y))
        x, y, k = prev_x, prev_x - prev_k, prev_k
    while x > 0 and y > 0:
        x, y = x - 1, y - 1
        pairs.append((x, y))
    pairs.reverse()
    return pairs


def compute_hunks(
    original: Sequence[str],
    proposed: Sequence[str],
    *,
    key: Callable[[str], Hashable] | None = None,
) -> list[Hunk]:
    """The changes turning ``original`` into ``proposed``, one hunk per run of changed lines.

    Lines are compared exactly (a trailing-whitespace-only edit is a change), or by
    ``key`` when given (e.g. without a ``\\r`` line end): lines equal by key are left
    out of every hunk, so applying keeps them exactly as they are in the original.
    Near-linear in the size of the input (see :func:`match_lines`).
    """
    old, new = list(original), list(proposed)
    keys_old = old if key is None else [key(s) for s in old]
    keys_new = new if key is None else [key(s) for s in new]
    hunks: list[Hunk] = []
    prev_i = prev_j = -1
    for i, j in [*match_lines(keys_old, keys_new).pairs, (len(old), len(new))]:
        if i > prev_i + 1 or j > prev_j + 1:
            hunks.append(
                Hunk(
                    index=len(hunks),
                    old_start=prev_i + 1,
                    old_lines=tuple(old[prev_i + 1 : i]),
                    new_lines=tuple(new[prev_j + 1 : j]),
                    new_start=prev_j + 1,
                )
            )
        prev_i, prev_j = i, j
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
