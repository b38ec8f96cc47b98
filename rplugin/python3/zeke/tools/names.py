"""What a tool's name says about it: read, write, destructive or unknown.

Shared by the MCP client (which retries only read-only calls after a lost
connection) and the tool policy (which offers only read and write tools by default).
"""

from __future__ import annotations

import re

__all__ = ["DESTRUCTIVE_TOOLS", "READ_TOOLS", "WRITE_TOOLS", "classify", "words"]

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


def words(name: str) -> list[str]:
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
    if any(t in _DESTRUCTIVE_TOKENS for t in words(name)):
        return "destructive"
    return "unknown"
