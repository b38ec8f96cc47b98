"""Incremental Server-Sent Events parser (the WHATWG framing, bytes in, events out).

OMEN forwards upstream bytes per TCP read, so an event can arrive split across
reads (even inside a multibyte character or between the ``\\r`` and ``\\n`` of one
line end) and several events can arrive in one read.  The parser keeps whatever
is incomplete and never raises, whatever bytes it is given.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event. ``event`` is None when no ``event:`` field was given."""

    event: str | None
    data: str
    id: str | None


class SSEParser:
    """Feed raw bytes as they arrive; get back the events they complete."""

    def __init__(self) -> None:
        # errors="replace": a broken byte must cost one character, not the stream.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False  # a BOM is only meaningful at the very start
        self._partial: list[str] = []  # pieces of the current, unterminated line
        self._skip_lf = False  # last text ended in "\r": a leading "\n" belongs to it
        self._event: str | None = None
        self._data: list[str] = []
        self._has_data = False
        self._last_id: str | None = None
        self._closed = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse one read's worth of bytes; return the events it completed."""
        if self._closed or not chunk:
            return []
        return self._feed_text(self._decoder.decode(bytes(chunk)))

    def close(self) -> list[SSEEvent]:
        """End of stream: finish a last unterminated line and a pending event.

        Proxies often drop the final blank line, so a pending event that has data
        is dispatched rather than thrown away.
        """
        if self._closed:
            return []
        events = self._feed_text(self._decoder.decode(b"", final=True))
        self._closed = True
        if self._partial:
            line = "".join(self._partial)
            self._partial = []
            self._line(line, events)
        if self._has_data:
            self._dispatch(events)
        return events

    def _feed_text(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if not text:
            return events
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        pos = 0
        # Only the new text is scanned: the kept partial line has no line end in it.
        for m in _LINE_END.finditer(text):
            piece = text[pos : m.start()]
            if self._partial:
                self._partial.append(piece)
                line = "".join(self._partial)
                self._partial = []
            else:
                line = piece
            pos = m.end()
            if m.group() == "\r" and pos == len(text):
                self._skip_lf = True
            self._line(line, events)
        if pos < len(text):
            self._partial.append(text[pos:])
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._has_data:
                self._dispatch(events)
            else:
                self._event = None
            return
        if line[0] == ":":
            return  # comment / keepalive
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value or None
        elif name == "id" and "\x00" not in value:
            # The spec ignores ids containing NUL; they would poison Last-Event-ID.
            self._last_id = value
        # "retry" and unknown fields are ignored, as the spec says.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        events.append(SSEEvent(event=self._event, data="\n".join(self._data), id=self._last_id))
        self._event = None
        self._data = []
        self._has_data = False
