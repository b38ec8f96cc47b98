"""Where generated tests go, and how they are merged into that file.

Conventions per language (Python ``tests/test_x.py``, Go ``x_test.go``, JS/TS
``x.test.ts``, Lua ``tests/x_spec.lua``, Rust's in-file ``mod tests``); other
filetypes use the user's ``test_paths.<filetype>`` pattern.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

from zeke.errors import ZekeError

__all__ = ["TestTarget", "merge_tests", "test_target"]


@dataclass
class TestTarget:
    """The file the tests go to; ``mode`` is "create", "append" or "rust_mod"."""

    __test__ = False  # not a pytest test class, despite the name

    path: str
    exists: bool
    mode: str


_JS_FILETYPES = {
    "javascript": "js",
    "typescript": "ts",
    "javascriptreact": "jsx",
    "typescriptreact": "tsx",
}

_PLACEHOLDER_RE = re.compile(r"\{(root|dir|stem|ext)\}")


def _split(path: str) -> tuple[str, str, str]:
    """``/a/b/x.test.ts`` -> (``/a/b``, ``x.test``, ``ts``); the extension has no dot."""
    directory, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    return directory, stem, ext.lstrip(".")


def _is_test_file(path: str, root: str, ft: str) -> bool:
    name = os.path.basename(path)
    parts = os.path.relpath(path, root).replace(os.sep, "/").split("/")[:-1]
    if ft == "python":
        return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    if ft == "go":
        return name.endswith("_test.go")
    if ft in _JS_FILETYPES:
        return bool(re.search(r"\.(test|spec)\.[^.]+$", name)) or "__tests__" in parts
    if ft == "lua":
        return name.endswith(("_spec.lua", "_test.lua"))
    if ft == "rust":
        # Integration tests: <crate>/tests/*.rs are test files as a whole.
        return "tests" in parts
    return False


def _from_pattern(pattern: str, ft: str, root: str, directory: str, stem: str, ext: str) -> str:
    values = {"root": root, "dir": directory, "stem": stem, "ext": ext}
    unknown = [p for p in re.findall(r"\{([^{}]*)\}", pattern) if p not in values]
    if unknown or pattern.count("{") != pattern.count("}"):
        raise ZekeError(
            f"test_paths.{ft} = {pattern!r} is not a valid pattern: use only the "
            "placeholders {root}, {dir}, {stem} and {ext}.",
            kind="config",
        )
    path = _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], pattern)
    if not path.strip():
        raise ZekeError(f"test_paths.{ft} gives an empty path.", kind="config")
    return os.path.normpath(os.path.join(root, os.path.expanduser(path)))


def _matches_pattern(path: str, pattern: str, root: str, directory: str) -> bool:
    """Is ``path`` itself something ``pattern`` produces (i.e. already a test file)?"""
    pieces = []
    for piece in re.split(r"(\{(?:root|dir|stem|ext)\})", pattern):
        if piece == "{root}":
            pieces.append(re.escape(root))
        elif piece == "{dir}":
            pieces.append(re.escape(directory))
        elif piece == "{stem}":
            pieces.append(r"[^/\\]+")
        elif piece == "{ext}":
            pieces.append(r"[^/\\.]*")
        else:
            pieces.append(re.escape(piece))
    regex = re.compile("".join(pieces))
    # A relative pattern is relative to the root.
    return bool(regex.fullmatch(path) or regex.fullmatch(os.path.relpath(path, root)))


def test_target(
    source_path: str,
    filetype: str,
    root: str,
    overrides: Mapping[str, str] | None = None,
) -> TestTarget:
    """The test file for ``source_path``: conventional path, whether it exists, merge mode.

    A user pattern in ``overrides[filetype]`` (placeholders ``{root}``, ``{dir}``,
    ``{stem}``, ``{ext}`` — ext without its dot) wins over the built-in convention.
    A source that already is a test file is its own target.
    """
    root = os.path.normpath(os.path.abspath(os.path.expanduser(root)))
    source = os.path.normpath(os.path.join(root, os.path.expanduser(source_path)))
    directory, stem, ext = _split(source)
    ft = (filetype or "").strip()
    base_ft = ft.split(".")[0]  # compound filetypes like "python.django"
    pattern = None
    if overrides:
        pattern = overrides.get(ft) or overrides.get(base_ft)

    if pattern is not None:
        if _matches_pattern(source, pattern, root, directory):
            path = source
        else:
            path = _from_pattern(pattern, ft, root, directory, stem, ext)
    elif base_ft not in ("python", "go", "lua", "rust", *_JS_FILETYPES):
        key = ft or "<filetype>"
        raise ZekeError(
            f"zeke has no test file convention for filetype {ft or '(none)'!r}. "
            f'Set test_paths.{key} in your zeke config, e.g. "{{dir}}/{{stem}}_test.{{ext}}" '
            "(placeholders: {root}, {dir}, {stem}, {ext}).",
            kind="config",
        )
    elif _is_test_file(source, root, base_ft):
        path = source
    elif base_ft == "python":
        path = os.path.join(root, "tests", f"test_{stem}.py")
    elif base_ft == "go":
        path = os.path.join(directory, f"{stem}_test.go")
    elif base_ft in _JS_FILETYPES:
        path = os.path.join(directory, f"{stem}.test.{ext or _JS_FILETYPES[base_ft]}")
    elif base_ft == "lua":
        path = os.path.join(root, "tests", f"{stem}_spec.lua")
    else:  # rust: the tests live in the source file's own `#[cfg(test)] mod tests`
        path = source

    exists = os.path.isfile(path)
    if base_ft == "rust" and pattern is None and not _is_test_file(source, root, "rust"):
        mode = "rust_mod"
    else:
        mode = "append" if exists else "create"
    return TestTarget(path=path, exists=exists, mode=mode)


# Its name starts with "test": keep pytest from collecting it where it is imported.
test_target.__test__ = False  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- merging


def _with_newline(text: str) -> str:
    text = text.rstrip("\n")
    return text + "\n" if text else ""


def _is_single_line_python_import(line: str) -> bool:
    if not line.startswith(("import ", "from ")):
        return False
    if line.startswith("from ") and " import " not in line:
        return False
    # A parenthesised or continued import spans lines; dropping one line would break it.
    return line.count("(") == line.count(")") and not line.rstrip().endswith("\\")


def _merge_python(existing: str, generated: str) -> str:
    have = set(existing.splitlines())
    kept = []
    for line in generated.splitlines():
        if _is_single_line_python_import(line) and (
            line in have or line.startswith("from __future__ ")
        ):
            # Already imported; and a __future__ import is only legal at the top of a file.
            continue
        kept.append(line)
    return "\n".join(kept)


def _merge_go(existing: str, generated: str) -> str:
    if not re.search(r"(?m)^package\s+\w+", existing):
        return generated
    lines = generated.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^package\s+\w+", line):
            del lines[i]
            break
    return "\n".join(lines)


_RAW_STR_RE = re.compile(r'b?r(#*)"')
_CHAR_RE = re.compile(r"'(?:\\(?:u\{[0-9a-fA-F]*\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'")


def _mask_rust(src: str) -> str:
    """``src`` with comments and string/char literal contents blanked (same length).

    Lets a plain regex / brace counter see only real code.
    """
    out = list(src)
    i, n = 0, len(src)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif (m := _RAW_STR_RE.match(src, i)) and (
            i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")
        ):
            close = '"' + m.group(1)
            j = src.find(close, m.end())
            j = n if j < 0 else j + len(close)
            blank(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            blank(i, j)
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') versus a lifetime ('a).
            m = _CHAR_RE.match(src, i)
            if m:
                blank(i, m.end())
                i = m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


_TESTS_MOD_RE = re.compile(
    r"(?:#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+tests\s*\{"
)
_BARE_TESTS_MOD_RE = re.compile(r"(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+tests\s*\{")
_USE_SUPER_RE = re.compile(r"^\s*use\s+super::\*\s*;\s*$")


def _closing_brace(masked: str, open_at: int) -> int | None:
    """Index of the ``}`` matching the ``{`` at ``open_at`` in masked source."""
    depth = 0
    for k in range(open_at, len(masked)):
        if masked[k] == "{":
            depth += 1
        elif masked[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return None


def _tests_module(src: str, pattern: re.Pattern[str]) -> tuple[int, int, int] | None:
    """(start of the module item, its ``{``, its ``}``) of the first ``mod tests`` found."""
    masked = _mask_rust(src)
    for m in pattern.finditer(masked):
        close = _closing_brace(masked, m.end() - 1)
        if close is not None:
            return m.start(), m.end() - 1, close
    return None


def _rust_test_items(generated: str) -> str:
    """The model's tests without its own ``mod tests { ... }`` wrapper, dedented."""
    found = _tests_module(generated, _BARE_TESTS_MOD_RE)
    body = generated[found[1] + 1 : found[2]] if found else generated
    return textwrap.dedent(body).strip("\n")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.split("\n"))


