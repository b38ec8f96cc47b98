"""Property tests: hunks never land on the wrong lines and are never half-applied."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeke.changes import proposal as changes
from zeke.changes.diffing import Hunk, apply_hunks, compute_hunks, locate, match_lines
from zeke.changes.proposal import without_cr
from zeke.errors import ZekeError

# A small alphabet so that repeats, near-repeats (trailing blanks) and moves are common.
LINE = st.sampled_from(["a", "b", "c", "a ", "b\t", "", "  a", "}"])
LINES = st.lists(LINE, max_size=14)
FAST = settings(max_examples=200, deadline=None)


def _reference_apply(original: Sequence[str], hunks: Sequence[Hunk], chosen: set[int]) -> list[str]:
    """Independent implementation: splice from the bottom up so offsets stay valid."""
    out = list(original)
    for h in sorted((h for h in hunks if h.index in chosen), key=lambda h: -h.old_start):
        out[h.old_start : h.old_start + len(h.old_lines)] = list(h.new_lines)
    return out


def _matches(original: Sequence[str], h: Hunk) -> bool:
    stop = h.old_start + len(h.old_lines)
    return stop <= len(original) and tuple(original[h.old_start : stop]) == h.old_lines


@FAST
@given(LINES, LINES)
def test_hunks_describe_the_change(original: list[str], proposed: list[str]) -> None:
    hunks = compute_hunks(original, proposed)
    assert [h.index for h in hunks] == list(range(len(hunks)))
    for h in hunks:
        assert h.old_lines or h.new_lines
        assert _matches(original, h)
    # Adjacent changes are grouped: an unchanged line separates consecutive hunks.
    for prev, nxt in itertools.pairwise(hunks):
        assert nxt.old_start > prev.old_start + len(prev.old_lines)
    assert apply_hunks(original, hunks, range(len(hunks))) == proposed
    assert apply_hunks(original, hunks, []) == original
    assert (hunks == []) == (original == proposed)


@FAST
@given(LINES, LINES, st.data())
def test_any_subset_is_a_clean_mix(original: list[str], proposed: list[str], data) -> None:
    hunks = compute_hunks(original, proposed)
    chosen = set(
        data.draw(st.sets(st.sampled_from(range(len(hunks)))) if hunks else st.just(set()))
    )
    result = apply_hunks(original, hunks, chosen)
    assert result == _reference_apply(original, hunks, chosen)

    # Walk the result: outside hunks it is the original; each hunk region is old or new.
    pos_o, pos_r = 0, 0
    for h in hunks:
        gap = h.old_start - pos_o
        assert result[pos_r : pos_r + gap] == original[pos_o : h.old_start]
        pos_r += gap
        region = h.new_lines if h.index in chosen else h.old_lines
        assert tuple(result[pos_r : pos_r + len(region)]) == region
        pos_r += len(region)
        pos_o = h.old_start + len(h.old_lines)
    assert result[pos_r:] == original[pos_o:]

    # Accepting the rest afterwards still arrives at the proposal.
    rest = compute_hunks(result, proposed)
    assert apply_hunks(result, rest, range(len(rest))) == proposed


_MUTATION = st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.integers(0, 20), LINE)


@FAST
@given(LINES, LINES, st.lists(_MUTATION, min_size=1, max_size=3), st.data())
def test_mutated_original_applies_whole_or_not_at_all(
    original: list[str], proposed: list[str], mutations, data
) -> None:
    hunks = compute_hunks(original, proposed)
    mutated = list(original)
    for op, at, line in mutations:
        at = at % (len(mutated) + 1)
        if op == "insert":
            mutated.insert(at, line)
        elif mutated and at < len(mutated):
            if op == "delete":
                del mutated[at]
            else:
                mutated[at] = line
    chosen = set(
        data.draw(st.sets(st.sampled_from(range(len(hunks)))) if hunks else st.just(set()))
    )
    all_fit = all(_matches(mutated, h) for h in hunks if h.index in chosen)
    if all_fit:
        assert apply_hunks(mutated, hunks, chosen) == _reference_apply(mutated, hunks, chosen)
    else:
        with pytest.raises(ZekeError) as err:
            apply_hunks(mutated, hunks, chosen)
        assert err.value.kind == "refused"
        assert "hunk " in err.value.message


def _occurrences(hay: list[str], needle: list[str]) -> list[int]:
    return [i for i in range(len(hay) - len(needle) + 1) if hay[i : i + len(needle)] == needle]


def _nearest(starts: list[int], hint: int | None) -> int:
    if hint is None:
        return starts[0]
    return min(starts, key=lambda s: (abs(s - hint), s))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(LINE, max_size=30),
    st.integers(0, 30),
    st.integers(1, 4),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 35)),
    st.lists(LINE, min_size=1, max_size=4),
)
def test_locate_finds_the_nearest_real_occurrence(
    hay: list[str], at: int, size: int, from_hay: bool, hint: int | None, random_needle: list[str]
) -> None:
    needle = hay[at : at + size] if from_hay and hay[at : at + size] else random_needle
    got = locate(hay, needle, hint)

    exact = _occurrences(hay, needle)
    loose = _occurrences([s.rstrip() for s in hay], [s.rstrip() for s in needle])
    if exact:
        assert got == _nearest(exact, hint)
    elif loose:
        assert got == _nearest(loose, hint)
    else:
        assert got is None
    if got is not None:
        window = hay[got : got + len(needle)]
        assert [s.rstrip() for s in window] == [s.rstrip() for s in needle]


# Longer texts mixing lines unique to one place with repeated ones: the anchoring
# (lines unique on both sides), the exact diff between anchors and the budget all run.
_MIXED_LINE = st.one_of(LINE, st.integers(0, 60).map(lambda k: f"line {k}"))
_MIXED = st.lists(_MIXED_LINE, max_size=120)


@settings(max_examples=300, deadline=None)
@given(_MIXED, _MIXED)
def test_long_texts_diff_to_the_proposal(original: list[str], proposed: list[str]) -> None:
    hunks = compute_hunks(original, proposed)
    for h in hunks:
        assert _matches(original, h)
    for prev, nxt in itertools.pairwise(hunks):
        assert nxt.old_start > prev.old_start + len(prev.old_lines)
    assert apply_hunks(original, hunks, range(len(hunks))) == proposed


@settings(max_examples=200, deadline=None)
@given(_MIXED, _MIXED, st.integers(0, 400))
def test_any_budget_gives_true_matches(old: list[str], new: list[str], budget: int) -> None:
    m = match_lines(old, new, budget=budget)
    assert all(old[i] == new[j] for i, j in m.pairs)
    for (i1, j1), (i2, j2) in itertools.pairwise(m.pairs):
        assert i1 < i2 and j1 < j2


_CR_LINE = st.tuples(LINE, st.booleans()).map(lambda p: p[0] + "\r" if p[1] else p[0])


@FAST
@given(st.lists(_CR_LINE, max_size=14), st.lists(_CR_LINE, max_size=14), st.data())
def test_compared_without_cr_untouched_lines_keep_their_bytes(
    original: list[str], proposed: list[str], data
) -> None:
    hunks = compute_hunks(original, proposed, key=without_cr)
    chosen = set(
        data.draw(st.sets(st.sampled_from(range(len(hunks)))) if hunks else st.just(set()))
    )
    result = apply_hunks(original, hunks, chosen)
    assert result == _reference_apply(original, hunks, chosen)
    everything = apply_hunks(original, hunks, range(len(hunks)))
    assert [without_cr(s) for s in everything] == [without_cr(s) for s in proposed]
    # a hunk never holds a line that is only a line end away from its counterpart
    assert (hunks == []) == ([without_cr(s) for s in original] == [without_cr(s) for s in proposed])


_END = st.sampled_from(["\n", "\r\n"])


@FAST
@given(
    st.lists(st.tuples(LINE, _END), max_size=12),
    st.booleans(),
    st.lists(LINE, max_size=12),
    st.data(),
)
def test_a_tool_server_write_changes_only_the_accepted_lines(
    file: list[tuple[str, str]], final_newline: bool, proposed: list[str], data
) -> None:
    lines = [s for s, _ in file]
    ends = [e for _, e in file]
    if ends and not final_newline and lines[-1]:
        ends[-1] = ""  # (an empty last line without a line end is no line at all)
    disk = "".join(s + e for s, e in zip(lines, ends, strict=True))
    dos = bool(ends) and all(e in ("\r\n", "") for e in ends)
    # the buffer as Neovim shows it: fileformat dos hides the \r, unix shows it
    buffer = [
        s + ("\r" if e == "\r\n" and not dos else "") for s, e in zip(lines, ends, strict=True)
    ]
    prop = changes.Proposal(
        id="p",
        kind="file",
        path="/p/x",
        original=lines,
        proposed=proposed,
        hunks=compute_hunks(lines, proposed),
    )
    chosen = data.draw(
        st.sets(st.sampled_from(range(len(prop.hunks)))) if prop.hunks else st.just(set())
    )
    try:
        applied = changes.apply(prop, buffer or [""], chosen)
    except ZekeError:
        return  # the buffer's \r lines are found loosely or not at all: nothing to write
    text = changes.file_text_after(disk, buffer or [""], applied, "dos" if dos else "unix")
    assert text is not None
    after = changes.file_lines(text)
    assert after.lines == apply_hunks(lines, prop.hunks, chosen)
    # Walk the result: every line outside the accepted hunks has its bytes, line end
    # included (only an old last line without one gains one when lines follow it).
    pos_o = pos_r = 0

    def same_until(stop: int) -> None:
        nonlocal pos_o, pos_r
        for k in range(pos_o, stop):
            assert after.lines[pos_r] == lines[k]
            if not (ends[k] == "" and pos_r < len(after.lines) - 1):
                assert after.ends[pos_r] == ends[k], (k, pos_r)
            pos_r += 1
        pos_o = stop

    for h in prop.hunks:
        if h.index in chosen:
            same_until(h.old_start)
            pos_r += len(h.new_lines)
            pos_o = h.old_start + len(h.old_lines)
    same_until(len(lines))
    assert pos_r == len(after.lines)
