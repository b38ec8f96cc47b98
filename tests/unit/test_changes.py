"""Proposed changes and the file's own bytes: line ends, a missing final newline, the
BOM and the encoding survive every way a change is applied."""

from __future__ import annotations

from pathlib import Path

from zeke.changes import diffing
from zeke.changes import proposal as changes
from zeke.changes.proposal import Applied, Proposal


def _proposal(original: list[str], proposed: list[str], kind: str = "file") -> Proposal:
    return Proposal(
        id="p",
        kind=kind,
        path="/p/x.py",
        original=original,
        proposed=proposed,
        hunks=diffing.compute_hunks(original, proposed, key=changes.without_cr),
    )


def _apply(disk: bytes, buffer: list[str], proposed: list[str], accepted=None, ff="unix"):
    """What a tool-server write puts on disk: the change made to the disk's text."""
    prop = _proposal(buffer, proposed)
    applied = changes.apply(prop, buffer, range(len(prop.hunks)) if accepted is None else accepted)
    out = changes.file_text_after(disk.decode(), buffer, applied, ff)
    return None if out is None else out.encode()


# ---------------------------------------------------------------- file_text_after


def test_crlf_file_only_the_changed_line_changes() -> None:
    disk = b"a\r\nb\r\nc\r\n"
    # fileformat=dos: the buffer shows no \r
    assert _apply(disk, ["a", "b", "c"], ["a", "B", "c"], ff="dos") == b"a\r\nB\r\nc\r\n"


def test_crlf_file_new_lines_take_the_line_end_they_replace() -> None:
    disk = b"a\r\nb\r\nc\r\n"
    got = _apply(disk, ["a", "b", "c"], ["a", "B1", "B2", "c", "d"], ff="dos")
    assert got == b"a\r\nB1\r\nB2\r\nc\r\nd\r\n"


def test_mixed_line_ends_are_kept_line_by_line() -> None:
    # fileformat=unix: the CRLF lines show their \r in the buffer
    disk = b"one\r\ntwo\nthree\r\nfour\n"
    buffer = ["one\r", "two", "three\r", "four"]
    got = _apply(disk, buffer, ["one\r", "TWO", "three\r", "four"])
    assert got == b"one\r\nTWO\nthree\r\nfour\n"
    # a change to a CRLF line: the new line keeps CRLF, nothing else moves
    got = _apply(disk, buffer, ["one\r", "two", "THREE", "four"])
    assert got == b"one\r\ntwo\nTHREE\r\nfour\n"


def test_a_server_that_reads_in_text_mode_still_keeps_crlf() -> None:
    # the server showed LF for every CRLF: the buffer (fileformat dos) says what they are
    disk_as_read = b"a\nb\nc\n"
    got = _apply(disk_as_read, ["a", "b", "c"], ["a", "B", "c"], ff="dos")
    assert got == b"a\r\nB\r\nc\r\n"
    # and for a mixed file, the \r the buffer shows
    got = _apply(b"a\nb\nc\n", ["a\r", "b", "c\r"], ["a\r", "B", "c\r"])
    assert got == b"a\r\nB\nc\r\n"


def test_no_final_newline_stays_missing() -> None:
    disk = b"a\nb\nc"
    assert _apply(disk, ["a", "b", "c"], ["A", "b", "c"]) == b"A\nb\nc"
    assert _apply(disk, ["a", "b", "c"], ["a", "b", "C"]) == b"a\nb\nC"
    assert _apply(disk, ["a", "b", "c"], ["a", "b", "C", "D"]) == b"a\nb\nC\nD"
    # lines after the old last one: it gets a line end, the new last line none
    assert _apply(disk, ["a", "b", "c"], ["a", "b", "c", "d"]) == b"a\nb\nc\nd"
    # the last line deleted: the line before keeps its newline
    assert _apply(disk, ["a", "b", "c"], ["a", "b"]) == b"a\nb\n"
    crlf = b"a\r\nb\r\nc"
    assert _apply(crlf, ["a", "b", "c"], ["a", "B", "c"], ff="dos") == b"a\r\nB\r\nc"


def test_byte_order_mark_is_kept() -> None:
    disk = "\ufeffa\nb\n".encode()
    assert _apply(disk, ["a", "b"], ["a", "B"]) == "\ufeffa\nB\n".encode()


def test_only_accepted_hunks_change_bytes() -> None:
    disk = b"a\r\nb\r\nc\r\nd\r\ne\r\n"
    buffer = ["a", "b", "c", "d", "e"]
    got = _apply(disk, buffer, ["A", "b", "c", "d", "E"], accepted=[1], ff="dos")
    assert got == b"a\r\nb\r\nc\r\nd\r\nE\r\n"


def test_disk_that_differs_from_the_buffer_is_none() -> None:
    assert _apply(b"a\nb\nX\n", ["a", "b", "c"], ["a", "B", "c"]) is None
    assert _apply(b"a\nb\n", ["a", "b", "c"], ["a", "B", "c"]) is None
    # a \r the buffer does not show is a difference, not a line end to guess
    assert _apply(b"a\r\nb\n", ["a", "b"], ["a", "B"]) is None


