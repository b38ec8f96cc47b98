"""Turn OpenAI-style SSE events (OMEN, LiteLLM, llama.cpp) into zeke stream events.

Also understands the raw Anthropic frames OMEN sometimes passes through, and a
whole non-streamed completion object (a router that ignored ``stream: true``).
Every quirk of docs/design.md §12, §14 is tolerated; nothing here raises on bad
input: what cannot be understood is skipped and counted in ``ignored``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from zeke.backends.events import (
    End,
    Meta,
    ReasoningDelta,
    StreamEvent,
    StreamFailure,
    TextDelta,
    ToolCall,
    ToolCalls,
    Usage,
)
from zeke.backends.sse import SSEEvent

__all__ = ["OpenAIStreamDecoder", "ToolCallAccumulator"]

_ANTHROPIC_EVENTS = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "ping",
        "error",
    }
)

# Anthropic's stop reasons, said the OpenAI way so the engine needs one vocabulary.
_ANTHROPIC_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(s: str) -> str:
    """Replace lone surrogates (JSON can carry ``"\\ud800"``) so the text can be
    encoded as UTF-8 later instead of crashing the host's outbox."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", s)
    return s


def count(value: Any) -> int | None:
    """A token count: a non-negative integer (JSON ``12.0`` accepted), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= 0:
        return int(value)
    return None


def money(value: Any) -> float | None:
    """A cost: a finite non-negative number, else None (unknown is never zero)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) and f >= 0 else None


def error_of(obj: Any) -> StreamFailure | None:
    """The failure an error payload describes (OpenAI/OMEN object, Anthropic
    ``{"type":"error","error":{...}}``, or a bare string), or None."""
    err = obj.get("error") if isinstance(obj, dict) else obj
    if err is None or err is False or (isinstance(err, (str, dict, list)) and not err):
        return None
    if isinstance(err, str):
        return StreamFailure(message=clean_text(err.strip()) or "the server reported an error")
    if not isinstance(err, dict):
        return StreamFailure(message="the server reported an error: " + clean_text(str(err))[:200])
    message = err.get("message")
    etype = err.get("type")
    code = err.get("code")
    if not isinstance(message, str) or not message.strip():
        message = etype if isinstance(etype, str) and etype else "the server reported an error"
    if code is None or isinstance(code, (dict, list)):
        code = etype if isinstance(etype, str) and etype else None
    return StreamFailure(
        message=clean_text(message.strip()),
        code=None if code is None else clean_text(str(code)),
    )


class ToolCallAccumulator:
    """Tool-call fragments gathered by index, finished into ``ToolCall`` objects."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}
        self._last: int | None = None

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(
        self,
        index: Any,
        *,
        id: Any = None,
        name: Any = None,
        arguments: Any = None,
    ) -> None:
        """Add one fragment. Only the first id/name count; arguments are joined."""
        key = self._key(index, id, name)
        acc = self._calls.get(key)
        if acc is None:
            acc = self._calls[key] = {"id": None, "name": None, "parts": [], "obj": None}
        self._last = key
        if isinstance(id, str) and id and acc["id"] is None:
            acc["id"] = clean_text(id)
        if isinstance(name, str) and name and acc["name"] is None:
            acc["name"] = clean_text(name)
        if isinstance(arguments, dict):
            # Object-typed arguments (Ollama, some routers): complete in themselves.
            acc["obj"] = arguments
            acc["parts"] = []
        elif isinstance(arguments, str) and arguments:
            self._add_text(acc, arguments)

    def _key(self, index: Any, id: Any, name: Any) -> int:
        if isinstance(index, int) and not isinstance(index, bool):
            return index
        # No usable index: match by id, else a fragment carrying an id or name
        # starts a new call, else it continues the last one.
        if isinstance(id, str) and id:
            for k, acc in self._calls.items():
                if acc["id"] == id:
                    return k
        if (isinstance(id, str) and id) or (isinstance(name, str) and name) or self._last is None:
            return max(self._calls, default=-1) + 1
        return self._last

    @staticmethod
    def _add_text(acc: dict[str, Any], text: str) -> None:
        parts: list[str] = acc["parts"]
        if acc["obj"] is not None:
            # A string after an object: the string restates it; keep the object
            # unless the string is something else entirely.
            if _as_object(text) is not None:
                acc["obj"] = None
                acc["parts"] = [text]
            return
        if parts and text.lstrip().startswith("{"):
            # Some servers repeat the whole arguments in a later fragment. A
            # complete JSON object cannot legally be continued, so a second
            # complete object replaces it instead of being appended.
            so_far = "".join(parts)
            if (
                so_far.rstrip().endswith("}")
                and _as_object(so_far) is not None
                and _as_object(text) is not None
            ):
                acc["parts"] = [text]
                return
        parts.append(text)

    def finish(self) -> list[ToolCall]:
        """Every call, in index order, with arguments parsed."""
        calls = []
        for n, key in enumerate(sorted(self._calls)):
            acc = self._calls[key]
            call_id = acc["id"] or f"call_{key if key >= 0 else n}"
            name = acc["name"] or ""
            if acc["obj"] is not None:
                obj = acc["obj"]
                try:
                    raw = json.dumps(obj, ensure_ascii=False)
                except (TypeError, ValueError, RecursionError):
                    raw = ""
                calls.append(ToolCall(id=call_id, name=name, arguments=obj, raw_arguments=raw))
                continue
            raw = clean_text("".join(acc["parts"]))
            if not raw.strip():
                # Tools without parameters often get "" rather than "{}".
                calls.append(ToolCall(id=call_id, name=name, arguments={}, raw_arguments=raw))
                continue
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as e:
                calls.append(
                    ToolCall(
                        id=call_id,
                        name=name,
                        arguments=None,
                        raw_arguments=raw,
                        parse_error=f"arguments are not valid JSON ({e.msg} at character {e.pos})",
                    )
                )
                continue
            except (ValueError, RecursionError):
                parsed = _BAD
            if isinstance(parsed, dict):
                calls.append(ToolCall(id=call_id, name=name, arguments=parsed, raw_arguments=raw))
            else:
                calls.append(
                    ToolCall(
                        id=call_id,
                        name=name,
                        arguments=None,
                        raw_arguments=raw,
                        parse_error="arguments are not a JSON object",
                    )
                )
        return calls


_BAD = object()


def _as_object(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def load_json(data: str) -> Any:
    """``json.loads`` that returns ``_BAD`` instead of raising."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _BAD


