"""Decoded stream events with the secrets taken out of every text field.

A server may echo the router key (or another secret zeke sent) anywhere: in the
answer, the reasoning, the model name, routing facts, tool calls or a failure.
Text deltas are scrubbed across piece boundaries (a key split over two chunks is
still caught), so a held-back tail is flushed when the stream ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator

import anyio

from zeke.backends.events import (
    End,
    Meta,
    ReasoningDelta,
    StreamEvent,
    StreamFailure,
    TextDelta,
    ToolCall,
    ToolCalls,
)
from zeke.scrub import Scrubber, StreamScrubber


async def scrubbed_events(
    inner: AsyncGenerator[StreamEvent, None], scrub: Scrubber
) -> AsyncGenerator[StreamEvent, None]:
    """``inner`` with every text field scrubbed of the secrets; closes ``inner``."""
    if not scrub:
        try:
            async for ev in inner:
                yield ev
        finally:
            with anyio.CancelScope(shield=True):
                await inner.aclose()
        return
    text, reasoning = scrub.stream(), scrub.stream()
    try:
        async for ev in inner:
            if isinstance(ev, End):
                for flushed in _flush(text, reasoning):
                    yield flushed
                if isinstance(ev.finish_reason, str):  # kept in the stats and last()
                    ev = dataclasses.replace(ev, finish_reason=scrub.text(ev.finish_reason))
                yield ev
                continue
            clean = _scrubbed(ev, scrub, text, reasoning)
            if clean is not None:
                yield clean
        for flushed in _flush(text, reasoning):
            yield flushed
    finally:
        with anyio.CancelScope(shield=True):
            await inner.aclose()


def _scrubbed(
    ev: StreamEvent, scrub: Scrubber, text: StreamScrubber, reasoning: StreamScrubber
) -> StreamEvent | None:
    """One event without the secrets; None for a text piece held back for now."""
    if isinstance(ev, TextDelta):
        piece = text.feed(ev.text)
        return TextDelta(piece) if piece else None
    if isinstance(ev, ReasoningDelta):
        piece = reasoning.feed(ev.text)
        return ReasoningDelta(piece) if piece else None
    if isinstance(ev, Meta):
        return Meta(
            model=scrub.text(ev.model) if isinstance(ev.model, str) else ev.model,
            routing=scrub.deep(ev.routing) if ev.routing is not None else None,
        )
    if isinstance(ev, ToolCalls):
        return ToolCalls([_scrubbed_call(c, scrub) for c in ev.calls])
    if isinstance(ev, StreamFailure):
        code = scrub.text(ev.code) if isinstance(ev.code, str) else ev.code
        return StreamFailure(message=scrub.text(ev.message), code=code)
    return ev  # Usage: numbers only


def _scrubbed_call(call: ToolCall, scrub: Scrubber) -> ToolCall:
    return dataclasses.replace(
        call,
        id=scrub.text(call.id),
        name=scrub.text(call.name),
        arguments=scrub.deep(call.arguments) if call.arguments is not None else None,
        raw_arguments=scrub.text(call.raw_arguments),
        parse_error=scrub.text(call.parse_error) if call.parse_error else call.parse_error,
    )


def _flush(text: StreamScrubber, reasoning: StreamScrubber) -> list[StreamEvent]:
    """The held-back tails, at the end of the stream."""
    out: list[StreamEvent] = []
    if rest := text.flush():
        out.append(TextDelta(rest))
    if rest := reasoning.flush():
        out.append(ReasoningDelta(rest))
    return out
