"""Tool policy for MCP tool calls: what is offered, where it may write, what it would change.

Pure: no I/O except looking paths up on disk (``confine_path``, and whether a
string names an existing file in ``looks_like_path``). The engine uses this to
decide which server tools the model sees, to find every path in a call and refuse
those outside the project root (or, for writes, inside ``.git``), and to preview
a write as a diff before asking the user.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from zeke.errors import ZekeError
from zeke.tools.names import classify, words

if TYPE_CHECKING:
    from zeke.tools.mcp import ToolInfo

# Argument names that carry a filesystem path for the tools we know.
_PATH_KEYS = ("path", "source", "destination", "cwd", "file_path", "filepath", "directory")


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


def refuse_git_internals(real: str, root: str) -> None:
    """Refuse a write inside a ``.git`` directory (hooks, config: code that git runs),
    wherever it is under the project; ``real`` is a path from ``confine_path``."""
    rel = os.path.relpath(real, os.path.realpath(root))
    if ".git" in rel.split(os.sep):
        raise _refuse(f"{real} is inside a .git directory; tools may not change it; refused.")


def tool_paths(
    name: str,
    args: Mapping[str, Any],
    schema: Mapping[str, Any] | None = None,
    root: str | None = None,
) -> list[str]:
    """Every path argument a tool call touches, so callers can confine all of them."""
    return [value for _where, value in path_arguments(name, args, schema, root)]


# Which arguments hold paths. Tool servers name them freely (``repo_path``, ``cwd``,
# ``files``, ``workingDirectory``…), so a fixed list of names is not enough:
#
# 1. by name: an argument whose name (split into words: snake_case, camelCase) has a
#    word from _PATH_WORDS, or a word ending in path/file/dir ("filepath", "subdir");
# 2. by the tool's input schema: a property whose description speaks of a path,
#    directory or folder, or whose ``format`` does; arrays of them too;
# 3. by the value, for every other string, however deeply nested: it looks like a path
#    when it is a ``file:`` URL, starts with ``/``, ``~``, ``./`` or ``../`` (or is
#    ``.``, ``..``, ``~``), or has a ``/`` and no white space; a string with white
#    space counts only when such a file exists. Strings with a line break or a control
#    character, longer than a path can be, or in an argument whose name says it is
#    text (content, message, patch, …) are never taken for paths by their value, so
#    a file's content or a commit message is not refused for mentioning "/etc".
#    A plain word ("notes.txt") counts when it names an existing file or link, so a
#    symlink in the project pointing elsewhere is followed and refused.
#
# A string taken for a path is only refused when it resolves outside the project;
# an ordinary value that merely looks like a relative path ("origin/main") resolves
# inside it and passes.
_PATH_WORDS = frozenset(
    {
        "path", "paths", "file", "files", "filename", "filenames", "filepath", "filepaths",
        "dir", "dirs", "directory", "directories", "folder", "folders", "root", "roots",
        "repo", "repos", "repository", "repositories", "cwd", "workdir", "worktree",
        "source", "sources", "destination", "destinations", "src", "dst", "dest",
    }
)  # fmt: skip
_PATH_SUFFIXES = ("path", "paths", "file", "files", "dir", "dirs", "folder")
_TEXT_WORDS = frozenset(
    {
        "content", "contents", "text", "body", "message", "msg", "description", "comment",
        "title", "patch", "diff", "data", "old", "new", "replacement", "prompt", "query",
    }
)  # fmt: skip
_DESCRIBES_A_PATH = re.compile(r"(?i)\b(path|paths|directory|directories|folder|folders)\b")
_MAX_PATH = 4096


def _is_path_name(key: str) -> bool:
    parts = words(key)
    return any(w in _PATH_WORDS or w.endswith(_PATH_SUFFIXES) for w in parts)


def _is_text_name(key: str) -> bool:
    return any(w in _TEXT_WORDS for w in words(key))


def schema_path_keys(schema: Mapping[str, Any] | None) -> set[str]:
    """Property names anywhere in an input schema that hold paths: by name, or by
    what their ``description`` or ``format`` says (``"The path to the repository"``)."""
    found: set[str] = set()

    def visit(node: Any, depth: int) -> None:
        if depth > 20 or not isinstance(node, Mapping):
            return
        props = node.get("properties")
        if isinstance(props, Mapping):
            for key, spec in props.items():
                if not isinstance(key, str):
                    continue
                if _is_path_name(key) or _describes_a_path(spec):
                    found.add(key)
                visit(spec, depth + 1)
        for sub in ("items", "additionalProperties"):
            visit(node.get(sub), depth + 1)
        for sub in ("anyOf", "oneOf", "allOf"):
            alts = node.get(sub)
            for alt in alts if isinstance(alts, list) else ():
                visit(alt, depth + 1)

    visit(schema, 0)
    return found


def _describes_a_path(spec: Any) -> bool:
    if not isinstance(spec, Mapping):
        return False
    fmt = spec.get("format")
    if isinstance(fmt, str) and any(w in fmt.lower() for w in ("path", "dir", "file")):
        return True
    for key in ("description", "title"):
        text = spec.get(key)
        if isinstance(text, str) and _DESCRIBES_A_PATH.search(text):
            return True
    items = spec.get("items")
    return isinstance(items, Mapping) and _describes_a_path(items)


def looks_like_path(value: str, root: str | None = None) -> bool:
    """Whether a string argument not named as a path would still be read as one (3.
    above). ``root`` is where relative paths are looked up for existence."""
    if not value or len(value) > _MAX_PATH or not value.isprintable():
        return False
    if value.lower().startswith("file:"):
        return True
    if not any(c.isspace() for c in value):
        if value in (".", "..", "~") or value.startswith(("/", "~", "./", "../")):
            return True
        if "/" in value:
            return True
    return _exists(os.path.expanduser(value), root)


def _exists(value: str, root: str | None) -> bool:
    if not os.path.isabs(value) and root is None:
        return False  # relative to nothing known: not looked up
    where = value if os.path.isabs(value) else os.path.join(root or "", value)
    try:
        return os.path.lexists(where)
    except (OSError, ValueError):
        return False


def _as_path(value: str) -> str:
    """What the tool server would open: ``file:`` URLs and ``~`` spelled out."""
    if value.lower().startswith("file:"):
        parts = urlsplit(value)
        value = unquote(parts.path) or "/"
    return os.path.expanduser(value) if value.startswith("~") else value


def path_arguments(
    name: str,
    args: Mapping[str, Any],
    schema: Mapping[str, Any] | None = None,
    root: str | None = None,
) -> list[tuple[str, str]]:
    """(where, path) for every argument of a call that is or looks like a path: the
    argument's dotted name (``options.cwd``, ``files[1]``) and the path as the server
    would read it. Refuses a known path argument that is not a string."""
    if not isinstance(args, Mapping):
        raise _refuse(f"Tool {name}: arguments must be an object.")
    found: list[tuple[str, str]] = []
    for key in _PATH_KEYS:
        if key in args and args[key] is not None and not isinstance(args[key], str):
            raise _refuse(f"Tool {name}: argument {key!r} must be a string path.")
    if args.get("paths") is not None:
        paths = args["paths"]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise _refuse(f"Tool {name}: argument 'paths' must be a list of string paths.")
    named = schema_path_keys(schema)
    # the usual path argument first: callers show (and rewrite) it
    ordered = sorted(args.items(), key=lambda kv: kv[0] != "path")
    walk = _Walk(named, root, found)
    for key, value in ordered:
        walk.argument(str(key), str(key), value, 0)
    return found


@dataclass
class _Walk:
    """One pass over a call's arguments, collecting (where, path)."""

    named: set[str]  # path properties by the schema
    root: str | None
    found: list[tuple[str, str]]

    def argument(self, where: str, key: str, value: Any, depth: int) -> None:
        is_path = key in _PATH_KEYS or key in self.named or _is_path_name(key)
        self.value(where, value, is_path=is_path, text=_is_text_name(key), depth=depth)

    def value(self, where: str, value: Any, *, is_path: bool, text: bool, depth: int) -> None:
        if depth > 20:
            raise _refuse("Tool arguments are nested too deeply; refused.")
        if isinstance(value, str):
            if is_path or (not text and looks_like_path(value, self.root)):
                self.found.append((where, _as_path(value)))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.value(f"{where}[{i}]", item, is_path=is_path, text=text, depth=depth + 1)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.argument(f"{where}.{key}", str(key), item, depth + 1)


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
