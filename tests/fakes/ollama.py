"""A scripted fake of Ollama (degraded mode), for tests.

Real quirks it reproduces (docs/design.md §15):

* ``GET /`` (and ``HEAD /``) → ``Ollama is running``; ``GET /api/version``;
  ``GET /api/tags`` in Ollama's shape (name, model, size, digest, details);
  unknown paths → Go's plain ``404 page not found``.
* ``POST /api/chat`` streams **NDJSON** (``application/x-ndjson``): one object
  per line, no ``data:``, no ``[DONE]``; lines are split across writes by
  default, the way a socket delivers them; the final object has ``done: true``,
  ``done_reason``, token counts and durations in **nanoseconds**.
* Tool calls come whole, ``arguments`` as a JSON **object**, **without ids**.
* A model that is not pulled → **404** ``{"error":"model \\"x\\" not found, try
  pulling it first"}`` (names without a tag mean ``:latest``); an error can also
  arrive as a ``{"error": "..."}`` line in the middle of the stream.

The server's own checks run before a queued reply is used and do not consume it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .serving import FakeServer, Recorded, Reply, cut, json_reply, text_reply

__all__ = ["FakeOllama", "OllamaStreamReply", "Recorded", "Reply", "ollama_error", "ollama_stream"]

CREATED_AT = "2025-01-01T00:00:00.000000Z"
MID_STREAM_ERROR = "an error was encountered while running the model: unexpected EOF"


@dataclass
class OllamaStreamReply:
    """A streamed ``/api/chat`` answer, rendered when the request arrives."""

    pieces: list[str]
    model: str | None = None
    split: str = "random"
    tool_calls: list[tuple[str, dict]] | None = None
    error_after: int | None = None
    done: bool = True
    first_byte_delay: float = 0.0
    delay: float = 0.0
    done_reason: str = "stop"
    seed: int = 0

    def lines(self, model: str) -> list[bytes]:
        """The NDJSON lines, one complete line each."""

        def line(obj: dict) -> bytes:
            return json.dumps(obj).encode() + b"\n"

        def msg(content: str, **extra: Any) -> dict:
            return {
                "model": model,
                "created_at": CREATED_AT,
                "message": {"role": "assistant", "content": content, **extra},
                "done": False,
            }

        out = []
        for n, piece in enumerate(self.pieces):
            if self.error_after is not None and n == self.error_after:
                return [*out, line({"error": MID_STREAM_ERROR})]
            out.append(line(msg(piece)))
        if self.error_after is not None and self.error_after >= len(self.pieces):
            return [*out, line({"error": MID_STREAM_ERROR})]
        if self.tool_calls:
            calls = [{"function": {"name": n, "arguments": a}} for n, a in self.tool_calls]
            out.append(line(msg("", tool_calls=calls)))
        if self.done:
            text_len = sum(len(p) for p in self.pieces)
            out.append(
                line(
                    {
                        "model": model,
                        "created_at": CREATED_AT,
                        "message": {"role": "assistant", "content": ""},
                        "done": True,
                        "done_reason": self.done_reason,
                        "total_duration": 812_000_000,
                        "load_duration": 12_000_000,
                        "prompt_eval_count": 26,
                        "prompt_eval_duration": 130_000_000,
                        "eval_count": max(1, text_len // 4),
                        "eval_duration": 650_000_000,
                    }
                )
            )
        return out

    def render(self, model: str) -> Reply:
        """The reply for one request (echoing its model unless fixed here)."""
        return Reply(
            headers={"content-type": "application/x-ndjson"},
            chunks=cut(self.lines(self.model or model), self.split, seed=20240917 + self.seed),
            delay=self.delay,
            first_byte_delay=self.first_byte_delay,
        )


def ollama_stream(
    text: str | list[str],
    *,
    model: str | None = None,
    split: str = "random",
    tool_calls: list[tuple[str, dict]] | None = None,
    error_after: int | None = None,
    done: bool = True,
    first_byte_delay: float = 0.0,
    delay: float = 0.0,
    seed: int = 0,
) -> OllamaStreamReply:
    """A streamed answer. A string is cut into several message lines (a list
    gives them exactly). ``error_after=n``: an ``{"error"}`` line after n text
    lines and no ``done``. ``done=False``: the stream just ends. ``tool_calls``
    is a list of ``(name, arguments_dict)``."""
    pieces = (
        [p for p in re.findall(r"\s*\S+\s*|\s+", text) if p]
        if isinstance(text, str)
        else list(text)
    )
    return OllamaStreamReply(
        pieces=pieces,
        model=model,
        split=split,
        tool_calls=tool_calls,
        error_after=error_after,
        done=done,
        first_byte_delay=first_byte_delay,
        delay=delay,
        seed=seed,
    )


def ollama_error(status: int, message: str) -> Reply:
    """Ollama's error shape: ``{"error": "..."}``."""
    return json_reply(status, {"error": message})


def _full_name(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


class FakeOllama(FakeServer):
    """Fake Ollama on 127.0.0.1. ``url`` is the host (no ``/api``)."""

    chat_path = "/api/chat"

    def __init__(self) -> None:
        super().__init__()
        self.pulled: list[str] = ["deepseek-coder:14b"]
        self.version = "0.12.6"

    def start(self, port: int | None = None) -> FakeOllama:
        super().start(port)
        return self

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.base

    def route(self, rec: Recorded) -> Reply:
        path = urlsplit(rec.path).path
        if rec.method in ("GET", "HEAD"):
            if path == "/":
                return text_reply(200, "Ollama is running")
            if path == "/api/version":
                return json_reply(200, {"version": self.version})
            if path == "/api/tags":
                return json_reply(200, {"models": [self._tag(n) for n in self.pulled]})
        if rec.method == "POST" and path == "/api/chat":
            return self._chat(rec)
        return text_reply(404, "404 page not found")

    @staticmethod
    def _tag(name: str) -> dict:
        full = _full_name(name)
        digest = hashlib.sha256(full.encode()).hexdigest()
        size = re.search(r":(\d+)b", full)
        return {
            "name": full,
            "model": full,
            "modified_at": CREATED_AT,
            "size": 8_988_124_069,
            "digest": digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": f"{size.group(1)}B" if size else "7B",
                "quantization_level": "Q4_K_M",
            },
        }

    def _chat(self, rec: Recorded) -> Reply:
        body = rec.body
        if not isinstance(body, dict):
            return ollama_error(400, "invalid character looking for beginning of value")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return ollama_error(400, "model is required")
        if _full_name(model) not in {_full_name(p) for p in self.pulled}:
            return ollama_error(404, f'model "{model}" not found, try pulling it first')
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is None:
            item = ollama_stream("Hello from the fake Ollama.")
        if callable(item) and not isinstance(item, (Reply, OllamaStreamReply)):
            item = item(rec)
        if isinstance(item, Reply):
            return item
        return item.render(model)
