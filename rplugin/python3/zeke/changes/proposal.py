"""Proposed changes: from an answer (or a tool call) to a reviewable set of hunks,
and from the user's accepted hunks back to the lines to write.

The original is found again *by content* when the change is applied, never by
the line numbers it had when the request started (contract §8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zeke.changes import answer, diffing, testfile
from zeke.errors import ZekeError


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

    def to_wire(self) -> dict[str, Any]:
        """What the Lua review UI needs (msgpack-friendly)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "hint": self.hint,
            "create": self.create,
            "origin": self.origin,
            "original_count": len(self.original),
            "hunks": [
                {
                    "index": h.index,
                    "old_start": h.old_start,
                    "old_lines": list(h.old_lines),
                    "new_lines": list(h.new_lines),
                    "header": h.header(),
                }
                for h in self.hunks
            ],
        }


@dataclass
class Applied:
    """Replace rows [start, end) of the buffer with ``lines`` (0-based, end exclusive)."""

    start: int
    end: int
    lines: list[str]
    accepted: int
    total: int


def read_text(path: str) -> str | None:
    """A file's text, None when it does not exist; unreadable files are a clear error."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ZekeError(f"zeke: cannot read {path}: {e}", kind="refused") from e


def split_lines(text: str) -> list[str]:
    if text == "":
        return []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


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
) -> tuple[Proposal | None, str | None]:
    """The change an answer proposes, or (None, why there is nothing to apply)."""
    if intent not in ("code", "tests"):
        return None, None
    code = answer.extract_code(text, filetype)
    if code is None:
        return None, "zeke: the answer has no code block, so there is nothing to apply"
    if not code.complete:
        return None, "zeke: the answer's code block is incomplete, so it is not offered as a change"
    new_lines = code.code.split("\n")
    if intent == "code":
        original = list(selection)
        proposed = diffing.reindent(original, new_lines)
        prop = Proposal(
            id=pid,
            kind="selection",
            path=path,
            original=original,
            proposed=proposed,
            hunks=diffing.compute_hunks(original, proposed),
            hint=max(0, start_line - 1),
        )
    else:
        if not path:
            return None, "zeke: save the buffer to a file first: tests go next to a file"
        target = testfile.test_target(path, filetype, root, test_paths)
        existing = read_file(target.path) if target.exists else None
        merged = testfile.merge_tests(existing, code.code, target.mode, filetype)
        original = split_lines(existing or "")
        proposed = split_lines(merged)
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
    accepted = sorted(set(accepted))
    new_region = diffing.apply_hunks(proposal.original, proposal.hunks, accepted)
    lines = list(buffer_lines)
    if not proposal.original:
        # a new or empty file: Neovim shows an empty buffer as one empty line
        if all(line == "" for line in lines):
            return Applied(0, len(lines), new_region, len(accepted), len(proposal.hunks))
        if proposal.kind == "file":
            raise ZekeError(
                f"zeke: {proposal.path} is no longer empty; nothing was changed. "
                "Run the command again.",
                kind="refused",
            )
    start = diffing.locate(lines, proposal.original, proposal.hint if hint is None else hint)
    if start is None:
        where = proposal.path or "the buffer"
        raise ZekeError(
            f"zeke: the code this change was made for is no longer in {where} "
            "(it was edited since); nothing was changed. Run the command again on the new code.",
            kind="refused",
        )
    end = start + len(proposal.original)
    return Applied(start, end, new_region, len(accepted), len(proposal.hunks))


def whole_text(buffer_lines: Sequence[str], applied: Applied, eol: str = "\n") -> str:
    """The full file text after an Applied change (for writes through a tool server),
    with the buffer's own line ends (``"\r\n"`` for fileformat=dos)."""
    lines = list(buffer_lines)
    lines[applied.start : applied.end] = applied.lines
    return eol.join(lines) + eol if lines else ""
