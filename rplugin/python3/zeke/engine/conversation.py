"""The conversation of one request: a turn's answer streams to the UI; when the model
asks for tools, they run (``tools.runner``: policy, consent, audit) and their results
go back to it as the next turn, up to ``tools.max_turns`` turns.

Which server answers a turn is ``routes.py``'s business; who it was, ``facts.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable

from zeke import protocol
from zeke.backends.events import TextDelta, ToolCall
from zeke.engine import facts
from zeke.engine.backend import Backend, Messages, Tools
from zeke.engine.catalog import Catalog
from zeke.engine.request import Request
from zeke.engine.routes import Routes
from zeke.engine.streamed import Answer
from zeke.tools import policy as tool_policy
from zeke.tools import runner as toolrun
from zeke.tools.service import Tooling


class Conversation:
    def __init__(
        self,
        req: Request,
        *,
        routes: Routes,
        tooling: Tooling,
        catalog: Catalog,
        events: protocol.Events,
        flush_notices: Callable[[], None],
    ) -> None:
        self.req = req
        self._routes = routes
        self._tooling = tooling
        self._catalog = catalog
        self._events = events
        self._flush_notices = flush_notices

    async def run(self, first: Messages, answer: Answer) -> None:
        """Turns until the model answers without tool calls (or fails, or the limit)."""
        req = self.req
        runner, offered = await self._tooling.runner(
            rid=req.rid, intent=req.intent, root=req.tool_root, project=req.project
        )
        tools = tool_policy.to_openai_tools(offered) if offered else None
        messages = list(first)
        max_turns = req.settings.tools.max_turns
        for turn in range(max_turns):
            turn_start = len(answer.text)
            backend = await self._turn(messages, tools, answer)
            calls = answer.tool_calls
            if not calls or runner is None or answer.failure or answer.truncated:
                return
            if turn == max_turns - 1:
                # its results could never reach the model: run nothing more
                limit = f"Not run: the conversation reached tools.max_turns ({turn + 1})."
                for call in calls:
                    self._tool_done(runner.skip(call, "refused", limit))
                break
            messages.append(backend.assistant_message(answer.text[turn_start:], calls))
            if not await self._run_tools(runner, backend, calls, messages):
                return
            self._flush_notices()
            if answer.text and not answer.text.endswith("\n\n"):
                answer.text += "\n\n"  # the next turn's text starts a paragraph
                self._events.text(req.rid, "\n\n")
        self._events.notes(
            req.rid,
            [
                f"zeke: stopped after {max_turns} turns (config tools.max_turns); "
                f"the model's last {len(answer.tool_calls)} tool call(s) were not run"
            ],
        )

    async def _turn(self, messages: Messages, tools: Tools, answer: Answer) -> Backend:
        """One answer streamed: its text to the UI, who is answering to the badge."""
        async with self._routes.open(self.req, messages, tools, answer) as turn:
            answer.begin_turn(turn.stream.headers, turn.sent)
            self._show_facts(turn.backend, answer)
            async for ev in turn.stream.events:
                if answer.absorb(ev):
                    self._show_facts(turn.backend, answer)
                elif isinstance(ev, TextDelta):
                    self._events.text(self.req.rid, ev.text)
        return turn.backend

    async def _run_tools(
        self,
        runner: toolrun.ToolRunner,
        backend: Backend,
        calls: list[ToolCall],
        messages: Messages,
    ) -> bool:
        """Each call in turn, its result appended for the model; False: the user
        cancelled them all."""
        for n, call in enumerate(calls):
            try:
                outcome = await runner.run(call)
            except toolrun.CancelAll as cancelled:
                if cancelled.outcome is not None:
                    self._tool_done(cancelled.outcome)
                for rest in calls[n + 1 :]:  # on record too: cancelled with the others
                    self._tool_done(
                        runner.skip(rest, "cancel", "Not run: the user cancelled all calls.")
                    )
                self._events.notes(
                    self.req.rid, ["zeke: tool calls cancelled; nothing more was run"]
                )
                return False
            self._tool_done(outcome)
            messages.append(backend.tool_message(call, outcome.content))
        return True

    def _tool_done(self, outcome: toolrun.Outcome) -> None:
        """A call's outcome, for last().tool_calls and the UI."""
        self._events.tool(self.req.rid, outcome.summary())

    def _show_facts(self, backend: Backend, answer: Answer) -> None:
        """Tell the badge who is answering as soon as it is known, and when it changes
        (speculate_k can switch provider mid-answer)."""
        seen = facts.observed(backend, answer, self._catalog)
        if seen.sources.get("model") in ("header", "routing_metadata", "litellm", "chunk"):
            answer.saw_model(seen.model)
        shown = (seen.provider, seen.model, seen.cost_usd, answer.switched_from)
        if shown != self.req.shown:
            self.req.shown = shown
            self._events.meta(
                self.req.rid,
                {
                    "provider": seen.provider,
                    "model": seen.model,
                    "cost_usd": seen.cost_usd,
                    "switched_from": answer.switched_from,
                },
            )
