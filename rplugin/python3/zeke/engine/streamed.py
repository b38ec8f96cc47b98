"""What the streamed turns of one request produced: the answer's text, how it ended,
and what the streams said about who answered (the evidence ``facts.py`` reads).

``Answer.absorb`` is the one place a stream event is folded in (usage is summed
over the turns of a tool conversation there); ``Answer.verdict`` is the one place
that says whether the answer counts (an answer with no text and no tool call is a
failure). ``Answer.saw_model`` keeps the concrete models in the order they
answered, so a mid-stream switch is shown as ``A→B``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from zeke import protocol
from zeke.backends.events import (
    End,
    Meta,
    StreamEvent,
    StreamFailure,
    TextDelta,
    ToolCall,
    ToolCalls,
    Usage,
)
from zeke.engine.wording import prefixed, printable


def ms_since(t0: float) -> int:
    return max(0, math.floor((time.perf_counter() - t0) * 1000))


@dataclass
class Answer:
    """Every turn of one request, folded together."""

    text: str = ""
    # the last opened stream's headers (names lower-cased), or a refusal's
    headers: dict[str, str] = field(default_factory=dict)
    chunk_model: str | None = None
    body_provider: str | None = None  # a chunk's own ``provider`` field
    # the newest model the body named after text began: the router switched (it
    # outranks the headers, which were sent before the switch)
    late_model: str | None = None
    routing_metadata: dict[str, Any] | None = None
    turn_usage: Usage | None = None  # this turn's (a turn reports its own)
    earlier_usage: list[Usage] = field(default_factory=list)  # the turns before it
    tool_calls: list[ToolCall] = field(default_factory=list)  # this turn's
    tool_turns: int = 0  # turns that ended in tool calls
    models: list[str] = field(default_factory=list)  # concrete models, in answering order
    failure: str | None = None
    finish_reason: str | None = None
    truncated: bool = False
    ttfb_ms: int | None = None  # to the first text, from the attempt that answered
    _sent: float = field(default_factory=time.perf_counter, repr=False)

    def begin_turn(self, headers: dict[str, str], sent: float) -> None:
        """A turn's stream opened: its headers, and when its request was sent."""
        self.headers = dict(headers)
        if self.turn_usage is not None:
            self.earlier_usage.append(self.turn_usage)
            self.turn_usage = None
        if self.tool_calls:
            self.tool_turns += 1
        self.tool_calls = []
        self._sent = sent

    @property
    def usage(self) -> Usage | None:
        """Usage over every turn; a count no turn reported stays None (unknown)."""
        turns = [*self.earlier_usage, *([self.turn_usage] if self.turn_usage else [])]
        if not turns:
            return None

        def total(values: list[float | int | None]) -> Any:
            known = [v for v in values if v is not None]
            return sum(known) if known else None

        return Usage(
            tokens_in=total([u.tokens_in for u in turns]),
            tokens_out=total([u.tokens_out for u in turns]),
            cost_usd=total([u.cost_usd for u in turns]),
        )

    def saw_model(self, model: str | None) -> None:
        """A concrete model is answering; a new one after another is a switch."""
        if model and (not self.models or self.models[-1] != model):
            self.models.append(model)

    @property
    def switched_from(self) -> str | None:
        """The model that began the answer, when another one took over."""
        return self.models[0] if len(self.models) > 1 else None

    def absorb(self, ev: StreamEvent) -> bool:
        """Fold one event in; True when it said something about who is answering."""
        if isinstance(ev, TextDelta):
            if self.ttfb_ms is None:
                self.ttfb_ms = ms_since(self._sent)
            self.text += ev.text
        elif isinstance(ev, Meta):
            if ev.model:
                self.chunk_model = ev.model
            if ev.provider:
                self.body_provider = ev.provider
            if ev.routing:
                self.routing_metadata = dict(ev.routing)
            if self.text or self.tool_calls:
                named = ev.routing.get("model_used") if ev.routing else None
                named = named if isinstance(named, str) and named.strip() else ev.model
                if named:
                    self.late_model = named
            return True
        elif isinstance(ev, Usage):
            self.turn_usage = ev
        elif isinstance(ev, ToolCalls):
            self.tool_calls = list(ev.calls)
        elif isinstance(ev, StreamFailure):
            self.failure = ev.message
        elif isinstance(ev, End):
            self.finish_reason = ev.finish_reason
            self.truncated = ev.truncated
        # ReasoningDelta: not part of the answer, and zeke does not show it
        return False

    def kept(self) -> str:
        """What became of the text when the request did not finish."""
        return "the text so far is kept" if self.text else "no text had arrived"

    def verdict(self, who: str) -> protocol.DonePayload:
        """The done event's state, and its error or warning; ``who`` answered (the
        server as the user knows it: "the router at 127.0.0.1:4000", "Ollama")."""
        if self.truncated:
            cause = f" ({printable(self.failure).rstrip('.')})" if self.failure else ""
            return {
                "state": "error",
                "error": f"zeke: the answer from {who} stopped before it was complete"
                f"{cause}; {self.kept()}",
            }
        if self.failure:
            return {
                "state": "error",
                "error": prefixed(f"{who} reported an error mid-answer: {self.failure}"),
            }
        if not self.text and not self.tool_calls and not self.tool_turns:
            return {
                "state": "error",
                "error": f"zeke: {who} sent an empty answer (no text and no tool call)",
            }
        if self.finish_reason == "length":
            return {
                "state": "done",
                "warning": "zeke: the answer hit the model's length limit and may be cut short",
            }
        return {"state": "done"}