def _merge_rust(existing: str, generated: str) -> str:
    items = _rust_test_items(generated)
    found = _tests_module(existing, _TESTS_MOD_RE)
    if found is None:
        items = "\n".join(ln for ln in items.split("\n") if not _USE_SUPER_RE.match(ln))
        items = items.strip("\n")
        block = (
            "#[cfg(test)]\nmod tests {\n    use super::*;\n\n" + _indent(items, "    ") + "\n}\n"
        )
        head = existing.rstrip("\n")
        return head + "\n\n" + block if head else block

    _, open_at, close_at = found
    module_body = existing[open_at + 1 : close_at]
    have = {ln.strip() for ln in module_body.split("\n") if ln.strip().startswith("use ")}
    kept = []
    for ln in items.split("\n"):
        stripped = ln.strip()
        # The module's own `use` lines already cover these; a repeated `use` is E0252.
        if stripped.startswith("use ") and not ln.startswith((" ", "\t")) and stripped in have:
            continue
        if _USE_SUPER_RE.match(ln) and "use super::*;" in have:
            continue
        kept.append(ln)
    items = "\n".join(kept).strip("\n")
    if not items.strip():
        return existing

    line_start = existing.rfind("\n", 0, close_at) + 1
    brace_indent = existing[line_start:close_at]
    if brace_indent.strip():
        brace_indent = ""  # the `}` shares its line with code; put it on its own line
    head = existing[:close_at].rstrip()
    sep = "\n" if head.endswith("{") else "\n\n"
    return (
        head
        + sep
        + _indent(items, brace_indent + "    ")
        + "\n"
        + brace_indent
        + existing[close_at:]
    )


def merge_tests(existing: str | None, generated: str, mode: str, filetype: str) -> str:
    """The full new content of the test file once ``generated`` is merged into ``existing``.

    create: the generated tests; append: existing, a blank line, the generated
    tests (Python drops imports the file already has, Go a repeated ``package``);
    rust_mod: into the file's ``#[cfg(test)] mod tests`` (made if missing).
    """
    base_ft = (filetype or "").split(".")[0]
    generated = generated.replace("\r\n", "\n")
    existing = (existing or "").replace("\r\n", "\n")
    if mode == "create":
        return _with_newline(generated)
    if mode == "append":
        if not existing.strip():
            return _with_newline(generated)
        if base_ft == "python":
            generated = _merge_python(existing, generated)
        elif base_ft == "go":
            generated = _merge_go(existing, generated)
        body = generated.strip("\n")
        if not body.strip():
            return _with_newline(existing)
        gap = "\n\n\n" if base_ft == "python" else "\n\n"  # PEP 8: two blank lines
        return existing.rstrip("\n") + gap + body + "\n"
    if mode == "rust_mod":
        return _merge_rust(existing, generated)
    raise ZekeError(
        f"Unknown test merge mode {mode!r} (expected create, append or rust_mod).",
        kind="internal",
    )
