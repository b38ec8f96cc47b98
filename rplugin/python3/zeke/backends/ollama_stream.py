"""Ollama's ``/api/chat`` NDJSON stream (degraded mode) as zeke stream events.

One JSON object per line, no ``data:``, no ``[DONE]``: the last object has
``done: true`` with token counts and durations in nanoseconds. Errors come as
``{"error": "..."}``, also as a line in the middle of the stream. Tool-call
arguments are JSON objects and ids are usually missing.
"""

from __future__ import annotations

import json
from typing import Any

from zeke.backends.events import End, Meta, ReasoningDelta, StreamEvent, TextDelta, ToolCalls, Usage
from zeke.backends.openai_stream import ToolCallAccumulator, clean_text, count, error_of, money

__all__ = ["NDJSONParser", "OllamaStreamDecoder"]


class NDJSONParser:
    """Split bytes into JSON objects, one per line, across arbitrary reads."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # bytes of _buf already known to hold no newline
        self.bad_lines = 0
        self._closed = False

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """Parse the complete lines this read finished."""
        if self._closed or not chunk:
            return []
        self._buf += chunk
        out: list[dict[str, Any]] = []
        start = 0
        while True:
            nl = self._buf.find(b"\n", max(start, self._scan))
            if nl < 0:
                break
            self._line(bytes(self._buf[start:nl]), out)
            start = nl + 1
        del self._buf[:start]
        self._scan = len(self._buf)
        return out

    def close(self) -> list[dict[str, Any]]:
        """End of stream: parse a last line that had no newline."""
        if self._closed:
            return []
        self._closed = True
        out: list[dict[str, Any]] = []
        if self._buf:
            self._line(bytes(self._buf), out)
            self._buf.clear()
        return out

    def _line(self, raw: bytes, out: list[dict[str, Any]]) -> None:
        # Decode with "replace": one bad byte in the content must not lose the line.
        text = raw.decode("utf-8", "replace").strip().lstrip("\ufeff")
        if not text:
            return
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            out.append(obj)
        else:
            self.bad_lines += 1


class OllamaStreamDecoder:
    """Feed the parsed NDJSON objects; get zeke stream events."""

    def __init__(self) -> None:
        self.done = False
        self.ended = False
        self.finish_reason: str | None = None
        self.timings: dict[str, float] = {}
        self.decoded = 0
        self.ignored = 0
        self._model: str | None = None
        self._tools = ToolCallAccumulator()
        self._n_tools = 0
        self._finished = False

    def feed(self, obj: dict[str, Any]) -> list[StreamEvent]:
        """Decode one NDJSON object."""
        if self.done or self._finished:
            return []
        if not isinstance(obj, dict):
            self.ignored += 1
            return []
        self.decoded += 1
        failure = error_of(obj)
        if failure is not None:
            return [failure]
        out: list[StreamEvent] = []
        model = obj.get("model")
        if isinstance(model, str) and model:
            model = clean_text(model)
            if model != self._model:
                self._model = model
                out.append(Meta(model=model))
        message = obj.get("message")
        if isinstance(message, dict):
            thinking = message.get("thinking")
            if isinstance(thinking, str) and thinking:
                out.append(ReasoningDelta(text=clean_text(thinking)))
            content = message.get("content")
            if isinstance(content, str) and content:
                out.append(TextDelta(text=clean_text(content)))
            tool_calls = message.get("tool_calls")
            if isinstance(tool_calls, list):
                for tc in tool_calls:
                    if isinstance(tc, dict):
                        self._tool_call(tc)
        if obj.get("done") is True:
            self._done(obj, out)
        return out

    def _tool_call(self, tc: dict[str, Any]) -> None:
        fn = tc.get("function")
        fn = fn if isinstance(fn, dict) else {}
        # Ollama sends each call whole, one per entry: number them in arrival
        # order rather than trusting an optional, sometimes repeated "index".
        n = self._n_tools
        self._n_tools += 1
        args = fn.get("arguments")
        self._tools.add(
            n,
            id=tc.get("id"),
            name=fn.get("name"),
            arguments=args if isinstance(args, (dict, str)) else None,
        )

    def _done(self, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        self.done = self.ended = True
        reason = obj.get("done_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = clean_text(reason)
        for key, value in obj.items():
            if key.endswith("_duration"):
                ns = money(value)
                if ns is not None:
                    self.timings[clean_text(key)] = ns / 1e6
        tokens_in = count(obj.get("prompt_eval_count"))
        tokens_out = count(obj.get("eval_count"))
        if tokens_in is not None or tokens_out is not None:
            out.append(Usage(tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=None))

    def finish(self) -> list[StreamEvent]:
        """End of stream: the tool calls (if any), then ``End``."""
        if self._finished:
            return []
        self._finished = True
        out: list[StreamEvent] = []
        if self._tools:
            out.append(ToolCalls(calls=self._tools.finish()))
        reason = self.finish_reason
        if self.ended and reason is None:
            reason = "tool_calls" if self._tools else "stop"
        out.append(End(finish_reason=reason, truncated=not self.ended))
        return out
