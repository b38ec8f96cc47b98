"""Changes proposed from answers, pending until the UI settles them: made from the
answer's code (never applied here), applied on the user's word (in the buffer, or
written through the tool server), or discarded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio

from zeke import protocol
from zeke.changes import proposal as changes
from zeke.engine.request import Request
from zeke.engine.wording import prefixed
from zeke.errors import ZekeError
from zeke.settings import Settings
from zeke.tools.service import ApplyInBuffer, Tooling

KEEP = 20  # pending changes kept; older ones are forgotten


class Proposals:
    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        tooling: Tooling,
        events: protocol.Events,
        outcome: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self._settings = settings
        self._tooling = tooling
        self._events = events
        self._pending: dict[str, changes.Proposal] = {}
        # what became of a change (the request's id, hunks accepted, rejected): the
        # stats row's outcome (:ZekeStats, :ZekeModel's apply rate)
        self._outcome = outcome or (lambda rid, accepted, rejected: None)
        # proposal id -> (accepted, total) of its last apply, until the UI settles it
        self._applied: dict[str, tuple[int, int]] = {}

    async def propose(self, req: Request, text: str, result: protocol.DonePayload) -> None:
        """Turn the answer's code into a change the user can review: ``result`` gets
        its ``proposal`` and/or a ``note``."""
        s = self._settings()
        try:
            proposal, note = await anyio.to_thread.run_sync(
                lambda: changes.from_answer(
                    pid=req.rid,
                    intent=req.intent,
                    text=text,
                    filetype=req.filetype,
                    selection=req.selection,
                    start_line=req.start_line,
                    cut=req.cut,
                    path=req.path,
                    root=req.root,
                    test_paths=s.test_paths,
                    read_file=changes.read_text,
                )
            )
        except ZekeError as e:
            proposal, note = None, prefixed(e.message)
        if note:
            result["note"] = note
        if proposal is not None:
            self._pending[proposal.id] = proposal
            while len(self._pending) > KEEP:
                self._applied.pop(self._pending.pop(next(iter(self._pending))).id, None)
            result["proposal"] = proposal.to_wire()

    async def apply(self, args: Mapping[str, Any]) -> protocol.ApplyResult:
        pid = str(args.get("proposal") or "")
        proposal = self._pending.get(pid)
        if proposal is None:
            raise ZekeError(
                "zeke: that change is no longer pending; run the command again", kind="refused"
            )
        lines = [str(x) for x in args.get("lines") or []]
        accepted = [int(i) for i in args.get("accepted") or []]
        hint = args.get("hint")  # where the UI's extmark says the original starts now
        applied = await anyio.to_thread.run_sync(
            lambda: changes.apply(
                proposal, lines, accepted, hint=hint if isinstance(hint, int) else None
            )
        )
        out: protocol.ApplyResult = {
            "start": applied.start,
            "end": applied.end,
            "lines": applied.lines,
            "accepted": applied.accepted,
            "total": applied.total,
            "written": False,
        }
        if self._settings().glyph and proposal.path and accepted:
            if args.get("modified"):
                raise ZekeError(
                    f"zeke: {proposal.path} has unsaved edits; save it (:w) and apply again — "
                    "zeke never overwrites a buffer with unsaved edits from disk",
                    kind="refused",
                )
            try:
                notes = await self._tooling.write_change(
                    proposal,
                    lines,
                    applied,
                    fileformat=str(args.get("fileformat") or "unix"),
                    fileencoding=str(args.get("fileencoding") or ""),
                )
            except ApplyInBuffer as e:
                # nothing written: the UI applies it in the buffer (one undo step)
                notes = [e.message]
            else:
                out["written"] = True
            for note in notes:
                self._events.notice(note)
        self._applied[pid] = (applied.accepted, applied.total)
        if out["written"]:
            self._pending.pop(pid, None)
            self._settle(pid, applied=True, total=applied.total)
        # else the UI applies it in the buffer and settles it with "discard" once it
        # has: if the buffer changed meanwhile, the change stays pending for a retry
        return out

    async def discard(self, args: Mapping[str, Any]) -> bool:
        """Settle a change: outcome "applied" (the UI applied apply's result in the
        buffer), else rejected — whole, or dropped unapplied for a rival or a follow-up's."""
        pid = str(args.get("proposal") or "")
        proposal = self._pending.pop(pid, None)
        if proposal is not None:
            applied = args.get("outcome") == "applied"
            self._settle(pid, applied=applied, total=len(proposal.hunks))
        return True

    def _settle(self, pid: str, *, applied: bool, total: int) -> None:
        last = self._applied.pop(pid, None)
        if applied and last is not None:
            accepted, total = last
            self._outcome(pid, accepted, max(0, total - accepted))
        else:
            self._outcome(pid, 0, total)
