"""A conversation as the host keeps it (pure): the system prompt, the first question
with its packed context, each answer and each follow-up. :ZekeFollowup sends the
whole thread plus the new message; :ZekeRetry sends the thread's last question again
to another alias. A thread is plain data keyed by its first request's id, so a later
history can keep and reopen one (docs/design.md §18).

What goes out is built here: the messages in order, trimmed oldest-first to the
budget (the system prompt, the first question — it carries the code — and the new
message always stay), the model a follow-up names, and the sticky ``omen`` object.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from zeke.engine.context import estimate_tokens
from zeke.errors import ZekeError

# Where a model name comes from that a later turn may name (what the router or the
# answer said, not what zeke assumed): the same rule as a tool turn's (routes.py).
REPORTED = frozenset({"header", "routing_metadata", "litellm", "chunk"})
#: The selection's own limit (context.PackRequest.max_selection_tokens): a thread
#: may be as long as the largest first request, plus `max_context_tokens`.
SELECTION_TOKENS = 24000
#: Threads kept in the host; older ones are forgotten (like pending changes).
KEEP = 50


@dataclass
class Exchange:
    """One question and its answer: the first request's, a follow-up's or a retry's."""

    rid: str
    question: str  # the user message as sent (the first: the packed context)
    answer: str = ""
    state: str = "streaming"  # "streaming" | "done" | "error" | "cancelled"
    alias: str | None = None
    model: str | None = None
    cost_usd: float | None = None
    tokens: int | None = None  # in + out


@dataclass
class Thread:
    id: str  # the first request's id
    session: str  # sent as omen.session_id on every follow-up: one per thread
    system: str
    exchanges: list[Exchange] = field(default_factory=list)
    # the latest answered request (engine.request.Request): what a follow-up copies
    # (context, alias, tags, the backend that answered); Any keeps this module pure
    last: Any = None
    pin: str | None = None  # the model a follow-up names (pin_choice)

    @property
    def streaming(self) -> bool:
        return bool(self.exchanges) and self.exchanges[-1].state == "streaming"

    def answered(self) -> list[Exchange]:
        return [x for x in self.exchanges if x.state == "done"]


@dataclass(frozen=True)
class Built:
    messages: list[dict[str, Any]]
    tokens: int  # estimated, of what is sent
    dropped: str | None  # what trimming left out, for the header (None: nothing)


def _msg(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content}


def build(system: str, done: list[Exchange], question: str, budget: int) -> Built:
    """system, the first question, each answer and follow-up in order, then
    ``question``; over ``budget`` (estimated tokens), the oldest answers and
    follow-ups go first. Refused when even the kept messages are over it."""
    if not done:
        return _plain(system, question)
    first = done[0]
    # droppable units, oldest first: the first answer, then each (follow-up, answer)
    units: list[tuple[str, list[dict[str, Any]]]] = [
        ("the first answer", [_msg("assistant", first.answer)])
    ]
    for n, x in enumerate(done[1:], start=1):
        units.append((f"follow-up {n}", [_msg("user", x.question), _msg("assistant", x.answer)]))
    kept_cost = sum(estimate_tokens(t) for t in (system, first.question, question))
    costs = [sum(estimate_tokens(m["content"]) for m in msgs) for _, msgs in units]
    total = kept_cost + sum(costs)
    drop = 0
    while total > budget and drop < len(units):
        total -= costs[drop]
        drop += 1
    if total > budget:
        raise ZekeError(
            f"zeke: this follow-up does not fit the context budget (about {total:,} tokens, "
            f"the limit is {budget:,}) even without the earlier answers; ask a shorter "
            "question, or start again on a smaller selection",
            kind="refused",
        )
    messages = [_msg("system", system), _msg("user", first.question)]
    for _, msgs in units[drop:]:
        messages += msgs
    messages.append(_msg("user", question))
    return Built(messages, total, _dropped([name for name, _ in units[:drop]]))


def _plain(system: str, question: str) -> Built:
    tokens = estimate_tokens(system) + estimate_tokens(question)
    return Built([_msg("system", system), _msg("user", question)], tokens, None)


def _dropped(names: list[str]) -> str | None:
    if not names:
        return None
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"dropped {what} to fit the context budget"


def pin_choice(
    reported: str | None,
    source: str | None,
    asked: str,
    *,
    omen: bool,
    listed: Collection[str],
) -> str:
    """The model a later turn names: the concrete one that answered, when the router
    reported it and takes that name (OMEN resolves its models; another router what
    its /models lists — LiteLLM refuses its deployment names), else the name asked."""
    if not reported or source not in REPORTED or reported == asked:
        return asked
    return reported if omen or reported in listed else asked


def sticky_omen(omen: Mapping[str, Any] | None, session: str) -> dict[str, Any]:
    """The body's ``omen`` object for a follow-up: the configured one, kept on the
    same model for the thread (``stickiness``), the thread's session id with it."""
    out = dict(omen or {})
    out["stickiness"] = "session"
    out["session_id"] = session
    return out


def totals(exchanges: list[Exchange]) -> tuple[float | None, int | None]:
    """The thread's running cost and tokens: the sum of what is known (None: none)."""
    costs = [x.cost_usd for x in exchanges if x.cost_usd is not None]
    tokens = [x.tokens for x in exchanges if x.tokens is not None]
    return (round(sum(costs), 6) if costs else None, sum(tokens) if tokens else None)


def retried(old: Thread, rid: str, session: str) -> tuple[Thread, str]:
    """A new thread for :ZekeRetry: the old one's answered exchanges before its last
    question, and that question (what the retry sends again)."""
    if not old.exchanges:
        raise ZekeError("zeke: that answer has no request to send again", kind="refused")
    last = old.exchanges[-1]
    before = [x for x in old.exchanges[:-1] if x.state == "done"]
    new = Thread(id=rid, session=session, system=old.system, exchanges=list(before))
    new.last, new.pin = old.last, old.pin
    return new, last.question
