"""Hunks, all-or-nothing application, locating the selection, re-indenting, display diff."""

from __future__ import annotations

import random

import pytest

from zeke.changes import diffing
from zeke.changes.diffing import (
    Hunk,
    apply_hunks,
    compute_hunks,
    locate,
    match_lines,
    reindent,
    unified_diff,
)
from zeke.errors import ZekeError

ORIGINAL = ["import os", "", "def f(x):", "    y = x + 1", "    return y", "", "print(f(1))"]
PROPOSED = ["import os", "import sys", "", "def f(x):", "    return x + 1", "", "print(f(2))"]


# --------------------------------------------------------------------- compute_hunks


def test_hunks_are_the_changed_runs_without_context() -> None:
    hunks = compute_hunks(ORIGINAL, PROPOSED)
    assert hunks == [
        Hunk(0, 1, (), ("import sys",), new_start=1),
        Hunk(1, 3, ("    y = x + 1", "    return y"), ("    return x + 1",), new_start=4),
        Hunk(2, 6, ("print(f(1))",), ("print(f(2))",), new_start=6),
    ]


def test_identical_has_no_hunks() -> None:
    assert compute_hunks(ORIGINAL, ORIGINAL) == []
    assert compute_hunks([], []) == []


def test_trailing_whitespace_is_a_change() -> None:
    hunks = compute_hunks(["a", "b", "c"], ["a", "b  ", "c"])
    assert [(h.old_start, h.old_lines, h.new_lines) for h in hunks] == [(1, ("b",), ("b  ",))]


def test_adjacent_changes_are_one_hunk() -> None:
    hunks = compute_hunks(["a", "b", "c", "d"], ["a", "B", "C", "d"])
    assert len(hunks) == 1
    assert hunks[0].old_lines == ("b", "c") and hunks[0].new_lines == ("B", "C")


def test_from_and_to_empty() -> None:
    (h,) = compute_hunks([], ["x", "y"])
    assert (h.old_start, h.old_lines, h.new_lines) == (0, (), ("x", "y"))
    (h,) = compute_hunks(["x", "y"], [])
    assert (h.old_start, h.old_lines, h.new_lines) == (0, ("x", "y"), ())


def test_headers() -> None:
    hunks = compute_hunks(ORIGINAL, PROPOSED)
    # Insertion after line 1 of the old text, landing on line 2 of the new one.
    assert hunks[0].header() == "@@ -1,0 +2,1 @@"
    assert hunks[1].header() == "@@ -4,2 +5,1 @@"
    assert hunks[2].header() == "@@ -7,1 +7,1 @@"
    # Without new_start, the header assumes the hunk lands where it was.
    assert Hunk(0, 4, ("a",), ()).header() == "@@ -5,1 +4,0 @@"


def test_key_leaves_lines_equal_by_key_out_of_every_hunk() -> None:
    original = ["a\r", "b\r", "c"]
    (h,) = compute_hunks(original, ["a", "B", "c"], key=lambda s: s.rstrip("\r"))
    assert (h.old_start, h.old_lines, h.new_lines) == (1, ("b\r",), ("B",))
    # applying keeps the original's own bytes outside the hunk
    assert apply_hunks(original, [h], [0]) == ["a\r", "B", "c"]


def test_an_added_function_is_one_insertion_among_repeated_lines() -> None:
    body = ["", "def f{}():", "    x = 1", "    return x", ""]
    original = [line.format(k) for k in range(40) for line in body]
    added = ["def g():", "    x = 1", "    return x", ""]
    proposed = original[:100] + added + original[100:]
    (h,) = compute_hunks(original, proposed)
    assert h.old_lines == () and list(h.new_lines) == added


