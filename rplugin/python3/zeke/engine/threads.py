"""The threads the host keeps (in memory: a follow-up's first token is no slower than
a fresh request's) and getting a follow-up or a retry ready to send: which thread,
its messages (``thread.build``), the model it goes to, its sticky ``omen`` object.

A follow-up goes to the model that answered (the rule tool turns follow,
``Routes.pin_for``) unless an alias is given; a retry goes to the alias given, like a
fresh request, with the same context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from zeke import protocol
from zeke.engine import context, tags
from zeke.engine import thread as thread_mod
from zeke.engine.backend import Messages, OllamaBackend, OmenBackend
from zeke.engine.facts import Facts
from zeke.engine.redact import redact
from zeke.engine.request import Request
from zeke.engine.routes import Routes
from zeke.engine.streamed import Answer
from zeke.engine.thread import Exchange, Thread
from zeke.errors import ZekeError

# What a follow-up does not copy from the request before it: its own per-request state.
_OWN = frozenset({"link", "started", "backend", "retried_as", "degraded", "prompt_tokens", "shown"})

GONE = (
    "zeke: that conversation is no longer kept (the Python host restarted, or it is older "
    "than the last {keep}); ask again with :ZekeRefactor, :ZekeTest or :ZekeExplain"
)


class Threads:
    def __init__(self, *, routes: Routes, events: protocol.Events, session: Callable[[], str]):
        self._routes = routes
        self._events = events
        self._session = session
        self._threads: dict[str, Thread] = {}
        self._of_request: dict[str, Thread] = {}  # request id -> its thread

    def get(self, tid: str) -> Thread | None:
        return self._threads.get(tid)

    # The first request ------------------------------------------------------------

    def opened(self, req: Request, messages: Messages) -> None:
        """A fresh request is prepared: it starts a thread of its own."""
        system, first = str(messages[0]["content"]), str(messages[-1]["content"])
        t = Thread(id=req.rid, session=self._session_for(req.rid), system=system)
        t.last = req
        self._add(t, req, first, announce=False)  # prepare said the alias; done the rest

    # A follow-up and a retry --------------------------------------------------------

    async def followup(self, req: Request, payload: dict[str, Any]) -> Messages:
        t = self._asked(payload)
        if t.streaming:
            raise ZekeError(
                "zeke: that answer is still streaming; wait for it to end (or :ZekeCancel "
                "it), then follow up",
                kind="refused",
            )
        done = t.answered()
        if not done:
            raise ZekeError(
                "zeke: that request has no answer to follow up; :ZekeRetry sends it again",
                kind="refused",
            )
        text, _n = redact(str(payload.get("text") or "").strip())
        if not text:
            raise ZekeError("zeke: a follow-up needs a message: :ZekeFollowup {text}")
        _copy(req, t.last)
        req.question = text
        built = thread_mod.build(t.system, done, text, self._budget(req))
        req.omen = thread_mod.sticky_omen(req.omen, t.session)
        alias = payload.get("alias")
        if alias:
            self._realias(req, str(alias))
        else:
            self._pin(req, t)
        self._sized(req, built)
        self._add(t, req, text, dropped=built.dropped)
        return built.messages

    async def retry(self, req: Request, payload: dict[str, Any]) -> Messages:
        old = self._asked(payload)
        new, question = thread_mod.retried(old, req.rid, self._session_for(req.rid))
        _copy(req, old.last)
        self._realias(req, str(payload.get("alias") or ""))
        done = new.answered()
        built = thread_mod.build(new.system, done, question, self._budget(req))
        if done:  # the retried question continues a thread: it stays on one model
            req.omen = thread_mod.sticky_omen(req.omen, new.session)
        self._sized(req, built)
        self._add(new, req, question, dropped=built.dropped)
        return built.messages

    def reopen(self, t: Thread) -> None:
        """Keep a thread reopened from the history (engine/history.py) under its own
        id and session; its exchanges are over, so none is looked up by request."""
        t.session = self._session_for(t.id)
        self._keep(t)

    # The end of any of them ---------------------------------------------------------

    def finished(
        self, req: Request, answer: Answer, facts: Facts, result: protocol.DonePayload
    ) -> None:
        """Keep the answer in its thread; ``result`` gets the thread's running totals."""
        t = self._of_request.get(req.rid)
        if t is None:
            return
        x = next((x for x in t.exchanges if x.rid == req.rid), None)
        if x is None:
            return
        x.state = str(result.get("state") or "done")
        x.answer = answer.text
        x.model = facts.model
        if x.state == "done":
            x.cost_usd = result.get("cost_usd")
            ins, outs = result.get("tokens_in"), result.get("tokens_out")
            x.tokens = (ins or 0) + (outs or 0) if ins is not None or outs is not None else None
            t.last = req
            if isinstance(req.backend, OmenBackend):
                t.pin = self._routes.pin_for(req.backend, answer)
        turn = t.exchanges.index(x) + 1
        if x.state != "done" and turn == 1:
            return  # a first request that failed: the Lua side knows it as turn 1
        cost, tokens = thread_mod.totals(t.answered())
        result["thread"] = t.id
        result["turn"] = turn
        result["thread_cost_usd"] = cost
        result["thread_tokens"] = tokens

    # Helpers ------------------------------------------------------------------------

    def _asked(self, payload: dict[str, Any]) -> Thread:
        t = self._threads.get(str(payload.get("thread") or ""))
        if t is None or t.last is None:
            raise ZekeError(GONE.format(keep=thread_mod.KEEP), kind="refused")
        return t

    def _session_for(self, rid: str) -> str:
        return f"{self._session()}-{rid.replace('-', '')[:12]}"

    def _budget(self, req: Request) -> int:
        return thread_mod.SELECTION_TOKENS + req.settings.max_context_tokens

    def _realias(self, req: Request, name: str) -> None:
        """Route to this alias as a fresh request would (an unknown one: an error
        naming the known ones)."""
        s = req.settings
        req.alias = alias = tags.resolve_alias(name, s.aliases)
        req.tags = tags.merge_tags(
            s.tags, alias.tags, {"intent": req.intent}, {"project": req.project}
        )
        req.backend = None

    def _pin(self, req: Request, t: Thread) -> None:
        """The server and model that answered: Ollama in degraded mode, else the
        router, naming the model ``t.pin`` says."""
        last = t.last.backend
        if isinstance(last, OllamaBackend):
            req.backend = OllamaBackend(req.link, last.model)
            req.degraded = True
            return
        assert req.alias is not None
        model = t.pin or (last.model if last is not None else req.alias.name)
        req.backend = OmenBackend(
            req.link,
            model,
            req.alias,
            dict(req.tags),
            req.omen,
            label=self._routes.server_name(req.settings),
        )

    def _sized(self, req: Request, built: thread_mod.Built) -> None:
        req.prompt_tokens = built.tokens
        req.size_hint = context.size_hint(built.tokens)
        req.tags = {**req.tags, "size_hint": req.size_hint}
        if isinstance(req.backend, OmenBackend):
            req.backend = OmenBackend(
                req.link,
                req.backend.model,
                req.backend.alias,
                req.tags,
                req.omen,
                label=req.backend.label,
            )

    def _add(
        self,
        t: Thread,
        req: Request,
        question: str,
        dropped: str | None = None,
        *,
        announce: bool = True,
    ) -> None:
        alias = req.alias.name if req.alias else None
        t.exchanges.append(Exchange(req.rid, question, alias=alias))
        self._of_request[req.rid] = t
        self._keep(t)
        if announce:
            self._events.meta(
                req.rid,
                {
                    "alias": alias or "auto",
                    "thread": t.id,
                    "turn": len(t.exchanges),
                    "thread_dropped": dropped,
                },
            )

    def _keep(self, t: Thread) -> None:
        self._threads.pop(t.id, None)
        self._threads[t.id] = t  # the newest last: the oldest is forgotten first
        while len(self._threads) > thread_mod.KEEP:
            gone = self._threads.pop(next(iter(self._threads)))
            for x in gone.exchanges:
                if self._of_request.get(x.rid) is gone:
                    self._of_request.pop(x.rid, None)


def _copy(req: Request, last: Request) -> None:
    """The context and routing of the request before (what it was about, its alias,
    tags and omen options); copies, so one request's changes stay its own."""
    for f in fields(Request):
        if f.name not in _OWN:
            value = getattr(last, f.name)
            setattr(req, f.name, dict(value) if isinstance(value, dict) else value)
