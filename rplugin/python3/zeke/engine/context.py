"""Pack the selection and what surrounds it into the messages sent to the router.

Only the lines near the selection are ever looked at, so a 100,000-line buffer
costs the same as a small one.  Everything that leaves the machine (instruction,
selection, context, diagnostics) goes through ``redact``; ``Packed.selection``
keeps the exact original text, because that is what a proposed change is
diffed against.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from zeke.changes import span
from zeke.engine.private_keys import starts_inside_private_key
from zeke.engine.prompts import CODE_INTENTS, default_instruction, system_prompt
from zeke.engine.redact import redact
from zeke.errors import ZekeError

_SEVERITIES = {1: "error", 2: "warning", 3: "info", 4: "hint"}
_NEAR_DIAGNOSTIC_LINES = 3
_MAX_DIAGNOSTICS = 20
_MAX_DIAGNOSTIC_CHARS = 300
# Per-message framing the chat format adds on top of the text itself.
_MESSAGE_OVERHEAD_TOKENS = 4

# Control characters that do not occur in text, U+FFFD, and the lone
# surrogates that ``surrogateescape`` uses for bytes that are not UTF-8.
_UNREADABLE_RE = re.compile("[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd\udc80-\udcff]")
_BACKTICKS_RE = re.compile("`{3,}")
_FENCE_TAG_RE = re.compile(r"[^A-Za-z0-9_+.#-]")


@dataclass
class PackRequest:
    """What the Lua side captured: a window of buffer lines around the selection."""

    intent: str
    instruction: str
    lines: list[str]
    window_start: int
    start_line: int
    end_line: int
    # charwise only (`v`): 0-based byte columns, the end exclusive (changes/span.py)
    start_col: int | None = None
    end_col: int | None = None
    path: str | None = None
    root: str | None = None
    filetype: str = ""
    diagnostics: list[dict] = field(default_factory=list)
    context_lines: int = 40
    max_context_tokens: int = 3000
    max_selection_tokens: int = 24000
    total_lines: int | None = None


@dataclass
class Packed:
    """The prompt, ready to send, and what the user should know about it."""

    messages: list[dict]
    selection: str
    # charwise: the text of the first selected line before the selection and of the
    # last one after it (None: whole lines)
    around: tuple[str, str] | None
    tokens_est: int
    size_hint: str
    redactions: int
    trimmed: bool
    notes: list[str]


def estimate_tokens(text: str) -> int:
    """About one token per four characters; at least 1 for non-empty text."""
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)


def size_hint(tokens: int) -> str:
    """Contract §6: tiny ≤ 256, small ≤ 2,048, medium ≤ 8,192, large above."""
    if tokens <= 256:
        return "tiny"
    if tokens <= 2048:
        return "small"
    if tokens <= 8192:
        return "medium"
    return "large"


# ----------------------------------------------------------------------- helpers


def _as_text(line: Any) -> str:
    if isinstance(line, str):
        return line
    if isinstance(line, (bytes, bytearray)):
        return bytes(line).decode("utf-8", "surrogateescape")
    return str(line)


def _display_path(path: str | None, root: str | None) -> str:
    if not path:
        return "[No Name]"
    if root:
        try:
            rel = os.path.relpath(path, root)
        except ValueError:  # another drive on Windows
            rel = ""
        if rel and not rel.startswith(os.pardir) and not os.path.isabs(rel):
            return rel.replace(os.sep, "/")
    home = os.path.expanduser("~")
    if home and home != "~" and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home) :]
    return path


def _fence(*texts: str) -> str:
    """A backtick fence longer than any run of backticks inside the block."""
    longest = 2
    for text in texts:
        for m in _BACKTICKS_RE.finditer(text):
            longest = max(longest, len(m.group(0)))
    return "`" * (longest + 1)


def _block(tag: str, body: str) -> str:
    fence = _fence(body)
    return f"{fence}{tag}\n{body}\n{fence}"


def _numbered(first: int, lines: list[str]) -> str:
    width = len(str(first + max(len(lines) - 1, 0)))
    return "\n".join(f"{first + i:>{width}} | {line}" for i, line in enumerate(lines))


def _range(a: int, b: int) -> str:
    return f"line {a}" if a == b else f"lines {a}-{b}"


def _refuse_if_too_large(est: int, limit: int) -> None:
    if est > limit:
        raise ZekeError(
            f"The selection is too large to send: about {est:,} tokens, the limit is "
            f"{limit:,}. Select less (one function or block) and try again.",
            kind="refused",
        )


def _refuse_if_binary(selection: str) -> None:
    if "\x00" in selection:
        binary = True
    else:
        bad = len(_UNREADABLE_RE.findall(selection))
        binary = bad > max(2, len(selection) // 10)
    if binary:
        raise ZekeError(
            "The selection looks like binary data (NUL bytes or unreadable characters), "
            "and zeke only sends text. Select text in a text buffer and try again.",
            kind="refused",
        )


def _severity(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return _SEVERITIES.get(value, "info")
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return "info"


def _diagnostic_lines(diags: list[dict], first: int, last: int) -> tuple[list[str], int]:
    """``L<n>: error: message [source]`` for diagnostics within 3 lines of the
    selection (1-based ``first``..``last``); also how many were left out."""
    near: list[tuple[int, int, int, str]] = []
    lo, hi = first - _NEAR_DIAGNOSTIC_LINES, last + _NEAR_DIAGNOSTIC_LINES
    for d in diags or []:
        if not isinstance(d, dict):
            continue
        lnum = d.get("lnum")
        if not isinstance(lnum, int) or isinstance(lnum, bool):
            continue
        n = lnum + 1
        if not lo <= n <= hi:
            continue
        msg = " ".join(str(d.get("message") or "").split())
        if not msg:
            continue
        if len(msg) > _MAX_DIAGNOSTIC_CHARS:
            msg = msg[: _MAX_DIAGNOSTIC_CHARS - 1] + "…"
        sev = d.get("severity")
        rank = sev if isinstance(sev, int) and not isinstance(sev, bool) else 3
        col = d.get("col") if isinstance(d.get("col"), int) else 0
        text = f"L{n}: {_severity(sev)}: {msg}"
        source = str(d.get("source") or "").strip()
        if source:
            text += f" [{source}]"
        near.append((n, rank, col, text))
    near.sort(key=lambda t: (t[0], t[1], t[2]))
    kept = near[:_MAX_DIAGNOSTICS]
    return [t[3] for t in kept], len(near) - len(kept)


# -------------------------------------------------------------------------- pack


@dataclass
class _Side:
    """Context lines on one side of the selection, nearest first."""

    texts: list[str] = field(default_factory=list)
    first_index: int | None = None  # window index of the farthest line taken
    partial: bool = False  # includes the unselected part of a selected line


def _take_context(
    cands_before: list[tuple[int, str, bool]],
    cands_after: list[tuple[int, str, bool]],
    budget_chars: int,
) -> tuple[_Side, _Side, bool]:
    """Alternate sides, nearest line first, until each side runs out of lines or
    the shared character budget runs out.  Returns (before, after, trimmed)."""
    sides = (_Side(), _Side())
    cands = (cands_before, cands_after)
    pos = [0, 0]
    open_ = [bool(cands_before), bool(cands_after)]
    trimmed = False
    left = budget_chars
    while open_[0] or open_[1]:
        for k in (0, 1):
            if not open_[k]:
                continue
            idx, text, partial = cands[k][pos[k]]
            cost = len(text) + 1
            if cost > left:
                open_[k] = False
                trimmed = True
                continue
            left -= cost
            side = sides[k]
            side.texts.append(text)
            side.first_index = idx
            side.partial = side.partial or partial
            pos[k] += 1
            if pos[k] >= len(cands[k]):
                open_[k] = False
    return sides[0], sides[1], trimmed


def pack(req: PackRequest) -> Packed:
    """Build the system + user messages for ``req``.

    Raises ``ZekeError(kind="refused")`` for a binary or oversized selection and
    ``ZekeError(kind="internal")`` when the selection is not inside ``lines``.
    """
    if req.intent not in CODE_INTENTS:  # vision sends an image, not code (request._vision)
        raise ZekeError(
            f"Unknown intent {req.intent!r} for code context: expected one of "
            f"{', '.join(CODE_INTENTS)}.",
            kind="internal",
        )
    system = system_prompt(req.intent, req.filetype)
    lines = req.lines
    start_line, end_line = int(req.start_line), int(req.end_line)
    charwise = req.start_col is not None or req.end_col is not None
    chosen: span.Span | None = None
    if charwise:  # no end column: to the end of its line
        end_col = req.end_col if req.end_col is not None else 2**31 - 1
        chosen = span.Span(start_line, req.start_col or 0, end_line, end_col).ordered()
        start_line, end_line = chosen.start_line, chosen.end_line
    elif end_line < start_line:  # a selection made upwards
        start_line, end_line = end_line, start_line

    ws = int(req.window_start)
    si, ei = start_line - ws, end_line - ws
    if si < 0 or ei >= len(lines):
        win = _range(ws, ws + len(lines) - 1) if lines else "no lines"
        raise ZekeError(
            f"The selection ({_range(start_line, end_line)}) is outside the text zeke "
            f"received ({win}). Select again and retry.",
            kind="internal",
        )

    # --- the selection, refused early when it cannot be sent -------------------
    sel_lines = [_as_text(x) for x in lines[si : ei + 1]]
    prefix = suffix = ""
    around: tuple[str, str] | None = None
    if chosen is not None:
        # exactly the selected characters (span.py: the same cut the change is made on)
        c = span.cut(sel_lines, chosen, first=start_line)
        sel_lines = c.text.split("\n")
        prefix, suffix = c.before, c.after
        around = (prefix, suffix)
    # Size first, from lengths alone: a huge selection is refused before joining it.
    chars = sum(len(x) for x in sel_lines) + len(sel_lines) - 1
    _refuse_if_too_large((chars + 3) // 4, int(req.max_selection_tokens))
    selection = "\n".join(sel_lines)
    _refuse_if_binary(selection)

    # --- context, nearest first, within both limits ------------------------------
    limit = max(0, int(req.context_lines))
    budget = max(0, int(req.max_context_tokens)) * 4
    before: list[tuple[int, str, bool]] = []
    after: list[tuple[int, str, bool]] = []
    if limit:
        if prefix.strip():
            before.append((si, prefix, True))
        for i in range(si - 1, max(-1, si - 1 - limit), -1):
            if len(before) >= limit:
                break
            before.append((i, _as_text(lines[i]), False))
        if suffix.strip():
            after.append((ei, suffix, True))
        for i in range(ei + 1, min(len(lines), ei + 1 + limit)):
            if len(after) >= limit:
                break
            after.append((i, _as_text(lines[i]), False))
    side_b, side_a, trimmed = _take_context(before, after, budget)
    side_b.texts.reverse()  # back to buffer order

    # --- redaction of everything that is sent ------------------------------------
    redactions = 0

    def hide(text: str, index: int | None = None) -> str:
        nonlocal redactions
        inside = index is not None and starts_inside_private_key(lines, index)
        out, n = redact(text, starts_in_private_key=inside)
        redactions += n
        return out

    instruction = (req.instruction or "").strip() or default_instruction(req.intent)
    instruction = hide(instruction)
    sel_sent = hide(selection, si)
    before_sent = hide("\n".join(side_b.texts), side_b.first_index) if side_b.texts else ""
    after_first = ei + 1 if side_a.texts and not side_a.partial else ei
    after_sent = hide("\n".join(side_a.texts), after_first) if side_a.texts else ""
    diag_lines, diag_more = _diagnostic_lines(req.diagnostics, start_line, end_line)
    diag_sent = hide("\n".join(diag_lines)) if diag_lines else ""

    # --- the user message ----------------------------------------------------------
    ft = (req.filetype or "").strip()
    tag = _FENCE_TAG_RE.sub("", ft)
    numbered = req.intent == "reason"
    where = _range(start_line, end_line)
    total = f" of {req.total_lines}" if req.total_lines else ""
    parts = [instruction, ""]
    parts.append(f"File: {_display_path(req.path, req.root)}")
    if ft:
        parts.append(f"Filetype: {ft}")
    sel_desc = f"Selection: {where}{total}"
    if charwise:
        sel_desc += " (characterwise: only the selected characters, not whole lines)"
    parts.append(sel_desc)
    if numbered:
        parts.append("Code lines below are prefixed with their line numbers (`12 | code`).")

    def render(first: int, text: str) -> str:
        return _numbered(first, text.split("\n")) if numbered else text

    if before_sent:
        b_first = ws + (side_b.first_index or 0)
        b_last = start_line if side_b.partial else start_line - 1
        note = ", ending with the start of the first selected line" if side_b.partial else ""
        parts += [
            "",
            f"Context before the selection ({_range(b_first, b_last)}{note}) - for reference "
            "only, do not change or repeat it:",
            _block(tag, render(b_first, before_sent)),
        ]
    parts += ["", f"Selected code ({where}):", _block(tag, render(start_line, sel_sent))]
    if after_sent:
        a_first = end_line if side_a.partial else end_line + 1
        a_last = ws + (side_a.first_index or 0)
        note = ", starting with the rest of the last selected line" if side_a.partial else ""
        parts += [
            "",
            f"Context after the selection ({_range(a_first, a_last)}{note}) - for reference "
            "only, do not change or repeat it:",
            _block(tag, render(a_first, after_sent)),
        ]
    if diag_sent:
        parts += ["", "Diagnostics in or near the selection:", diag_sent]
        if diag_more:
            parts.append(f"(and {diag_more} more)")
    user = "\n".join(parts)

    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    tokens = estimate_tokens(system) + estimate_tokens(user) + 2 * _MESSAGE_OVERHEAD_TOKENS

    notes: list[str] = []
    if trimmed:
        n_ctx = len(side_b.texts) + len(side_a.texts)
        notes.append(f"context trimmed to {n_ctx} line{'s' if n_ctx != 1 else ''}")
    if redactions:
        notes.append(f"{redactions} secret{'s' if redactions != 1 else ''} redacted")
    return Packed(
        messages=messages,
        selection=selection,
        around=around,
        tokens_est=tokens,
        size_hint=size_hint(tokens),
        redactions=redactions,
        trimmed=trimmed,
        notes=notes,
    )
