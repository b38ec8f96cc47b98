"""Proposed changes: from an answer (or a tool call) to a reviewable set of hunks,
and from the user's accepted hunks back to the lines to write.

The original is found again *by content* when the change is applied, never by
the line numbers it had when the request started. Line ends and encodings are the
file's own: lines are compared without their ``\\r``, and a line the change does
not touch keeps its exact bytes, whichever way the change is applied.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zeke.changes import span
from zeke.errors import ZekeError
from zeke.protocol import Hunk, ProposalInfo

# answer, diffing and testfile (difflib with them) are imported where a change is
# made or applied: the host loads this module at start, and a request that proposes
# no change never needs them.
if TYPE_CHECKING:
    from zeke.changes import diffing


@dataclass
class Proposal:
    id: str
    kind: str  # "selection" (a region of a buffer) | "file" (a whole file)
    path: str | None
    original: list[str]
    proposed: list[str]
    hunks: list[diffing.Hunk]
    hint: int = 0  # 0-based row where the original started
    create: bool = False  # the file does not exist yet
    origin: str = "answer"  # "answer" | "tool"
    notes: list[str] = field(default_factory=list)
    # a charwise selection's change: its lines carry text outside the span, which must
    # still be there exactly (a loose match would overwrite an edit made to it since)
    exact: bool = False

    def to_wire(self) -> ProposalInfo:
        """What the Lua review UI reads (the rest stays here, for ``apply``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "create": self.create,
            "hunks": hunks_to_wire(self.hunks),
        }


def hunks_to_wire(hunks: Iterable[diffing.Hunk]) -> list[Hunk]:
    """Hunks as the Lua review and consent views take them."""
    return [
        {
            "index": h.index,
            "old_start": h.old_start,
            "old_lines": list(h.old_lines),
            "new_lines": list(h.new_lines),
            "header": h.header(),
        }
        for h in hunks
    ]


@dataclass
class Applied:
    """Replace rows [start, end) of the buffer with ``lines`` (0-based, end exclusive).

    ``edits`` are the accepted hunks alone, as (start, end, new lines) in buffer rows,
    top to bottom: everything outside them stays exactly as it is in the buffer.
    """

    start: int
    end: int
    lines: list[str]
    accepted: int
    total: int
    edits: list[tuple[int, int, list[str]]] = field(default_factory=list)


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_file(data: bytes) -> str:
    """Bytes of a file as Neovim reads them by default ('fileencodings'
    ``ucs-bom,utf-8,default,latin1``): a BOM's encoding (the mark dropped), else
    UTF-8, else latin-1, which takes any bytes."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_text(path: str) -> str | None:
    """A file's text (line ends as they are), None when it does not exist; decoded as
    Neovim would (see decode_file), so a latin-1 file reads as the buffer shows it."""
    try:
        with open(path, "rb") as f:
            return decode_file(f.read())
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ZekeError(f"zeke: cannot read {path}: {e.strerror or e}", kind="refused") from e


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` split at ``\\n`` only (a ``\\r`` stays part of its line)."""
    if text == "":
        return []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def without_cr(line: str) -> str:
    """A line as compared for a diff: without the ``\\r`` of a CRLF line end."""
    return line[:-1] if line.endswith("\r") else line


def text_lines(text: str) -> list[str]:
    """Lines of a file's text, each without its line end (LF or CRLF)."""
    return [without_cr(s) for s in split_lines(text)]


def write_hunks(current: str | None, new: str) -> list[Hunk]:
    """The diff a tool write would make to a file (``current`` None: a new file), for
    the consent view: compared line by line without line ends. Heavy for a big file:
    run it in a worker thread."""
    from zeke.changes import diffing

    old_lines = text_lines(current or "")
    return hunks_to_wire(diffing.compute_hunks(old_lines, text_lines(new)))