class OpenAIStreamDecoder:
    """Feed ``SSEEvent``s; get zeke stream events. Call ``finish()`` at end of stream."""

    def __init__(self) -> None:
        self.done = False  # [DONE] or message_stop: nothing more will come
        self.ended = False  # an end marker was seen (also a finish_reason)
        self.finish_reason: str | None = None
        self.ignored = 0  # data that was not JSON (or not an object)
        self.decoded = 0  # data objects understood
        self._model: str | None = None
        self._routing: dict[str, Any] | None = None
        self._provider: str | None = None
        self._tools = ToolCallAccumulator()
        self._anthropic_in: int | None = None
        self._finished = False

    def feed(self, ev: SSEEvent) -> list[StreamEvent]:
        """Decode one SSE event."""
        if self.done or self._finished:
            return []
        data = ev.data.strip()
        name = ev.event
        if data == "[DONE]":
            self.done = self.ended = True
            return []
        if not data:
            return []
        obj = load_json(data)
        if not isinstance(obj, dict):
            if name == "error":
                # An error event whose payload is plain text still is an error.
                return [StreamFailure(message=clean_text(data)[:500])]
            self.ignored += 1
            return []
        self.decoded += 1
        out: list[StreamEvent] = []
        kind = obj.get("type")
        if name == "error" or kind == "error":
            failure = error_of(obj) or StreamFailure(message="the server reported an error")
            return [failure]
        if name in _ANTHROPIC_EVENTS or (
            isinstance(kind, str) and kind in _ANTHROPIC_EVENTS and "choices" not in obj
        ):
            self._anthropic(obj, name, out)
            return out
        failure = error_of(obj)
        if failure is not None:
            return [failure]
        self._chunk(obj, out)
        return out

    def feed_completion(self, obj: Any) -> list[StreamEvent]:
        """Decode a whole non-streamed completion (``choices[].message``)."""
        if not isinstance(obj, dict):
            self.ignored += 1
            return []
        failure = error_of(obj)
        if failure is not None:
            return [failure]
        chunk = dict(obj)
        choices = obj.get("choices")
        if isinstance(choices, list):
            new_choices = []
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                c = dict(choice)
                message = c.pop("message", None)
                if isinstance(message, dict) and "delta" not in c:
                    delta = dict(message)
                    tcs = delta.get("tool_calls")
                    if isinstance(tcs, list):
                        delta["tool_calls"] = [
                            {"index": i, **tc} if isinstance(tc, dict) else tc
                            for i, tc in enumerate(tcs)
                        ]
                    c["delta"] = delta
                new_choices.append(c)
            chunk["choices"] = new_choices
            # A whole completion is complete by definition.
            self.ended = True
        self.decoded += 1
        out: list[StreamEvent] = []
        self._chunk(chunk, out)
        return out

    def finish(self) -> list[StreamEvent]:
        """End of stream: the tool calls (if any), then ``End``."""
        if self._finished:
            return []
        self._finished = True
        out: list[StreamEvent] = []
        if self._tools:
            out.append(ToolCalls(calls=self._tools.finish()))
        out.append(End(finish_reason=self.finish_reason, truncated=not self.ended))
        return out

    # -- OpenAI chunks -----------------------------------------------------

    def _chunk(self, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        routing = obj.get("routing_metadata")
        self._meta(
            obj.get("model"),
            routing if isinstance(routing, dict) else None,
            out,
            provider=obj.get("provider"),
        )
        choices = obj.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict):
                    self._choice(choice, out)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            u = Usage(
                tokens_in=count(usage.get("prompt_tokens")),
                tokens_out=count(usage.get("completion_tokens")),
                cost_usd=money(usage.get("cost")),
            )
            if u.tokens_in is not None or u.tokens_out is not None or u.cost_usd is not None:
                out.append(u)

    def _choice(self, choice: dict[str, Any], out: list[StreamEvent]) -> None:
        index = choice.get("index", 0)
        if index is None:
            index = 0
        if index != 0 or isinstance(index, bool):
            return  # n > 1: only the first choice is the answer
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = delta.get("reasoning_content")
            if not isinstance(reasoning, str) or not reasoning:
                reasoning = delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out.append(ReasoningDelta(text=clean_text(reasoning)))
            content = delta.get("content")
            if isinstance(content, str) and content:
                out.append(TextDelta(text=clean_text(content)))
            tool_calls = delta.get("tool_calls")
            if isinstance(tool_calls, list):
                for tc in tool_calls:
                    if isinstance(tc, dict):
                        fn = tc.get("function")
                        fn = fn if isinstance(fn, dict) else {}
                        self._tools.add(
                            tc.get("index"),
                            id=tc.get("id"),
                            name=fn.get("name"),
                            arguments=fn.get("arguments"),
                        )
            elif isinstance(delta.get("function_call"), dict):
                # The legacy single function call: one call at index 0.
                fc = delta["function_call"]
                self._tools.add(0, name=fc.get("name"), arguments=fc.get("arguments"))
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = clean_text(reason)
            self.ended = True

    def _meta(
        self,
        model: Any,
        routing: dict[str, Any] | None,
        out: list[StreamEvent],
        *,
        provider: Any = None,
    ) -> None:
        new_model = new_provider = None
        if isinstance(provider, str) and provider.strip():
            provider = clean_text(provider.strip())
            if provider != self._provider:
                self._provider = new_provider = provider
        if isinstance(model, str) and model:
            model = clean_text(model)
            if model != self._model:
                self._model = new_model = model
        new_routing = None
        if routing is not None:
            try:
                changed = routing != self._routing
            except RecursionError:  # absurdly deep JSON: just call it new
                changed = True
            if changed:
                self._routing = new_routing = routing
        if new_model is not None or new_routing is not None or new_provider is not None:
            out.append(Meta(model=new_model, routing=new_routing, provider=new_provider))

    # -- raw Anthropic frames ----------------------------------------------

    def _anthropic(self, obj: dict[str, Any], name: str | None, out: list[StreamEvent]) -> None:
        kind = obj.get("type")
        if not isinstance(kind, str):
            kind = name
        if kind == "message_start":
            message = obj.get("message")
            if isinstance(message, dict):
                self._meta(message.get("model"), None, out)
                usage = message.get("usage")
                if isinstance(usage, dict):
                    self._anthropic_in = count(usage.get("input_tokens"))
        elif kind == "content_block_start":
            block = obj.get("content_block")
            if isinstance(block, dict):
                if block.get("type") == "tool_use":
                    self._tools.add(obj.get("index"), id=block.get("id"), name=block.get("name"))
                    if isinstance(block.get("input"), dict) and block["input"]:
                        self._tools.add(obj.get("index"), arguments=block["input"])
                else:
                    text = block.get("text")
                    if isinstance(text, str) and text:
                        out.append(TextDelta(text=clean_text(text)))
        elif kind == "content_block_delta":
            delta = obj.get("delta")
            if not isinstance(delta, dict):
                return
            dtype = delta.get("type")
            if dtype == "input_json_delta":
                self._tools.add(obj.get("index"), arguments=delta.get("partial_json"))
            elif dtype == "thinking_delta":
                thinking = delta.get("thinking")
                if isinstance(thinking, str) and thinking:
                    out.append(ReasoningDelta(text=clean_text(thinking)))
            else:
                text = delta.get("text")
                if isinstance(text, str) and text:
                    out.append(TextDelta(text=clean_text(text)))
        elif kind == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict):
                reason = delta.get("stop_reason")
                if isinstance(reason, str) and reason:
                    self.finish_reason = _ANTHROPIC_STOP.get(reason, clean_text(reason))
                    self.ended = True
            usage = obj.get("usage")
            if isinstance(usage, dict):
                tokens_out = count(usage.get("output_tokens"))
                tokens_in = count(usage.get("input_tokens"))
                if tokens_in is None:
                    tokens_in = self._anthropic_in
                if tokens_in is not None or tokens_out is not None:
                    out.append(Usage(tokens_in=tokens_in, tokens_out=tokens_out))
        elif kind == "message_stop":
            self.done = self.ended = True
        # ping and content_block_stop carry nothing we need.