def test_empty_file() -> None:
    prop = _proposal([], ["x", "y"])
    applied = changes.apply(prop, [""], [0])
    assert changes.file_text_after("", [""], applied, "unix") == "x\ny\n"
    assert changes.file_text_after("", [""], applied, "dos") == "x\r\ny\r\n"


# -------------------------------------------------------------------- apply


def test_apply_keeps_the_buffers_own_untouched_lines() -> None:
    # found loosely (trailing blanks and \r differ): untouched lines stay as they are now
    prop = _proposal(["a", "b", "c"], ["a", "B", "c"], kind="selection")
    buffer = ["top", "a  ", "b", "c\r", "end"]
    applied = changes.apply(prop, buffer, [0])
    assert (applied.start, applied.end) == (1, 4)
    assert applied.lines == ["a  ", "B", "c\r"]
    assert applied.edits == [(2, 3, ["B"])]


# -------------------------------------------------------------------- reading


def test_read_text_decodes_as_neovim_does(tmp_path: Path) -> None:
    latin = tmp_path / "l.py"
    latin.write_bytes("# café\n".encode("latin-1"))
    assert changes.read_text(str(latin)) == "# café\n"
    bom = tmp_path / "b.py"
    bom.write_bytes(b"\xef\xbb\xbfx = 1\r\n")
    assert changes.read_text(str(bom)) == "x = 1\r\n"
    assert changes.read_text(str(tmp_path / "missing.py")) is None


def test_text_lines_drop_crlf() -> None:
    assert changes.text_lines("a\r\nb\nc\r\n") == ["a", "b", "c"]
    assert changes.text_lines("a\rb") == ["a\rb"]  # a lone CR is text
    assert changes.split_lines("a\r\nb") == ["a\r", "b"]


# -------------------------------------------------------------------- from_answer

_TESTS = "def test_two():\n    assert 2"


def _test_proposal(tmp_path: Path, existing: bytes) -> Proposal:
    (tmp_path / "tests").mkdir()
    target = tmp_path / "tests" / "test_calc.py"
    target.write_bytes(existing)
    prop, note = changes.from_answer(
        pid="p",
        intent="tests",
        text=f"```python\n{_TESTS}\n```",
        filetype="python",
        selection=["x"],
        start_line=1,
        path=str(tmp_path / "calc.py"),
        root=str(tmp_path),
        test_paths={},
        read_file=changes.read_text,
    )
    assert prop is not None, note
    return prop


def test_tests_into_a_crlf_file_are_only_the_added_lines(tmp_path: Path) -> None:
    prop = _test_proposal(tmp_path, b"def test_one():\r\n    assert 1\r\n")
    assert prop.original == ["def test_one():", "    assert 1"]
    (hunk,) = prop.hunks
    assert hunk.old_lines == ()
    assert hunk.new_lines == ("", "", "def test_two():", "    assert 2")
    assert not any("\r" in s for s in prop.proposed)


def test_tests_into_a_latin1_file(tmp_path: Path) -> None:
    prop = _test_proposal(tmp_path, "# é\ndef test_one():\n    pass\n".encode("latin-1"))
    assert prop.original[0] == "# é"
    assert [h.old_lines for h in prop.hunks] == [()]


def _selection_proposal(selection: list[str], code: str) -> Proposal:
    prop, note = changes.from_answer(
        pid="p",
        intent="code",
        text=f"```python\n{code}\n```",
        filetype="python",
        selection=selection,
        start_line=1,
        path="/p/x.py",
        root="/p",
        test_paths={},
        read_file=changes.read_text,
    )
    assert prop is not None, note
    return prop


def test_selection_of_crlf_lines_in_a_mixed_buffer() -> None:
    prop = _selection_proposal(["a = 1\r", "b = 2\r", "c = 3\r"], "a = 1\nb = 20\nc = 3")
    (hunk,) = prop.hunks
    assert hunk.old_lines == ("b = 2\r",) and hunk.new_lines == ("b = 20\r",)


def test_selection_with_some_crlf_lines_keeps_the_untouched_ones() -> None:
    prop = _selection_proposal(["a = 1\r", "b = 2", "c = 3\r"], "a = 1\nb = 20\nc = 3")
    (hunk,) = prop.hunks
    assert hunk.old_lines == ("b = 2",) and hunk.new_lines == ("b = 20",)
    applied = changes.apply(prop, ["a = 1\r", "b = 2", "c = 3\r"], [0])
    assert applied.lines == ["a = 1\r", "b = 20", "c = 3\r"]


def test_whole_text_for_a_new_file() -> None:
    applied = Applied(0, 1, ["x", "y"], 1, 1, [(0, 1, ["x", "y"])])
    assert changes.whole_text([""], applied, "\r\n") == "x\r\ny\r\n"
