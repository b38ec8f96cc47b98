"""Running the model's tool calls: policy, consent, the call itself, the audit row.

Every call ends in exactly one audit row and one tool result for the model —
including the ones we refuse (an invented tool, bad JSON, a path outside the
project, a user's "no"). Writes are previewed as a diff and need consent
(``"ask"``: the user; ``"allow"``; or the user's policy function) before they
reach the server; paths outside the project root are refused whatever the
policy says (docs/design.md §8).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from zeke.backends.events import ToolCall
from zeke.changes import proposal as changes
from zeke.errors import ZekeError
from zeke.protocol import ConsentPayload, Events, ToolCallInfo
from zeke.store.cache import ToolAuditRecord
from zeke.tools import policy as tools
from zeke.tools.names import classify

if TYPE_CHECKING:
    from zeke.tools.mcp import MCPClient, ToolInfo

log = logging.getLogger("zeke.tools.runner")

MAX_RESULT_CHARS = 20_000


class CancelAll(Exception):
    """The user chose "cancel all" at a consent prompt; ``outcome`` is the call's own
    (already on record)."""

    def __init__(self, outcome: Outcome | None = None) -> None:
        super().__init__("cancelled by the user")
        self.outcome = outcome


@dataclass
class Consent:
    decision: str  # "allow" | "allow_session" | "policy" | "reject" | "cancel"
    reason: str | None = None


AskConsent = Callable[[dict[str, Any]], Awaitable[Consent]]
Audit = Callable[[ToolAuditRecord], None]


@dataclass
class Outcome:
    """What goes back to the model, and what the UI shows in `last().tool_calls`."""

    call: ToolCall
    content: str
    status: str  # "ok" | "error" | "timeout" | "not_run"
    decision: str
    path: str | None = None
    notice: str | None = None  # for the user: the tool server failed (crash, timeout)

    def summary(self) -> ToolCallInfo:
        return {
            "id": self.call.id,
            "name": self.call.name,
            "decision": self.decision,
            "status": self.status,
            "path": self.path,
            "message": self.notice,
        }


class ToolRunner:
    def __init__(
        self,
        client: MCPClient,
        offered: Sequence[ToolInfo],
        *,
        root: str,
        project: str,
        request_id: str,
        consent_mode: str,
        session_allowed: set[str],
        ask: AskConsent,
        audit: Audit,
        timeout: float = 30.0,
    ) -> None:
        self.client = client
        self.offered = {t.name: t for t in offered}
        self.root = root
        self.project = project
        self.request_id = request_id
        self.consent_mode = consent_mode
        self.session_allowed = session_allowed
        self.ask = ask
        self.audit = audit
        self.timeout = timeout

    async def run(self, call: ToolCall) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = await self._run(call)
        except CancelAll:
            # the user's "cancel all" is a consent decision too: on record like the others
            outcome = Outcome(call, "Cancelled by the user.", "not_run", "cancel")
            self._record(call, outcome, started)
            raise CancelAll(outcome) from None
        self._record(call, outcome, started)
        return outcome

    def skip(self, call: ToolCall, decision: str, why: str) -> Outcome:
        """A call that will not run (the user cancelled all, the turn limit): it still
        gets its audit row, like every call."""
        outcome = Outcome(call, why, "not_run", decision)
        self._record(call, outcome, time.perf_counter())
        return outcome

    def _record(self, call: ToolCall, outcome: Outcome, started: float) -> None:
        self.audit(
            ToolAuditRecord(
                request_id=self.request_id,
                project=self.project,
                server=self.client.name,
                tool=call.name,
                args_digest=tools.args_digest(
                    call.arguments if call.arguments is not None else call.raw_arguments
                ),
                decision=outcome.decision,
                result_status=outcome.status,
                duration_ms=int((time.perf_counter() - started) * 1000),
                detail=_detail(outcome),
            )
        )

    async def _run(self, call: ToolCall) -> Outcome:
        if call.name not in self.offered:
            return Outcome(
                call, f"Error: there is no tool named {call.name!r} here.", "not_run", "refused"
            )
        if call.arguments is None:
            why = call.parse_error or "not a JSON object"
            return Outcome(
                call,
                f"Error: the arguments were not valid JSON ({why}). Send a JSON object.",
                "not_run",
                "refused",
            )
        args = dict(call.arguments)
        kind = classify(call.name)
        try:
            paths = self._confined(call.name, args, kind)
        except ZekeError as e:
            return Outcome(call, f"Error: {e.message}", "not_run", "refused")
        path = paths[0][1] if paths else None
        if paths and paths[0][0] == "path":
            args["path"] = path  # absolute and resolved: what we previewed is what is written
        decision = "allow"
        if kind != "read":
            request = await self._consent_request(call.name, args, path)
            if isinstance(request, Outcome):
                return request
            consent = await self._consent(call.name, args, request)
            decision = consent.decision
            if consent.decision == "cancel":
                raise CancelAll()
            if consent.decision == "reject":
                reason = f" Reason: {consent.reason}" if consent.reason else ""
                return Outcome(
                    call, f"The user rejected this tool call.{reason}", "not_run", "reject", path
                )
        try:
            result = await self.client.call_tool(call.name, args, timeout=self.timeout)
        except ZekeError as e:
            status = "timeout" if e.kind == "timeout" else "error"
            notice = f"zeke: tool {call.name} failed: {e.message}"
            return Outcome(call, f"Error: {e.message}", status, decision, path, notice)
        text = result.text
        if len(text) > MAX_RESULT_CHARS:
            text = text[:MAX_RESULT_CHARS] + f"\n… (cut: {len(result.text)} characters in all)"
        return Outcome(call, text, "error" if result.is_error else "ok", decision, path)

    def _confined(self, name: str, args: Mapping[str, Any], kind: str) -> list[tuple[str, str]]:
        """(argument, real path) of every path in the call, all inside the project, and
        none inside .git for a call that may write; else a refusal naming the argument.
        Paths are found by name, by the tool's schema and by what the values look like
        (tools.path_arguments), whatever the consent mode."""
        schema = self.offered[name].input_schema if name in self.offered else None
        out = []
        for where, value in tools.path_arguments(name, args, schema, self.root):
            try:
                real = tools.confine_path(value, self.root)
                if kind != "read":
                    tools.refuse_git_internals(real, self.root)
            except ZekeError as e:
                raise ZekeError(f"argument {where}: {e.message}", kind="refused") from None
            out.append((where, real))
        return out

    async def _consent_request(
        self, name: str, args: Mapping[str, Any], path: str | None
    ) -> dict[str, Any] | Outcome:
        """What the user is shown: a diff for file writes, the arguments otherwise."""
        request: dict[str, Any] = {
            "tool": name,
            "args": _safe_args(args),
            "path": path,
            "hunks": [],
        }
        if name in ("write_file", "edit_file", "apply_patch") and path:
            # the disk read, the edit and the diff run in a worker thread: on a huge
            # file they would otherwise hold up the host's event loop (every request)
            current = await anyio.to_thread.run_sync(changes.read_text, path)
            try:
                write = await anyio.to_thread.run_sync(tools.proposed_write, name, args, current)
            except ZekeError as e:
                return Outcome(
                    ToolCall(id="", name=name, arguments=dict(args)),
                    f"Error: {e.message}",
                    "not_run",
                    "refused",
                    path,
                )
            request["hunks"] = await anyio.to_thread.run_sync(
                changes.write_hunks, current, write.new
            )
            request["create"] = current is None
        return request

    async def _consent(
        self, name: str, args: Mapping[str, Any], request: dict[str, Any]
    ) -> Consent:
        # Every mode goes through the editor: only it knows whether the file is open
        # with unsaved edits (then the write is refused, whatever the policy).
        # "allow" and "session" are answered there without a prompt; "function"
        # runs the user's Lua policy; "ask" asks.
        mode = "session" if name in self.session_allowed else self.consent_mode
        request["mode"] = mode
        consent = await self.ask(request)
        if consent.decision == "allow_session":
            self.session_allowed.add(name)
        return consent


def _safe_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments for the consent prompt: long strings shortened (the diff shows content)."""
    out: dict[str, Any] = {}
    for k, v in args.items():
        if isinstance(v, str) and len(v) > 400:
            out[k] = v[:400] + f"… ({len(v)} chars)"
        else:
            out[k] = v
    return out


def _detail(outcome: Outcome) -> str:
    where = f"{outcome.path}: " if outcome.path else ""
    if outcome.status == "ok":
        # a result can be a file's content (secrets included): only its size is kept
        return f"{where}{len(outcome.content)} chars"[:300]
    first = outcome.content.strip().splitlines()[0] if outcome.content.strip() else ""
    return (where + first)[:300]


async def ask_via_events(
    events: Events,
    waiters: dict[str, tuple[anyio.Event, list[Consent]]],
    rid: str,
    request: dict[str, Any],
) -> Consent:
    """Send a consent request to the UI and wait for the user's answer."""
    token = f"{rid}:{len(waiters)}:{time.monotonic_ns()}"
    event = anyio.Event()
    box: list[Consent] = []
    waiters[token] = (event, box)
    try:
        events.consent(ConsentPayload(**request, token=token))
        await event.wait()
    finally:
        waiters.pop(token, None)
    return box[0] if box else Consent("cancel")
