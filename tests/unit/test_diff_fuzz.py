"""Property tests: hunks never land on the wrong lines and are never half-applied."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeke.changes.diffing import Hunk, apply_hunks, compute_hunks, locate
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
