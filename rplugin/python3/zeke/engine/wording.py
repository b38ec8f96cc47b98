"""What a user reads about a request: "zeke:" first, and no control characters from
a server (they would garble Neovim's message line)."""

from __future__ import annotations


def printable(text: str) -> str:
    """Text from a server, safe to show: control characters become "?"."""
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


def prefixed(msg: str) -> str:
    """A user-facing message: "zeke:" first, no control characters from a server."""
    msg = printable(msg)
    return msg if msg.startswith("zeke:") else f"zeke: {msg}"
