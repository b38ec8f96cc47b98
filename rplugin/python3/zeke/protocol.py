"""The Lua <-> host protocol, defined once: the notifications Lua sends, the call
methods, the events the host sends back, their payloads, and a request's public
fields. ``tests/integration/test_protocol.py`` checks the Lua side against it.

Lua -> host: ``vim.rpcnotify(chan, "zeke", <notification>, <payload>)``.
Host -> Lua: ``bridge.dispatch({{<event>, <request id or nil>, <payload>}, ...})``.
A None field arrives in Lua as nil (``bridge.dispatch`` converts vim.NIL once); a
None inside a list stays vim.NIL there, so the list keeps its length and order.

Long because it is the whole protocol in one place: every message and payload is
here, and nowhere else, so that a newcomer reads one file and the drift test checks one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypedDict

# Lua -> host: notifications ------------------------------------------------------


class Diagnostic(TypedDict, total=False):
    lnum: int  # 0-based, as vim.diagnostic gives it
    col: int
    severity: int
    message: str
    source: str


class RequestPayload(TypedDict, total=False):
    """:ZekeRefactor / :ZekeTest / :ZekeExplain on a selection."""

    id: str
    intent: str  # "code" | "tests" | "reason" | "vision"
    instruction: str
    # :ZekeExplain on an image buffer or path (absolute): the host reads and checks it
    # (engine/images.py) and sends it with intent "vision"
    image: str
    project: str  # config `project` (absent: found from the path)
    path: str  # absolute; absent for a buffer without a name
    cwd: str
    filetype: str
    lines: list[str]  # the buffer's lines from window_start on
    window_start: int
    start_line: int  # 1-based: the first and last line the selection touches
    end_line: int
    # Charwise (`v`) only, absent for whole lines (`V`, a range, the cursor line):
    # 0-based byte columns, the end exclusive. A selection that takes its last line's
    # newline (`v$`) ends at column 0 of the next line (changes/span.py).
    start_col: int
    end_col: int
    total_lines: int
    diagnostics: list[Diagnostic]


class CancelPayload(TypedDict):
    id: str


class FollowupPayload(TypedDict, total=False):
    """:ZekeFollowup: the whole thread plus ``text``, to the model that answered (or
    to ``alias``); the answer streams into the thread's answer buffer."""

    id: str  # this follow-up's request id
    thread: str  # the thread's id: its first request's
    text: str
    alias: str  # :ZekeFollowup! {alias}: re-routed (absent: the model that answered)


class RetryPayload(TypedDict):
    """:ZekeRetry: the thread's last question again, same context, to ``alias``."""

    id: str  # the retry's request id (and its own thread's)
    thread: str
    alias: str


class ConsentReplyPayload(TypedDict, total=False):
    token: str
    decision: str  # "allow" | "allow_session" | "policy" | "reject" | "cancel"
    reason: str


class GuardReplyPayload(TypedDict, total=False):
    """The user's answer to the budget guard (engine/guard.py)."""

    token: str  # echoed from the guard event
    choice: str  # "send" | "local" | "cancel"
    alias: str  # with "local": the local alias to send to


class CallPayload(TypedDict):
    id: int  # echoed as the reply's call_id
    method: str  # a key of CALLS
    args: dict[str, Any]


NOTIFICATIONS: dict[str, Any] = {
    "setup": dict[str, Any],  # config.for_host(); Settings.from_lua reads it
    "request": RequestPayload,
    "cancel": CancelPayload,
    "followup": FollowupPayload,
    "retry": RetryPayload,
    "consent_reply": ConsentReplyPayload,
    "guard_reply": GuardReplyPayload,
    "call": CallPayload,
}

# Lua -> host: call methods (answered by a "reply" event) ---------------------------


class Where(TypedDict, total=False):
    """Which project a question is about: config `project`, else found from these."""

    path: str
    cwd: str
    project: str


