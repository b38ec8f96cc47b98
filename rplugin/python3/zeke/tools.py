"""Tool policy for MCP tool calls: what is offered, where it may write, what it would change.

Pure: no I/O except resolving paths on disk (``confine_path``). The engine uses
this to decide which server tools the model sees, to refuse paths outside the
project root, and to preview a write as a diff before asking the user.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zeke.errors import ZekeError

if TYPE_CHECKING:  # mcp.py imports this module; avoid the import cycle at run time
    from zeke.mcp import ToolInfo

READ_TOOLS: frozenset[str] = frozenset(
    {
        "read_file",
        "read_text_file",
        "read_multiple_files",
        "list_directory",
        "list_directory_with_sizes",
        "directory_tree",
        "search_files",
        "get_file_info",
        "list_allowed_directories",
        "echo",
    }
)
WRITE_TOOLS: frozenset[str] = frozenset(
    {"write_file", "edit_file", "apply_patch", "create_directory", "move_file"}
)
DESTRUCTIVE_TOOLS: frozenset[str] = frozenset({"delete_file", "shell_execute", "http_request"})

# Names that suggest running code, reaching the network or deleting things. Matched
# anywhere in the lower-cased name, so "run_shell", "fetchUrl" or "remove_dir" from
# an unknown server are never offered by default.
_DESTRUCTIVE_SUBSTRINGS = ("exec", "shell", "run_command", "http", "fetch", "delete", "remove")
# Short words that would match too much as substrings ("rm" in "format"): whole tokens only.
_DESTRUCTIVE_TOKENS = frozenset({"rm", "rmdir", "unlink", "kill", "eval", "spawn", "curl", "wget"})

# Argument names that carry a filesystem path for the tools we know.
_PATH_KEYS = ("path", "source", "destination", "cwd", "file_path", "filepath", "directory")


def _tokens(name: str) -> list[str]:
    """Split snake_case, kebab-case, dotted and camelCase names into lower-case words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def classify(name: str) -> str:
    """Return ``"read"``, ``"write"``, ``"destructive"`` or ``"unknown"`` for a tool name."""
    if name in READ_TOOLS:
        return "read"
    if name in WRITE_TOOLS:
        return "write"
    if name in DESTRUCTIVE_TOOLS:
        return "destructive"
    lowered = name.lower()
    if any(s in lowered for s in _DESTRUCTIVE_SUBSTRINGS):
        return "destructive"
    if any(t in _DESTRUCTIVE_TOKENS for t in _tokens(name)):
        return "destructive"
    return "unknown"


def offered_tools(
    server_tools: Sequence[ToolInfo], *, enable: Iterable[str] = ()
) -> list[ToolInfo]:
    """The server's tools the model may see: read and write tools, plus destructive or
    unknown ones only when the user named them in ``enable``. Server order is kept."""
    enabled = set(enable)
    seen: set[str] = set()
    offered: list[ToolInfo] = []
    for tool in server_tools:
        if tool.name in seen:
            continue
        kind = classify(tool.name)
        if kind in ("read", "write") or tool.name in enabled:
            seen.add(tool.name)
            offered.append(tool)
    return offered


