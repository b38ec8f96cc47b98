"""What every transport shares: the JSON-RPC wire format and the errors of a connection.

A message is one JSON object (or a batch) per line, frame or body. Servers mix log
lines into that stream and echo our ids as strings, so parsing here skips anything
that is not a JSON-RPC message and ids are normalised before they are matched.
``Transport`` is the interface the connection reads and writes through; it scrubs
the router key out of everything it receives before parsing it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from zeke.errors import ZekeError
from zeke.scrub import Scrubber

log = logging.getLogger("zeke.tools.mcp")  # one logger for the whole client

PROTOCOL_VERSION = "2025-06-18"
MAX_MESSAGE = 64 * 1024 * 1024  # a read_file of a big file is one JSON line


class MCPError(ZekeError):
    """A tool server failed: could not be reached (``unreachable``), did not answer in
    time (``timeout``), answered with a JSON-RPC error (``http``, ``code`` = the
    server's code as a string) or sent something we cannot read (``stream``)."""


class Lost(Exception):
    """The connection went away. ``sent`` says whether the request may have reached
    the server (then retrying is only safe for read-only calls)."""

    def __init__(self, *, sent: bool, detail: str = "") -> None:
        super().__init__(detail or "connection lost")
        self.sent = sent
        self.detail = detail


def _is_message(obj: Any) -> bool:
    """A JSON-RPC message, as opposed to a JSON-formatted log line."""
    return isinstance(obj, dict) and (
        "method" in obj or ("id" in obj and ("result" in obj or "error" in obj))
    )


def parse_payload(data: bytes | str) -> Any:
    """A JSON-RPC message or batch from one line/frame, or None for anything else."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    if not text:
        return None
    if text[0] not in "{[":
        log.debug("skipping non-JSON output: %.200s", text)
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        log.debug("skipping unparsable line: %.200s", text)
        return None
    if isinstance(obj, list):
        batch = [m for m in obj if _is_message(m)]
        return batch or None
    return obj if _is_message(obj) else None


def dumps(msg: Mapping[str, Any]) -> str:
    # json.dumps escapes newlines inside strings, so this is always one non-blank line:
    # a blank line on Glyph's stdin would stop it.
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"))


def norm_id(value: Any) -> Any:
    """Servers may echo our integer ids as strings."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


class Transport:
    """Moves JSON-RPC messages. ``receive`` returns None at end of stream; ``send``
    raises ``Lost`` when the peer is gone."""

    protocol_version: str = PROTOCOL_VERSION
    # Set by the client: what nothing from the server may carry into zeke (the
    # router key). Applied to every line, frame, body and stderr line received.
    scrubber: Callable[[], Scrubber] = Scrubber

    def _parse(self, data: bytes | str) -> Any:
        scrub = self.scrubber()
        return parse_payload(scrub.data(data) if isinstance(data, bytes) else scrub.text(data))

    async def send(self, msg: Mapping[str, Any]) -> None:
        raise NotImplementedError

    async def receive(self) -> Any:
        raise NotImplementedError

    def aux_tasks(self) -> list[Callable[[], Awaitable[None]]]:
        return []

    async def exit_detail(self) -> str:
        """Why the peer went away, for the user's error message ("" if unknown)."""
        return ""

    async def aclose(self) -> None:
        raise NotImplementedError