class ApplyArgs(TypedDict, total=False):
    proposal: str
    lines: list[str]  # the target buffer now
    accepted: list[int]  # hunk indexes
    hint: int  # 0-based row where the selection starts now
    modified: bool
    fileformat: str
    fileencoding: str


class ApplyResult(TypedDict):
    start: int  # replace rows [start, end) of the buffer with lines
    end: int
    lines: list[str]
    accepted: int
    total: int
    written: bool  # True: written on disk through the tool server


class DiscardArgs(TypedDict, total=False):
    proposal: str
    # what became of the change, for :ZekeHistory and the outcome stats ("applied":
    # the UI applied apply's result in the buffer; absent: dropped unapplied, for a
    # rival's or a follow-up's change)
    outcome: Literal["applied", "rejected"]


class AliasSummary(TypedDict):
    requests: int
    success_rate: float | None
    median_ttfb_ms: float | None
    avg_cost_usd: float | None
    last_model: str | None
    apply_rate: float | None  # changes applied / changes settled (None: none settled)


class AliasItem(TypedDict):
    name: str
    provider: str | None
    model: str | None
    summary: AliasSummary | None


class AliasesResult(TypedDict, total=False):
    project: str
    current: str
    aliases: list[AliasItem]
    prefs: str  # the project's routing prefs in one line (:checkhealth)


class SetAliasArgs(Where, total=False):
    alias: str


class SetAliasResult(TypedDict):
    project: str
    alias: str
    saved: bool


class TableArgs(Where, total=False):
    all: bool  # every project, not just this one


class StatsRow(TypedDict):
    alias: str | None
    model: str | None
    provider: str | None
    degraded: bool
    requests: int
    success_rate: float
    median_ttfb_ms: float | None
    p95_ttfb_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    cost_unknown: int
    cancelled: int  # not counted in success_rate
    tokens_in_estimated: int  # rows whose tokens_in is zeke's estimate ("~")
    # outcomes (migration 0009): changes proposed, their hunks accepted and rejected,
    # changes applied / settled, and the group's cost per applied change
    proposed: int
    hunks_accepted: int
    hunks_rejected: int
    apply_rate: float | None
    cost_per_applied_usd: float | None


class StatsResult(TypedDict, total=False):
    project: str
    rows: list[StatsRow]
    prefs: str  # the project's routing prefs in one line (engine/prefs.py summary)


class AuditRow(TypedDict):
    created_at: int
    tool: str
    decision: str
    result_status: str
    duration_ms: int | None
    detail: str | None
    args_digest: str | None


class AuditResult(TypedDict):
    project: str
    rows: list[AuditRow]


class WhyArgs(Where, total=False):
    id: str  # the request to explain (absent: the host's last one)


class WhyResult(TypedDict):
    id: str | None
    lines: list[str]  # the receipt (engine/receipt.py), one line of plain text each


class PrefsArgs(Where, total=False):
    prefer: str  # :ZekePrefer's argument as typed: local | cloud | auto
    budget: str  # :ZekeBudget's argument as typed: whole cents | off


class PrefsResult(TypedDict):
    project: str
    prefer: str  # "local" | "cloud" | "auto"
    budget_cents: int | None  # None: no cap
    budget_set: bool  # the cap is the user's, not the schema's default
    summary: str
    saved: bool


class HistoryRow(TypedDict):
    """One line of :ZekeHistory (store/history.py), newest first."""

    request_id: str
    project: str
    created_at: int  # epoch seconds
    command: str | None  # ZekeRefactor, ZekeTest, ZekeExplain, ZekeFollowup, ZekeRetry
    intent: str | None
    alias: str | None
    model: str | None
    provider: str | None
    cost_usd: float | None
    tokens: int | None
    outcome: str  # answered | proposed | applied | rejected | cancelled | failed
    title: str | None  # the question's first line
    turn: int | None  # its place in its conversation (1: the first request)


class HistoryResult(TypedDict):
    project: str
    enabled: bool  # False: config `history = false`, nothing is kept
    rows: list[HistoryRow]


