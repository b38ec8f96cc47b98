"""Keeping zeke's one secret, the router key, out of what servers send back.

A router or a tool server may echo the key it was handed: in a header, a routing
field, the answer, a tool call's arguments, an error, a tool result. Text from a
server goes through a ``Scrubber`` once, where it enters zeke (``backends/http.py`` for
HTTP, ``tools/mcp/`` for tool servers), so no sink further on (the cache, the log,
the editor, the tool server itself) has to know about the key.

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["MIN_SECRET", "REDACTED", "Scrubber", "StreamScrubber"]

REDACTED = "[redacted]"
# Shorter values are not treated as secrets: masking a 3-letter "key" in every
# answer would mangle ordinary text, and no real router key is that short.
MIN_SECRET = 8


def _forms(secret: str) -> set[str]:
    """The ways a server may write the value back: as is, JSON-escaped (``\\"``,
    ``\\/``) inside a raw body, and percent-encoded (a URL it echoes)."""
    forms = {secret, json.dumps(secret)[1:-1], secret.replace("/", "\\/")}
    forms.add(quote(secret, safe=""))
    return {f for f in forms if f}


class Scrubber:
    """Replaces every known secret with ``[redacted]``, in text, bytes and JSON-like data."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {s.strip() for s in secrets if isinstance(s, str)}
        forms: set[str] = set()
        for value in values:
            if len(value) >= MIN_SECRET:
                forms |= _forms(value)
        # longest first: one form may contain another
        self.forms: list[str] = sorted(forms, key=len, reverse=True)
        self._bytes = [f.encode("utf-8") for f in self.forms]

    def __bool__(self) -> bool:
        return bool(self.forms)

    def text(self, value: str) -> str:
        for form in self.forms:
            if form in value:
                value = value.replace(form, REDACTED)
        return value

    def data(self, value: bytes) -> bytes:
        for form in self._bytes:
            if form in value:
                value = value.replace(form, REDACTED.encode())
        return value

    def deep(self, value: Any) -> Any:
        """Strings anywhere in dicts (keys too) and lists; other values as they are."""
        if not self.forms:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.deep(k): self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.deep(v) for v in value)
        if isinstance(value, (bytes, bytearray)):
            return self.data(bytes(value))
        return value

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {self.text(str(k)): self.text(str(v)) for k, v in headers.items()}

    def stream(self) -> StreamScrubber:
        return StreamScrubber(self)


class StreamScrubber:
    """Text that arrives in pieces (answer deltas). A secret cut across two pieces is
    still caught: a tail that could be the start of a secret is held back until the
    next piece shows what it is (never more than the secret's length minus one
    characters), and ``flush`` gives it back at the end of the stream."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._pending = ""

    def feed(self, piece: str) -> str:
        if not self._scrubber:
            return piece
        text = self._scrubber.text(self._pending + piece)
        keep = self._held(text)
        self._pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self._scrubber.text(text)

    def _held(self, text: str) -> int:
        """The length of the longest tail of ``text`` that begins some secret."""
        best = 0
        for form in self._scrubber.forms:
            for k in range(min(len(form) - 1, len(text)), best, -1):
                if text.endswith(form[:k]):
                    best = k
                    break
        return best