def from_answer(
    *,
    pid: str,
    intent: str,
    text: str,
    filetype: str,
    selection: Sequence[str],
    start_line: int,
    path: str | None,
    root: str,
    test_paths: dict[str, str],
    read_file: Callable[[str], str | None],
    cut: span.Cut | None = None,
) -> tuple[Proposal | None, str | None]:
    """The change an answer proposes, or (None, why there is nothing to apply).
    ``cut``: a charwise selection, whose span alone the code replaces (the change
    is still one of whole lines, those the span touches: the review shows them)."""
    if intent not in ("code", "tests"):
        return None, None
    from zeke.changes import answer, diffing, testfile

    code = answer.extract_code(text, filetype)
    if code is None:
        return None, "zeke: the answer has no code block, so there is nothing to apply"
    if not code.complete:
        return None, "zeke: the answer's code block is incomplete, so it is not offered as a change"
    new_lines = code.code.split("\n")
    if intent == "code":
        if cut is not None:  # a charwise selection: only its span changes
            original = cut.lines
            proposed = span.replace(cut, span.fit(cut, code.code))
        else:
            original = list(selection)
            proposed = diffing.reindent(original, new_lines)
            if original and all(line.endswith("\r") for line in original):
                # CRLF lines in a buffer read as 'fileformat' unix (a file with mixed
                # line ends) show their \r: the new lines get the same line end
                proposed = [line + "\r" for line in proposed]
        prop = Proposal(
            id=pid,
            kind="selection",
            path=path,
            original=original,
            proposed=proposed,
            hunks=diffing.compute_hunks(original, proposed, key=without_cr),
            hint=max(0, start_line - 1),
            exact=cut is not None,
        )
    else:
        if not path:
            return None, "zeke: save the buffer to a file first: tests go next to a file"
        target = testfile.test_target(path, filetype, root, test_paths)
        existing = read_file(target.path) if target.exists else None
        merged = testfile.merge_tests(existing, code.code, target.mode, filetype)
        # compared without line ends: a CRLF test file shows only the added tests
        original = text_lines(existing or "")
        proposed = text_lines(merged)
        prop = Proposal(
            id=pid,
            kind="file",
            path=target.path,
            original=original,
            proposed=proposed,
            hunks=diffing.compute_hunks(original, proposed),
            create=not target.exists,
        )
    if not prop.hunks:
        return None, "zeke: the answer's code is the same as what is there; nothing to apply"
    return prop, None


def apply(
    proposal: Proposal,
    buffer_lines: Sequence[str],
    accepted: Iterable[int],
    hint: int | None = None,
) -> Applied:
    """Where the original is now, and what goes there. Refuses (ZekeError) when the
    original can no longer be found; never returns a half-applied result. ``hint``
    (0-based) is where the editor last saw the original start; among identical
    copies the nearest wins (default: where it was when the request started)."""
    from zeke.changes import diffing

    accepted = sorted(set(accepted))
    # checks every accepted hunk against the original first: all or nothing
    new_region = diffing.apply_hunks(proposal.original, proposal.hunks, accepted)
    lines = list(buffer_lines)
    if not proposal.original:
        # a new or empty file: Neovim shows an empty buffer as one empty line
        if all(line == "" for line in lines):
            edit = (0, len(lines), new_region)
            return Applied(0, len(lines), new_region, len(accepted), len(proposal.hunks), [edit])
        if proposal.kind == "file":
            raise ZekeError(
                f"zeke: {proposal.path} is no longer empty; nothing was changed. "
                "Run the command again.",
                kind="refused",
            )
    start = diffing.locate(lines, proposal.original, proposal.hint if hint is None else hint)
    if (
        start is not None
        and proposal.exact
        and lines[start : start + len(proposal.original)] != proposal.original
    ):
        start = None  # only found loosely: the text around the span changed
    if start is None:
        where = proposal.path or "the buffer"
        raise ZekeError(
            f"zeke: the code this change was made for is no longer in {where} "
            "(it was edited since); nothing was changed. Run the command again on the new code.",
            kind="refused",
        )
    end = start + len(proposal.original)
    # The original may sit in the buffer with other trailing blanks or line ends
    # (found loosely): lines no accepted hunk touches are kept as the buffer has them.
    chosen = set(accepted)
    edits: list[tuple[int, int, list[str]]] = []
    for h in sorted((h for h in proposal.hunks if h.index in chosen), key=lambda h: h.old_start):
        edits.append(
            (start + h.old_start, start + h.old_start + len(h.old_lines), list(h.new_lines))
        )
    kept: list[str] = []
    cursor = start
    for e_start, e_end, new_lines in edits:
        kept.extend(lines[cursor:e_start])
        kept.extend(new_lines)
        cursor = e_end
    kept.extend(lines[cursor:end])
    return Applied(start, end, kept, len(accepted), len(proposal.hunks), edits)


