"""What a user reads about a request: "zeke:" first, and no control characters from
a server (they would garble Neovim's message line)."""

from __future__ import annotations

from urllib.parse import urlsplit


def printable(text: str) -> str:
    """Text from a server, safe to show: control characters become "?"."""
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


def prefixed(msg: str) -> str:
    """A user-facing message: "zeke:" first, no control characters from a server."""
    msg = printable(msg)
    return msg if msg.startswith("zeke:") else f"zeke: {msg}"


def router_name(api_base: str, *, known_omen: bool) -> str:
    """The router as a message names it: "OMEN" once it is known to be OMEN (it sent
    X-OMEN-* headers, or listed OMEN's prices), else "the router at HOST:PORT" — zeke
    may be talking to LiteLLM, llama.cpp's server or any OpenAI-compatible proxy."""
    if known_omen:
        return "OMEN"
    parts = urlsplit(api_base)
    where = parts.netloc.rpartition("@")[2] or api_base
    return f"the router at {where}"


def capitalized(name: str) -> str:
    """A name at the start of a sentence ("The router at …")."""
    return name[:1].upper() + name[1:]
