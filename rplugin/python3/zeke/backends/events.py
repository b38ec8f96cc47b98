"""The internal stream vocabulary shared by every backend.

OpenAI-style SSE (OMEN, LiteLLM, llama.cpp), raw Anthropic frames passed
through OMEN, and Ollama's NDJSON are all turned into these few events, so the
engine never cares which backend answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TextDelta:
    """Answer text, in arrival order."""

    text: str


@dataclass(slots=True)
class ReasoningDelta:
    """``reasoning_content`` / ``reasoning`` text: shown apart, not part of the answer."""

    text: str


@dataclass(slots=True)
class Meta:
    """Facts a chunk carried about who answered: the chunk's ``model``, a
    ``routing_metadata`` object exactly as received (keys: provider, model_used,
    latency_ms, cost_usd, routing_reason — any may be missing or malformed), and a
    top-level ``provider`` (OpenRouter-style routers name the upstream there)."""

    model: str | None = None
    routing: dict[str, Any] | None = None
    provider: str | None = None


@dataclass(slots=True)
class Usage:
    """Token counts and (when the server says so, e.g. LiteLLM's ``usage.cost``)
    the cost in USD. ``None`` means unknown, never zero."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None


@dataclass(slots=True)
class ToolCall:
    """One complete tool call. ``arguments`` is the parsed JSON object, or None
    when ``raw_arguments`` did not parse (then ``parse_error`` says why)."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str = ""
    parse_error: str | None = None


@dataclass(slots=True)
class ToolCalls:
    """All tool calls of one answer, emitted once, just before ``End``."""

    calls: list[ToolCall] = field(default_factory=list)


@dataclass(slots=True)
class StreamFailure:
    """An error reported inside the stream (``error`` object, ``event: error``,
    Ollama ``{"error": ...}`` line). Text received before it stays valid."""

    message: str
    code: str | None = None


@dataclass(slots=True)
class End:
    """The stream is over. ``truncated`` is True when it ended without any end
    marker ([DONE], a finish_reason, ``message_stop``, Ollama ``done``)."""

    finish_reason: str | None = None
    truncated: bool = False


StreamEvent = TextDelta | ReasoningDelta | Meta | Usage | ToolCalls | StreamFailure | End