@dataclass
class FileLines:
    """A file's text as lines, each with its own line end: ``"\\r\\n"``, ``"\\n"``, or
    ``""`` for a last line without one. ``bom``: the text started with a byte-order mark."""

    lines: list[str]
    ends: list[str]
    bom: bool = False


def file_lines(text: str) -> FileLines:
    """Split a file's text at LF, telling CRLF from LF (a lone CR is text)."""
    bom = text.startswith("\ufeff")
    parts = (text[1:] if bom else text).split("\n")
    last = parts.pop()  # "" after a final newline, else a last line without one
    ends = ["\n"] * len(parts)
    for i, part in enumerate(parts):
        if part.endswith("\r"):
            parts[i], ends[i] = part[:-1], "\r\n"
    if last:
        parts.append(last)
        ends.append("")
    return FileLines(parts, ends, bom)


def _true_ends(disk: FileLines, exact: bool, buffer_lines: Sequence[str], dos: bool) -> list[str]:
    """Each disk line's real line end. ``exact``: the server's text shows them as they
    are; otherwise it read in text mode (CRLF shown as LF) and the buffer tells: all
    CRLF for 'fileformat' dos, else the lines whose \\r the buffer shows."""
    if exact:
        return list(disk.ends)
    return [
        end if end == "" else ("\r\n" if dos or line.endswith("\r") else "\n")
        for end, line in zip(disk.ends, buffer_lines, strict=True)
    ]


def _shown(line: str, end: str, dos: bool) -> str:
    """The disk line as the buffer shows it (fileformat unix shows a CRLF line's \\r)."""
    return line + "\r" if end == "\r\n" and not dos else line


def file_text_after(
    disk_text: str, buffer_lines: Sequence[str], applied: Applied, fileformat: str = "unix"
) -> str | None:
    """The file's new text once ``applied`` is made to it: every line no accepted hunk
    touches keeps its exact line end (CRLF, LF, none at the end of the file) and the
    byte-order mark stays. New lines take the line end of the lines they replace (else
    of their neighbour, else the 'fileformat's). None when ``disk_text`` (the file as
    the tool server read it) is not what the buffer shows: the file changed on disk."""
    dos = fileformat == "dos"
    disk = file_lines(disk_text)
    buf = [] if list(buffer_lines) == [""] and not disk.lines else list(buffer_lines)
    if len(buf) != len(disk.lines):
        return None
    exact = "\r" in disk_text
    ends = _true_ends(disk, exact, buf, dos)
    if any(_shown(line, end, dos) != b for line, end, b in zip(disk.lines, ends, buf, strict=True)):
        return None
    n = len(disk.lines)
    default = "\r\n" if dos else "\n"
    out: list[tuple[str, str, bool]] = []  # (line, end, sits where the old last line was)

    def keep(lo: int, hi: int) -> None:
        out.extend((disk.lines[i], ends[i], i == n - 1) for i in range(lo, hi))

    cursor = 0
    for e_start, e_end, new_lines in applied.edits:
        e_start, e_end = min(e_start, n), min(e_end, n)
        keep(cursor, e_start)
        if e_end > e_start:
            near = ends[e_start:e_end]  # the lines replaced, one for one
        else:
            near = [ends[e_start - 1]] if e_start else ends[:1] or [default]
        for k, line in enumerate(new_lines):
            end = near[min(k, len(near) - 1)] or default
            if end == "\r\n" and line.endswith("\r"):
                line = line[:-1]  # the buffer's view of a CRLF line
            out.append((line, end, e_end == n and k == len(new_lines) - 1))
        cursor = e_end
    keep(cursor, n)
    no_final_newline = n > 0 and ends[-1] == ""
    parts: list[str] = ["\ufeff"] if disk.bom else []
    for i, (line, end, at_eof) in enumerate(out):
        if i == len(out) - 1 and no_final_newline and at_eof and line:
            end = ""  # the file ended without a newline there, and still does
        elif end == "":
            end = out[i - 1][1] or default if i else default
        parts.append(line + end)
    return "".join(parts)


def whole_text(buffer_lines: Sequence[str], applied: Applied, eol: str = "\n") -> str:
    """The full file text after an Applied change (for writes through a tool server),
    with the buffer's own line ends (``"\r\n"`` for fileformat=dos)."""
    lines = list(buffer_lines)
    lines[applied.start : applied.end] = applied.lines
    return eol.join(lines) + eol if lines else ""