class HistoryOpenArgs(TypedDict):
    id: str  # the request to reopen
    thread: str  # the id the reopened conversation is kept under (a new request id)


class HistoryEntry(HistoryRow):
    question: str | None  # the user's own words
    answer: str


class HistoryOpenResult(TypedDict):
    thread: str
    turn: int  # exchanges in the reopened thread (a follow-up is turn + 1)
    entry: HistoryEntry


class ConfigResult(TypedDict):
    """What Lua sent at setup, and the host's typed view of it (for tests and health)."""

    sent: dict[str, Any]
    held: dict[str, Any]


CALLS: dict[str, tuple[Any, Any]] = {  # method: (args, result)
    "apply": (ApplyArgs, ApplyResult),
    "discard": (DiscardArgs, bool),
    "aliases": (Where, AliasesResult),
    "set_alias": (SetAliasArgs, SetAliasResult),
    "stats": (TableArgs, StatsResult),
    "audit": (TableArgs, AuditResult),
    "config": (dict, ConfigResult),
    "why": (WhyArgs, WhyResult),
    "set_prefs": (PrefsArgs, PrefsResult),
    "history": (TableArgs, HistoryResult),
    "history_open": (HistoryOpenArgs, HistoryOpenResult),
}
# Calls no part of the UI makes: asked by tests (and anyone debugging) to see what
# the host holds.
DIAGNOSTIC_CALLS = frozenset({"config"})

# Host -> Lua: events ----------------------------------------------------------------


class RequestFacts(TypedDict, total=False):
    """What the host learns about a request; the Lua side copies these as they are."""

    alias: str
    model: str | None
    provider: str | None
    switched_from: str | None  # the model that began the answer, when the router switched
    retried_as: str | None  # the stand-in zeke asked for when the router did not know the alias
    ttfb_ms: int | None
    latency_ms: int
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    degraded: bool
    over_budget: bool
    finish_reason: str | None
    truncated: bool
    # the conversation (engine/thread.py): its id (the first request's), this answer's
    # place in it (1: the first), its running totals, what trimming left out
    thread: str
    turn: int
    thread_cost_usd: float | None
    thread_tokens: int | None
    thread_dropped: str | None


class ToolCallInfo(TypedDict):
    """One tool call's outcome (an item of last().tool_calls)."""

    id: str
    name: str
    decision: str
    status: str  # "ok" | "error" | "timeout" | "not_run"
    path: str | None
    message: str | None  # a warning for the user


class Hunk(TypedDict):
    index: int
    old_start: int
    old_lines: list[str]
    new_lines: list[str]
    header: str


class ProposalInfo(TypedDict):
    id: str
    kind: str  # "selection" | "file"
    path: str | None
    create: bool
    hunks: list[Hunk]


class DonePayload(RequestFacts, total=False):
    state: Literal["done", "error", "cancelled"]
    error: str
    warning: str
    note: str
    proposal: ProposalInfo


class NoticePayload(TypedDict):
    message: str
    level: str  # a vim.log.levels name, lower case


class ReplyPayload(TypedDict, total=False):
    call_id: int
    result: Any  # the method's result (CALLS)
    error: str


class DegradedPayload(TypedDict, total=False):
    on: bool
    model: str | None
    message: str


class ConsentPayload(TypedDict, total=False):
    token: str  # echoed by consent_reply
    tool: str
    args: dict[str, Any]
    path: str | None
    hunks: list[Hunk]
    create: bool
    mode: str  # "ask" | "allow" | "session" | "function"


class GuardChoice(TypedDict, total=False):
    key: str  # "send" | "local" | "cancel"
    label: str
    alias: str  # "local": which alias


class GuardPayload(TypedDict):
    """The budget guard asks before sending (vim.ui.select); answered by guard_reply."""

    token: str
    id: str  # the request's id
    prompt: str
    choices: list[GuardChoice]