# Big inputs of the shapes that make a diff expensive: every line different, a
# realistic 30 % edit, lines shuffled, a handful of lines repeated at random, the
# same two lines alternating, a file reversed.
def _shapes(n: int) -> dict[str, tuple[list[str], list[str]]]:
    rnd = random.Random(n)
    code = [
        f"def f{k}(x):" if k % 7 == 0 else ("" if k % 7 == 6 else f"    x += {k % 5}")
        for k in range(n)
    ]
    pool = ["", "}", "    }", "        return x;", "end", "else"]
    return {
        "every line different": (code, [f"{s} # {k}" for k, s in enumerate(code)]),
        "30% changed": (code, [s + " # x" if rnd.random() < 0.3 else s for s in code]),
        "shuffled": (code, rnd.sample(code, len(code))),
        "repeated lines": (
            [rnd.choice(pool) for _ in range(n)],
            [rnd.choice(pool) for _ in range(n)],
        ),
        "alternating": (["a", "b"] * (n // 2), ["b", "a"] * (n // 2)),
        "reversed": (code, code[::-1]),
    }


@pytest.mark.parametrize("shape", list(_shapes(10)))
def test_diff_work_is_bounded_by_the_input_size(shape: str) -> None:
    n = 20_000
    old, new = _shapes(n)[shape]
    m = match_lines(old, new)
    # the budget, plus a constant per line: never the square of the size
    bound = diffing.DIFF_BUDGET + (diffing.DIFF_WORK_PER_LINE + 5) * (len(old) + len(new))
    assert m.work <= bound, f"{shape}: {m.work} work units for {n} lines"
    assert all(old[i] == new[j] for i, j in m.pairs)
    assert all(p < q for p, q in zip(m.pairs, m.pairs[1:], strict=False))
    assert all(p[1] < q[1] for p, q in zip(m.pairs, m.pairs[1:], strict=False))
    hunks = compute_hunks(old, new)
    assert apply_hunks(old, hunks, range(len(hunks))) == new


def test_diff_work_grows_linearly_on_a_realistic_edit() -> None:
    small = match_lines(*_shapes(5_000)["30% changed"]).work
    big = match_lines(*_shapes(20_000)["30% changed"]).work
    assert big <= 5 * small


def test_a_small_budget_still_gives_a_correct_diff() -> None:
    old, new = _shapes(3_000)["shuffled"]
    m = match_lines(old, new, budget=1_000)
    assert all(old[i] == new[j] for i, j in m.pairs)
    assert m.work <= 1_000 + 10 * (len(old) + len(new))


@pytest.mark.timeout(60)
def test_a_20000_line_rewrite_is_diffed_in_reasonable_time() -> None:
    # a smoke check (the speed figure is in bench/): quadratic diffing took minutes here
    old = [f"    value_{k} = compute({k})" if k % 4 else "" for k in range(20_000)]
    new = ["    " + s if s else s for s in old]  # re-indented: only the blank lines match
    hunks = compute_hunks(old, new)
    assert apply_hunks(old, hunks, range(len(hunks))) == new


# ----------------------------------------------------------------------- apply_hunks


def test_accept_all_gives_proposed_none_gives_original() -> None:
    hunks = compute_hunks(ORIGINAL, PROPOSED)
    assert apply_hunks(ORIGINAL, hunks, range(len(hunks))) == PROPOSED
    assert apply_hunks(ORIGINAL, hunks, []) == ORIGINAL


def test_accept_some() -> None:
    hunks = compute_hunks(ORIGINAL, PROPOSED)
    assert apply_hunks(ORIGINAL, hunks, [1]) == [
        "import os",
        "",
        "def f(x):",
        "    return x + 1",
        "",
        "print(f(1))",
    ]
    assert apply_hunks(ORIGINAL, hunks, iter([2, 0])) == [
        "import os",
        "import sys",
        "",
        "def f(x):",
        "    y = x + 1",
        "    return y",
        "",
        "print(f(2))",
    ]


def test_refuses_when_the_text_under_a_hunk_changed() -> None:
    hunks = compute_hunks(ORIGINAL, PROPOSED)
    edited = list(ORIGINAL)
    edited[4] = "    return y * 2"  # the user edited inside hunk 2
    with pytest.raises(ZekeError) as err:
        apply_hunks(edited, hunks, [0, 1, 2])
    assert err.value.kind == "refused"
    assert "hunk 2" in err.value.message
    assert "@@ -4,2 +5,1 @@" in err.value.message
    # Hunks that do not touch the edit still apply on their own.
    assert apply_hunks(edited, hunks, [2])[-1] == "print(f(2))"


def test_refuses_when_the_text_got_shorter() -> None:
    hunks = compute_hunks(ORIGINAL, PROPOSED)
    with pytest.raises(ZekeError) as err:
        apply_hunks(ORIGINAL[:5], hunks, [2])
    assert err.value.kind == "refused" and "hunk 3" in err.value.message


def test_unknown_hunk_index_is_refused() -> None:
    hunks = compute_hunks(ORIGINAL, PROPOSED)
    with pytest.raises(ZekeError) as err:
        apply_hunks(ORIGINAL, hunks, [7])
    assert err.value.kind == "refused" and "hunk 8" in err.value.message


def test_overlapping_hunks_are_refused() -> None:
    a = Hunk(0, 0, ("a", "b"), ("x",))
    b = Hunk(1, 1, ("b",), ("y",))
    with pytest.raises(ZekeError) as err:
        apply_hunks(["a", "b"], [a, b], [0, 1])
    assert err.value.kind == "refused"
    i1 = Hunk(0, 1, (), ("x",))
    i2 = Hunk(1, 1, (), ("y",))
    with pytest.raises(ZekeError):
        apply_hunks(["a", "b"], [i1, i2], [0, 1])
    # Each alone is fine.
    assert apply_hunks(["a", "b"], [i1, i2], [1]) == ["a", "y", "b"]


def test_original_is_not_mutated() -> None:
    original = list(ORIGINAL)
    hunks = compute_hunks(original, PROPOSED)
    apply_hunks(original, hunks, [0, 1, 2])
    assert original == ORIGINAL


# --------------------------------------------------------------------------- locate

SELECTION = ["def helper():", "    return 42"]


def test_locate_exact() -> None:
    buf = ["x = 1", *SELECTION, "y = 2"]
    assert locate(buf, SELECTION, hint=1) == 1
    assert locate(buf, SELECTION) == 1


def test_locate_after_lines_were_added_above() -> None:
    buf = ["# new", "# comments", "x = 1", *SELECTION, "y = 2"]
    assert locate(buf, SELECTION, hint=1) == 3


def test_locate_duplicates_picks_nearest_hint() -> None:
    buf = [*SELECTION, "", "a", "b", "c", *SELECTION, "", *SELECTION]
    assert locate(buf, SELECTION, hint=0) == 0
    assert locate(buf, SELECTION, hint=5) == 6
    assert locate(buf, SELECTION, hint=10) == 9
    assert locate(buf, SELECTION, hint=100) == 9
    # Without a hint: the first.
    assert locate(buf, SELECTION) == 0


def test_locate_tie_goes_up() -> None:
    assert locate(["s", "-", "-", "s"], ["s"]) == 0
    assert locate(["s", "-", "s"], ["s"], hint=1) == 0


def test_locate_prefers_exact_over_nearer_whitespace_match() -> None:
    buf = ["def helper():  ", "    return 42", "x", "", "", *SELECTION]
    assert locate(buf, SELECTION, hint=0) == 5


def test_locate_falls_back_to_ignoring_trailing_whitespace() -> None:
    buf = ["x", "def helper():   ", "    return 42\t", "y"]
    assert locate(buf, SELECTION, hint=0) == 1
    # And the other way round: the selection had the trailing blanks.
    assert locate(["x", *SELECTION], ["def helper(): ", "    return 42  "]) == 1


def test_locate_whitespace_fallback_is_not_leading_whitespace() -> None:
    assert locate(["  def helper():", "      return 42"], SELECTION) is None


def test_locate_gone_is_none() -> None:
    buf = ["x = 1", "def helper():", "    return 43", "y = 2"]
    assert locate(buf, SELECTION, hint=1) is None
    assert locate([], SELECTION) is None
    assert locate(["def helper():"], SELECTION) is None  # needle longer than the buffer


def test_locate_empty_needle_stays_at_hint() -> None:
    assert locate(["a", "b"], [], hint=1) == 1
    assert locate(["a", "b"], [], hint=9) == 2
    assert locate(["a", "b"], []) == 0


@pytest.mark.timeout(60)
def test_locate_finishes_on_a_large_buffer() -> None:
    # Worst realistic shape: many near-copies of the needle, identical first lines.
    block = [f"    line {k} of the function" for k in range(49)]
    needle = ["def handler(event):", *block]
    buf: list[str] = []
    for k in range(2000):
        buf += ["def handler(event):", *block[:-1], f"    variant {k}"]
    target = len(buf) // 2
    buf[target : target + 50] = needle
    assert len(buf) == 100_000
    # (no timing: at 100,000 lines a quadratic search would run past the timeout)
    assert locate(buf, needle, hint=10) == target
    rstripped = [s + " " for s in needle]  # forces the whitespace-tolerant pass too
    assert locate(buf, rstripped, hint=10) == target


@pytest.mark.timeout(60)
def test_locate_finishes_with_the_same_line_everywhere() -> None:
    buf = ["}"] * 100_000
    assert locate(buf, ["}"] * 49 + ["{"]) is None
    assert locate(buf, ["}"] * 50, hint=70_000) == 70_000


# ------------------------------------------------------------------------- reindent


def test_reindent_restores_dropped_indent() -> None:
    original = ["    def f(self):", "        return 1"]
    proposed = ["def f(self):", "", "    return 2"]
    assert reindent(original, proposed) == ["    def f(self):", "", "        return 2"]


def test_reindent_uses_the_originals_tabs() -> None:
    original = ["\tif x {", "\t\ty()", "\t}"]
    assert reindent(original, ["if x {", "\tz()", "}"]) == ["\tif x {", "\t\tz()", "\t}"]


def test_reindent_leaves_correct_indent_alone() -> None:
    original = ["    a = 1", "    b = 2"]
    assert reindent(original, ["    a = 3", "    b = 4"]) == ["    a = 3", "    b = 4"]
    # Partially indented: the model kept *some* indentation, so we do not guess.
    assert reindent(original, ["  a = 3", "  b = 4"]) == ["  a = 3", "  b = 4"]


def test_reindent_nothing_when_the_original_has_no_common_indent() -> None:
    assert reindent(["def f():", "    pass"], ["x = 1"]) == ["x = 1"]
    assert reindent(["\tx", "    y"], ["a", "b"]) == ["a", "b"]  # tabs vs spaces: no common


def test_reindent_ignores_blank_lines_in_the_original() -> None:
    assert reindent(["    a", "", "    b"], ["c", "d"]) == ["    c", "    d"]
    assert reindent(["    a"], ["", "  "]) == ["", "  "]


# --------------------------------------------------------------------- unified_diff


def test_unified_diff() -> None:
    text = unified_diff(["a", "b", "c"], ["a", "B", "c"], path="src/x.py", context=1)
    assert text == "--- a/src/x.py\n+++ b/src/x.py\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
    assert unified_diff(["a"], ["a"]) == ""
    assert unified_diff(["a"], ["b"]).startswith("--- original\n+++ proposed\n")
