"""What the streamed turns of one request produced: the answer's text, how it ended,
and what the streams said about who answered (the evidence ``facts.py`` reads).

``Answer.absorb`` is the one place a stream event is folded in (a mid-stream model
switch, usage over several turns: change it there); ``Answer.verdict`` is the one
place that says whether the answer counts (an empty answer as a failure: there).
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
    routing_metadata: dict[str, Any] | None = None
    usage: Usage | None = None  # the last turn's (a turn reports its own)
    tool_calls: list[ToolCall] = field(default_factory=list)  # this turn's
    failure: str | None = None
    finish_reason: str | None = None
    truncated: bool = False
    ttfb_ms: int | None = None  # to the first text, from the attempt that answered
    _sent: float = field(default_factory=time.perf_counter, repr=False)

    def begin_turn(self, headers: dict[str, str], sent: float) -> None:
        """A turn's stream opened: its headers, and when its request was sent."""
        self.headers = dict(headers)
        self.tool_calls = []
        self._sent = sent

    def absorb(self, ev: StreamEvent) -> bool:
        """Fold one event in; True when it said something about who is answering."""
        if isinstance(ev, TextDelta):
            if self.ttfb_ms is None:
                self.ttfb_ms = ms_since(self._sent)
            self.text += ev.text
        elif isinstance(ev, Meta):
            if ev.model:
                self.chunk_model = ev.model
            if ev.routing:
                self.routing_metadata = dict(ev.routing)
            return True
        elif isinstance(ev, Usage):
            self.usage = ev
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
        """The done event's state, and its error or warning; ``who`` answered ("OMEN")."""
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
        if self.finish_reason == "length":
            return {
                "state": "done",
                "warning": "zeke: the answer hit the model's length limit and may be cut short",
            }
        return {"state": "done"}
