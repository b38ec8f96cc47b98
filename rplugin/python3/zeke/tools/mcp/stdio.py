"""The stdio transport: a tool server run as a child process of the host.

It speaks newline-delimited JSON-RPC on stdin/stdout, logs on stderr (kept in our
log, never shown raw) and is asked to stop by the end of its stdin; when it does
not stop, its whole process group is signalled (see ``processes``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.abc

from zeke.tools.mcp.processes import (
    ROUTER_KEY_ENV,
    inherited_env,
    resolve_command,
    spawn_argv,
    track,
    untrack,
)
from zeke.tools.mcp.wire import MAX_MESSAGE, Lost, MCPError, Transport, dumps

log = logging.getLogger("zeke.tools.mcp")


class StdioTransport(Transport):
    """A child process speaking newline-delimited JSON-RPC on stdin/stdout."""

    def __init__(self, proc: anyio.abc.Process, label: str) -> None:
        self._proc = proc
        self._label = label
        self._buf = bytearray()
        self._lock = anyio.Lock()
        self._stderr_tail: deque[str] = deque(maxlen=3)

    @classmethod
    async def open(
        cls,
        argv: list[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        label: str,
        hidden_env: frozenset[str] = ROUTER_KEY_ENV,
    ) -> StdioTransport:
        if not os.path.isdir(cwd):
            raise MCPError(f"Cannot start {label}: directory {cwd} does not exist.", kind="config")
        child_env = {**inherited_env(hidden_env), **env}
        executable = resolve_command(argv[0], cwd=cwd, env=child_env)
        if executable is None:
            raise MCPError(
                f"Cannot start {label}: command {argv[0]!r} not found. Check glyph.cmd "
                "(and that the program is installed and on PATH).",
                kind="unreachable",
            )
        try:
            proc = await anyio.open_process(
                spawn_argv(argv, executable),
                cwd=cwd,
                env=child_env,
                # Its own process group, so closing can reach helpers it spawned (npx → node).
                start_new_session=True,
            )
        except OSError as exc:
            raise MCPError(
                f"Cannot start {label} ({argv[0]}): {exc.strerror or exc}. Check glyph.cmd.",
                kind="unreachable",
            ) from exc
        track(proc.pid)
        log.info("started %s (pid %s): %s", label, proc.pid, shlex.join(argv))
        return cls(proc, label)

    async def send(self, msg: Mapping[str, Any]) -> None:
        data = (dumps(msg) + "\n").encode("utf-8")
        assert self._proc.stdin is not None
        async with self._lock:  # one whole line at a time
            try:
                await self._proc.stdin.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise Lost(sent=False, detail=f"cannot write to {self._label}: {exc}") from exc

    async def receive(self) -> Any:
        assert self._proc.stdout is not None
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                msg = self._parse(line)
                if msg is not None:
                    return msg
                continue
            if len(self._buf) > MAX_MESSAGE:
                log.warning("%s: dropping an over-long stdout line", self._label)
                self._buf.clear()
            try:
                chunk = await self._proc.stdout.receive(65536)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                tail = bytes(self._buf)
                self._buf.clear()
                return self._parse(tail) if tail.strip() else None
            self._buf.extend(chunk)

    def aux_tasks(self) -> list[Callable[[], Awaitable[None]]]:
        return [self._drain_stderr]

    async def _drain_stderr(self) -> None:
        """Stderr goes to our log, never to the user; draining it also keeps a chatty
        server from blocking on a full pipe."""
        if self._proc.stderr is None:
            return
        pending = b""
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async for chunk in self._proc.stderr:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = self.scrubber().text(raw.decode("utf-8", "replace").rstrip())
                    if line:
                        self._stderr_tail.append(line)
                        log.debug("%s stderr: %s", self._label, line)

    async def exit_detail(self) -> str:
        with anyio.move_on_after(0.5):
            await self._proc.wait()
        parts = []
        if self._proc.returncode is not None:
            parts.append(f"exit status {self._proc.returncode}")
        if self._stderr_tail:
            parts.append(self._stderr_tail[-1][:200])
        return "; ".join(parts)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if hasattr(os, "killpg"):
                os.killpg(self._proc.pid, sig)
            elif sig == signal.SIGTERM:
                self._proc.terminate()
            else:
                self._proc.kill()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._proc.stdin is not None:
                # EOF on stdin is how a stdio server is asked to stop (never a blank line).
                with contextlib.suppress(Exception):
                    await self._proc.stdin.aclose()
            exited = False
            with anyio.move_on_after(2.0):
                await self._proc.wait()
                exited = True
            if not exited:
                self._signal_group(signal.SIGTERM)
                with anyio.move_on_after(2.0):
                    await self._proc.wait()
                    exited = True
            if not exited:
                self._signal_group(signal.SIGKILL)
            else:
                # Anything still in the group is a helper it left behind.
                self._signal_group(signal.SIGTERM)
            with contextlib.suppress(Exception):
                await self._proc.aclose()  # closes the pipes and reaps the child
            untrack(self._proc.pid)
            log.info("%s stopped (exit status %s)", self._label, self._proc.returncode)
