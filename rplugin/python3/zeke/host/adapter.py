"""The pynvim adapter: the only module that talks to Neovim.

pynvim runs its own asyncio loop on the main thread and calls our handlers
there; all real work runs on an anyio loop in a worker thread (a blocking
portal), and results come back as ``exec_lua`` notifications queued with
``async_call`` — never as blocking requests (docs/design.md §16).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.from_thread
import pynvim

from zeke.engine.core import Engine
from zeke.errors import ZekeError
from zeke.host.outbox import Event, Outbox
from zeke.protocol import Events
from zeke.tools.mcp import stop_all_servers

log = logging.getLogger("zeke.host.adapter")

DISPATCH_LUA = "require('zeke.bridge').dispatch(...)"


class Host:
    def __init__(self, nvim: pynvim.Nvim, portal: anyio.from_thread.BlockingPortal) -> None:
        self.nvim = nvim
        self.portal = portal
        self.outbox = Outbox(self._send)
        self.events = Events(self.outbox.emit)
        self.engine = Engine(self.events, session_id=os.environ.get("ZEKE_SESSION"))
        # protocol.NOTIFICATIONS, one handler each (run on the anyio thread)
        self.handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            "setup": self._configure,
            "request": self.engine.run_request,
            "cancel": self._cancel,
            "followup": self.engine.run_followup,
            "retry": self.engine.run_retry,
            "consent_reply": self._consent_reply,
            "guard_reply": self._guard_reply,
            "call": self._call,
        }

    def start(self) -> None:
        self.portal.start_task_soon(self.outbox.run)
        self.portal.start_task(self.engine.serve)

    # Called on pynvim's thread ---------------------------------------------------

    def on_notification(self, name: str, args: list[Any]) -> None:
        if name != "zeke" or not args:
            return
        method = args[0]
        payload = args[1] if len(args) > 1 else {}
        handler = self.handlers.get(method)
        if handler is None:
            log.warning("unknown notification %r", method)
            return
        try:
            self.portal.start_task_soon(handler, payload)
        except Exception:  # the portal is gone: we are shutting down
            log.exception("could not dispatch %r", method)

    def on_request(self, name: str, args: list[Any]) -> Any:
        # Lua only ever notifies (a blocking request could freeze the editor)
        raise ValueError(f"zeke's host takes notifications only (got request {name!r})")

    # Called on the anyio thread ---------------------------------------------------

    async def _configure(self, payload: dict[str, Any]) -> None:
        self.engine.configure(payload)

    async def _cancel(self, payload: dict[str, Any]) -> None:
        self.engine.cancel(str(payload.get("id")))

    async def _consent_reply(self, payload: dict[str, Any]) -> None:
        self.engine.consent_reply(
            str(payload.get("token")), str(payload.get("decision")), payload.get("reason") or None
        )

    async def _guard_reply(self, payload: dict[str, Any]) -> None:
        self.engine.guard_reply(
            str(payload.get("token")), str(payload.get("choice")), payload.get("alias") or None
        )

    async def _call(self, payload: dict[str, Any]) -> None:
        call_id = payload.get("id")
        try:
            result = await self.engine.call(str(payload.get("method")), payload.get("args") or {})
            self.events.reply({"call_id": call_id, "result": result})
        except ZekeError as e:
            self.events.reply({"call_id": call_id, "error": e.message})
        except Exception as e:
            log.exception("call %r failed", payload.get("method"))
            self.events.reply({"call_id": call_id, "error": f"zeke: internal error: {e}"})

    def _send(self, batch: list[Event]) -> None:
        self.nvim.async_call(self._dispatch, batch)

    def _dispatch(self, batch: list[Event]) -> None:
        # on pynvim's thread: one notification, applied atomically by Lua
        self.nvim.exec_lua(DISPATCH_LUA, batch, async_=True)


def _exit_now() -> None:
    """The last resort when stopping takes too long: no tool server outlives us."""
    stop_all_servers(grace=0.0)
    os._exit(0)


def run() -> None:
    """Attach to the Neovim that started us (stdio) and serve until it goes away
    (its end of the pipe closes, or SIGTERM: pynvim stops its loop for both)."""
    # any other way out of the process still ends the tool servers (os._exit skips it)
    atexit.register(stop_all_servers)
    nvim = pynvim.attach("stdio")
    # Entered but never exited on purpose: leaving the portal's context waits for
    # the event loop's idle worker threads (seconds), and Neovim waits for us.
    # (keep the reference: a collected context manager would stop the portal)
    portal_cm = anyio.from_thread.start_blocking_portal()
    portal = portal_cm.__enter__()
    host = Host(nvim, portal)
    host.start()
    try:
        nvim.run_loop(host.on_request, host.on_notification)
    finally:
        # pynvim has put SIGTERM back to its default by now, and Neovim sends one as
        # it closes our pipe: arriving here it would end us before the tool servers
        # (a stuck one's helpers would outlive us). The 2 s timer below still ends us.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log.info("Neovim went away; stopping")
        # a stuck task must not keep an orphan process around
        threading.Timer(2.0, _exit_now).start()
        # first, before anything that could hang: a tool server stuck in a call
        # ignores the end of its stdin and would run on after us
        stop_all_servers()
        # cancels every task; stats writes already in a worker thread still finish
        portal.call(portal.stop, True)
        logging.shutdown()
        os._exit(0)