def to_openai_tools(tools: Sequence[ToolInfo]) -> list[dict[str, Any]]:
    """OpenAI ``tools`` entries for the chat request."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
        if not schema:
            schema = {"type": "object", "properties": {}}
        out.append(
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description or "",
                    "parameters": schema,
                },
            }
        )
    return out


def _refuse(message: str) -> ZekeError:
    return ZekeError(message, kind="refused")


def confine_path(path: str, root: str) -> str:
    """Resolve ``path`` (relative to ``root``) to an absolute real path inside ``root``.

    Refuses ``..`` escapes, absolute paths elsewhere and symlinks - in any component,
    including a dangling one a write would create through - that lead outside.
    """
    if not isinstance(path, str) or not path.strip():
        raise _refuse("A tool asked for an empty path; refused.")
    if "\0" in path:
        raise _refuse("A tool asked for a path containing a NUL byte; refused.")
    root_real = os.path.realpath(root)
    # realpath resolves each existing component, follows dangling symlinks to their
    # target and applies ".." after resolving what precedes it, so symlinked
    # directories cannot be used to walk out of the root.
    try:
        real = os.path.realpath(os.path.join(root_real, path))
    except (OSError, ValueError) as exc:
        raise _refuse(f"Cannot resolve {path!r}: {exc}; refused.") from exc
    if real != root_real and not real.startswith(root_real.rstrip(os.sep) + os.sep):
        raise _refuse(f"{path} is outside the project root ({root_real}); refused.")
    return real


def tool_paths(name: str, args: Mapping[str, Any]) -> list[str]:
    """Every path argument a tool call touches, so callers can confine all of them."""
    if not isinstance(args, Mapping):
        raise _refuse(f"Tool {name}: arguments must be an object.")
    found: list[str] = []
    for key in _PATH_KEYS:
        if key not in args or args[key] is None:
            continue
        value = args[key]
        if not isinstance(value, str):
            raise _refuse(f"Tool {name}: argument {key!r} must be a string path.")
        found.append(value)
    if args.get("paths") is not None:
        paths = args["paths"]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise _refuse(f"Tool {name}: argument 'paths' must be a list of string paths.")
        found.extend(paths)
    return found


@dataclass
class ProposedWrite:
    """What a write tool call would do to one file. ``old`` is None when the file
    does not exist yet."""

    path: str
    old: str | None
    new: str


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _edit_once(text: str, old: str, new: str) -> str | None:
    """Replace the first occurrence of ``old`` in ``text`` (all LF line ends).

    Same rules as ``edit_file`` of @modelcontextprotocol/server-filesystem, so that
    the diff the user accepts is what that server then writes: an exact match first,
    else a run of lines equal once stripped, replaced with the first new line put at
    the matched line's indentation and later lines shifted by their indentation
    change against the old line at the same position. Returns None when not found.
    """
    if old in text:
        return text.replace(old, new, 1)
    lines = text.split("\n")
    old_lines = old.split("\n")
    wanted = [ln.strip() for ln in old_lines]
    for start in range(len(lines) - len(old_lines) + 1):
        if [ln.strip() for ln in lines[start : start + len(old_lines)]] != wanted:
            continue
        base = _indent(lines[start])
        replacement = []
        for j, line in enumerate(new.split("\n")):
            if j == 0:
                replacement.append(base + line.lstrip())
                continue
            old_indent = _indent(old_lines[j]) if j < len(old_lines) else ""
            new_indent = _indent(line)
            if old_indent and new_indent:
                shift = max(0, len(new_indent) - len(old_indent))
                replacement.append(base + " " * shift + line.lstrip())
            else:
                replacement.append(line)
        return "\n".join(lines[:start] + replacement + lines[start + len(old_lines) :])
    return None


def _apply_edits(path: str, current: str, edits: Any) -> str:
    if not isinstance(edits, list) or not edits:
        raise _refuse(f"edit_file for {path}: 'edits' must be a non-empty list.")
    crlf = "\r\n" in current
    text = current.replace("\r\n", "\n")
    for n, edit in enumerate(edits, 1):
        if (
            not isinstance(edit, Mapping)
            or not isinstance(edit.get("oldText"), str)
            or not isinstance(edit.get("newText"), str)
        ):
            raise _refuse(f"edit {n} for {path} needs string 'oldText' and 'newText'.")
        if edit["oldText"] == "":
            raise _refuse(f"edit {n} for {path} has an empty oldText; refused.")
        result = _edit_once(
            text, edit["oldText"].replace("\r\n", "\n"), edit["newText"].replace("\r\n", "\n")
        )
        if result is None:
            raise _refuse(f"edit {n} no longer matches {path}; nothing was written.")
        text = result
    # Keep the file's own line ends (the npm server would write LF; Glyph writes what we give).
    return text.replace("\n", "\r\n") if crlf else text


_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _parse_patch(patch: str) -> list[tuple[int, list[str], list[str]]]:
    """Unified diff → hunks as (old start line, old lines, new lines). One file only."""
    hunks: list[tuple[int, list[str], list[str]]] = []
    files = 0
    lines = patch.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            files += 1
            if files > 1:
                raise _refuse("apply_patch touches several files; only one file per call.")
            i += 2
            continue
        m = _HUNK_RE.match(line)
        if not m:
            i += 1
            continue
        old_len = int(m.group(2)) if m.group(2) is not None else 1
        new_len = int(m.group(4)) if m.group(4) is not None else 1
        old: list[str] = []
        new: list[str] = []
        i += 1
        while i < len(lines) and (len(old) < old_len or len(new) < new_len):
            body = lines[i]
            if body.startswith("\\"):  # "\ No newline at end of file"
                i += 1
                continue
            tag, rest = (body[:1], body[1:]) if body else (" ", "")
            if tag == " ":
                old.append(rest)
                new.append(rest)
            elif tag == "-":
                old.append(rest)
            elif tag == "+":
                new.append(rest)
            else:
                raise _refuse(f"apply_patch: malformed hunk line {body!r}.")
            i += 1
        if len(old) != old_len or len(new) != new_len:
            raise _refuse("apply_patch: a hunk is shorter than its header says.")
        hunks.append((int(m.group(1)), old, new))
    if not hunks:
        raise _refuse("apply_patch: the patch has no hunks.")
    return hunks


def _apply_patch(path: str, current: str | None, patch: Any) -> str:
    if not isinstance(patch, str) or not patch.strip():
        raise _refuse(f"apply_patch for {path}: the patch is empty.")
    hunks = _parse_patch(patch)
    text = current or ""
    nl = "\r\n" if "\r\n" in text else "\n"
    ends_with_nl = text.endswith(("\n", "\r\n")) or not current
    lines = text.splitlines()
    out: list[str] = []
    pos = 0  # next unconsumed line of the original
    for start, old, new in hunks:
        # Where the header says (0-based), else the nearest place it still fits:
        # the file may have shifted by a few lines since the diff was made.
        expected = max(start - 1, 0) if old else start
        candidates = sorted(range(pos, len(lines) - len(old) + 1), key=lambda s: abs(s - expected))
        at = next((s for s in candidates if lines[s : s + len(old)] == old), None)
        if at is None:
            raise _refuse(f"apply_patch does not apply to {path} any more; nothing was written.")
        out.extend(lines[pos:at])
        out.extend(new)
        pos = at + len(old)
    out.extend(lines[pos:])
    result = nl.join(out)
    if out and ends_with_nl:
        result += nl
    return result


def proposed_write(name: str, args: Mapping[str, Any], current: str | None) -> ProposedWrite:
    """What the file at ``args["path"]`` would become if the tool call ran on ``current``
    (its content now, None when it does not exist)."""
    if not isinstance(args, Mapping):
        raise _refuse(f"Tool {name}: arguments must be an object.")
    path = args.get("path")
    if not isinstance(path, str) or not path:
        raise _refuse(f"Tool {name} needs a 'path' argument.")
    if name == "write_file":
        content = args.get("content")
        if not isinstance(content, str):
            raise _refuse(f"write_file for {path} needs a string 'content'.")
        return ProposedWrite(path=path, old=current, new=content)
    if name == "edit_file":
        if current is None:
            raise _refuse(f"Cannot edit {path}: the file does not exist.")
        return ProposedWrite(
            path=path, old=current, new=_apply_edits(path, current, args.get("edits"))
        )
    if name == "apply_patch":
        patch = next((args[k] for k in ("patch", "diff", "input") if k in args), None)
        return ProposedWrite(path=path, old=current, new=_apply_patch(path, current, patch))
    raise _refuse(f"Tool {name} does not write file content that zeke can preview.")


def args_digest(args: Any) -> str:
    """A stable short digest of tool arguments for the audit log (never the args themselves)."""
    canonical = json.dumps(
        args, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