REQUEST_EVENTS: dict[str, Any] = {  # about one request (the id goes along)
    "text": str,  # more of the answer
    "meta": RequestFacts,
    "notes": list[str],
    "banner": str,
    "tool": ToolCallInfo,
    "done": DonePayload,
}
GLOBAL_EVENTS: dict[str, Any] = {  # about the session (no id)
    "notice": NoticePayload,
    "reply": ReplyPayload,
    "degraded": DegradedPayload,
    "consent": ConsentPayload,
    "guard": GuardPayload,
}

# The request as the user sees it ----------------------------------------------------

#: The fields of last(), ZekeRequestDone's data and vim.g.zeke_status, in the manual's
#: order: who sets each ("host": a RequestFacts field of meta/done, copied as is; "lua":
#: the Lua side's own) and whether vim.g.zeke_status carries it.
REQUEST_FIELDS: dict[str, tuple[Literal["host", "lua"], bool]] = {
    "id": ("lua", True),
    "command": ("lua", True),
    "intent": ("lua", False),
    "alias": ("host", True),
    "model": ("host", True),
    "provider": ("host", True),
    "switched_from": ("host", True),
    "retried_as": ("host", True),
    "state": ("lua", True),
    "text": ("lua", False),
    "error": ("lua", True),
    "buf": ("lua", False),
    "ttfb_ms": ("host", True),
    "latency_ms": ("host", True),
    "tokens_in": ("host", True),
    "tokens_out": ("host", True),
    "cost_usd": ("host", True),
    "degraded": ("host", True),
    "tool_calls": ("lua", False),
    "finish_reason": ("host", False),
    "truncated": ("host", False),
    "over_budget": ("host", True),
    "thread": ("host", False),
    "turn": ("host", True),
    "thread_cost_usd": ("host", True),
    "thread_tokens": ("host", True),
    "thread_dropped": ("host", False),
}


def describe() -> dict[str, Any]:
    """The protocol's names, for the test that holds the Lua side to them."""
    return {
        "notifications": sorted(NOTIFICATIONS),
        "calls": sorted(CALLS),
        "request_events": sorted(REQUEST_EVENTS),
        "global_events": sorted(GLOBAL_EVENTS),
        "request_fields": [[k, who, status] for k, (who, status) in REQUEST_FIELDS.items()],
    }


def pick(obj: Any, shape: Any) -> Any:
    """The fields of ``shape`` (a TypedDict) from a dict or a dataclass: only what the
    other side reads goes on the wire. None stays None."""
    if obj is None:
        return None
    get = obj.get if isinstance(obj, dict) else lambda k: getattr(obj, k, None)
    return {k: get(k) for k in shape.__annotations__}


# The typed emitter ------------------------------------------------------------------

Send = Callable[[str, str | None, Any], None]


class Events:
    """One method per event, so a misspelt event is an AttributeError (and a type
    error), never an event the Lua side silently drops. ``send`` is the transport
    (the host's Outbox, or a list in tests)."""

    def __init__(self, send: Send) -> None:
        self._send = send

    # about one request
    def text(self, rid: str, text: str) -> None:
        self._send("text", rid, text)

    def meta(self, rid: str, facts: RequestFacts) -> None:
        self._send("meta", rid, facts)

    def notes(self, rid: str, notes: list[str]) -> None:
        self._send("notes", rid, notes)

    def banner(self, rid: str, text: str) -> None:
        self._send("banner", rid, text)

    def tool(self, rid: str, call: ToolCallInfo) -> None:
        self._send("tool", rid, call)

    def done(self, rid: str, result: DonePayload) -> None:
        self._send("done", rid, result)

    # about the session
    def notice(self, message: str, level: str = "warn") -> None:
        self._send("notice", None, NoticePayload(message=message, level=level))

    def reply(self, payload: ReplyPayload) -> None:
        self._send("reply", None, payload)

    def degraded(self, payload: DegradedPayload) -> None:
        self._send("degraded", None, payload)

    def consent(self, payload: ConsentPayload) -> None:
        self._send("consent", None, payload)

    def guard(self, payload: GuardPayload) -> None:
        self._send("guard", None, payload)
