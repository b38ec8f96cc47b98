"""Pull the code out of a model's Markdown answer.

The answer is chatter around fenced blocks. Only a fenced block is ever code: prose
is never proposed as a change, and a block in another language (the ``bash``
install command next to the Python fix) is never taken for the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ExtractedCode", "canonical_language", "extract_code"]


@dataclass
class ExtractedCode:
    """The chosen block: its text (fences stripped), its tag, and whether the answer ended.

    ``complete`` is False when the answer's last fence was never closed, i.e. the
    stream stopped mid-block and the code may be cut off.
    """

    code: str
    language: str | None
    complete: bool


# Language tag or Neovim filetype -> one canonical name. Anything missing maps to itself.
_ALIASES: dict[str, str] = {
    "py": "python",
    "py3": "python",
    "python3": "python",
    "python": "python",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "javascript": "javascript",
    "jsx": "javascriptreact",
    "javascriptreact": "javascriptreact",
    "ts": "typescript",
    "mts": "typescript",
    "cts": "typescript",
    "typescript": "typescript",
    "tsx": "typescriptreact",
    "typescriptreact": "typescriptreact",
    "sh": "sh",
    "bash": "sh",
    "zsh": "sh",
    "ksh": "sh",
    "shell": "sh",
    "shellscript": "sh",
    "console": "shellsession",
    "shell-session": "shellsession",
    "shellsession": "shellsession",
    "fish": "fish",
    "rs": "rust",
    "rust": "rust",
    "lua": "lua",
    "luau": "lua",
    "go": "go",
    "golang": "go",
    "c": "c",
    "h": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cxx": "cpp",
    "cc": "cpp",
    "hpp": "cpp",
    "cs": "cs",
    "csharp": "cs",
    "c#": "cs",
    "java": "java",
    "kt": "kotlin",
    "kts": "kotlin",
    "kotlin": "kotlin",
    "rb": "ruby",
    "ruby": "ruby",
    "php": "php",
    "swift": "swift",
    "scala": "scala",
    "hs": "haskell",
    "haskell": "haskell",
    "ex": "elixir",
    "exs": "elixir",
    "elixir": "elixir",
    "erl": "erlang",
    "erlang": "erlang",
    "ml": "ocaml",
    "ocaml": "ocaml",
    "zig": "zig",
    "nim": "nim",
    "dart": "dart",
    "r": "r",
    "pl": "perl",
    "perl": "perl",
    "objc": "objc",
    "objective-c": "objc",
    "vim": "vim",
    "viml": "vim",
    "vimscript": "vim",
    "yml": "yaml",
    "yaml": "yaml",
    "json": "json",
    "jsonc": "json",
    "toml": "toml",
    "ini": "dosini",
    "dosini": "dosini",
    "html": "html",
    "xml": "xml",
    "css": "css",
    "scss": "scss",
    "sql": "sql",
    "md": "markdown",
    "markdown": "markdown",
    "dockerfile": "dockerfile",
    "docker": "dockerfile",
    "make": "make",
    "makefile": "make",
    "cmake": "cmake",
    "diff": "diff",
    "patch": "diff",
    "tex": "tex",
    "latex": "tex",
    "terraform": "terraform",
    "hcl": "hcl",
    "nix": "nix",
    "clojure": "clojure",
    "clj": "clojure",
}

# Tags that say "no particular language": treated like an untagged block.
_UNTAGGED = frozenset({"", "text", "txt", "plain", "plaintext", "none", "code", "output"})

# Filetypes whose code may legitimately come tagged as a close sibling language.
_ALSO_ACCEPTS: dict[str, frozenset[str]] = {
    "javascriptreact": frozenset({"javascript"}),
    "typescriptreact": frozenset({"typescript", "javascriptreact"}),
}

_OPEN_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def canonical_language(name: str | None) -> str | None:
    """Map a fence tag or filetype (``py``, ``bash``, ``c++``) to one canonical name."""
    if name is None:
        return None
    key = name.strip().lower()
    return _ALIASES.get(key, key)


@dataclass
class _Block:
    code: str
    tag: str | None  # the first word of the info string, as written
    closed: bool
    order: int


def _tag_of(info: str) -> str | None:
    """First word of an info string: ``lua title=x`` -> ``lua``, ``{.python}`` -> ``python``.

    Also ``python:src/app.py`` -> ``python`` (a common way models name the file).
    """
    words = info.strip().split()
    if not words:
        return None
    word = words[0].strip("{}").lstrip(".")
    if ":" in word:
        word = word.split(":", 1)[0]
    return word or None


def _strip_indent(line: str, width: int) -> str:
    """Remove up to ``width`` leading whitespace chars, as Markdown does inside indented fences."""
    n = 0
    while n < width and n < len(line) and line[n] in " \t":
        n += 1
    return line[n:]


def _blocks(answer: str) -> list[_Block]:
    lines = answer.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[_Block] = []
    i = 0
    while i < len(lines):
        m = _OPEN_RE.match(lines[i])
        # A backtick fence's info string may not hold backticks (``` `x` ``` is inline code).
        if m is None or (m["fence"][0] == "`" and "`" in m["info"]):
            i += 1
            continue
        char, length, indent = m["fence"][0], len(m["fence"]), len(m["indent"])
        # As in CommonMark, a closer indented 4+ columns past the opener is content: a
        # docstring holding a ``` example must not end the block.
        closer = re.compile(rf"^[ \t]{{0,{indent + 3}}}{re.escape(char)}{{{length},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        closed = False
        while j < len(lines):
            if closer.match(lines[j]):
                closed = True
                break
            body.append(_strip_indent(lines[j], indent))
            j += 1
        if not closed and body and body[-1] == "":
            # The stream's final newline is not a blank line of code.
            body.pop()
        blocks.append(_Block("\n".join(body), _tag_of(m["info"]), closed, len(blocks)))
        i = j + 1
    return blocks


def _longest(blocks: list[_Block]) -> _Block:
    # Longest wins (a usage example after the fix is shorter); on a tie, the first.
    return max(blocks, key=lambda b: (len(b.code), -b.order))


def extract_code(answer: str, filetype: str | None = None) -> ExtractedCode | None:
    """Return the code block of ``answer`` meant for a buffer of ``filetype``, or None.

    Preference: the longest block tagged with the filetype's language; else the
    longest untagged block; else (filetype unknown, or a tag we do not know) the
    longest remaining block. A block tagged with a *different* known language is
    never chosen. No fences at all -> None: chatter is not code.
    """
    all_blocks = _blocks(answer)
    blocks = [b for b in all_blocks if b.code.strip()]
    if not blocks:
        return None
    # The answer as a whole was cut off if its last fence never closed.
    complete = all_blocks[-1].closed

    wanted: set[str] = set()
    if filetype:
        # Compound filetypes ("python.django") match any of their parts.
        for part in filetype.split("."):
            canon = canonical_language(part)
            if canon:
                wanted.add(canon)
                wanted |= _ALSO_ACCEPTS.get(canon, frozenset())

    def canon_tag(b: _Block) -> str | None:
        if b.tag is None or b.tag.lower() in _UNTAGGED:
            return None
        return canonical_language(b.tag)

    matching = [b for b in blocks if canon_tag(b) in wanted] if wanted else []
    untagged = [b for b in blocks if canon_tag(b) is None]
    known = set(_ALIASES.values())
    if not wanted or not (wanted & known):
        # No filetype, or one we have no table for: any tag could be the right one.
        others = blocks
    else:
        others = [b for b in blocks if canon_tag(b) not in known]

    for tier in (matching, untagged, others):
        if tier:
            chosen = _longest(tier)
            return ExtractedCode(code=chosen.code, language=chosen.tag, complete=complete)
    return None
