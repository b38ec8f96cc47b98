"""The MCP tool server as zeke uses it: one lazily started client, the tool runner
for a request, the consent prompts it waits on, and writes of accepted changes
(read to check the disk, then the file's exact new text with write_file).

Knows nothing of Neovim: it reports through ``protocol.Events`` and records through
``audit``.
"""

from __future__ import annotations

import codecs
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from zeke.changes import proposal as changes
from zeke.errors import ZekeError
from zeke.project import NO_ROOT_HINT, project_of, tool_root
from zeke.protocol import Events
from zeke.settings import Settings
from zeke.store.cache import ToolAuditRecord
from zeke.tools import policy as tool_policy
from zeke.tools import runner as toolrun

if TYPE_CHECKING:  # the client loads when a tool server is first needed (client())
    from zeke.tools.mcp import MCPClient, ToolInfo, ToolResult


class ApplyInBuffer(ZekeError):
    """The tool server cannot write this change faithfully (the file's encoding): it
    is applied in the buffer instead, where :w writes the file's own encoding."""


# Neovim's names for encodings Python spells otherwise.
_NVIM_CODECS = {
    "ucs-2": "utf-16-be",
    "ucs-2le": "utf-16-le",
    "utf-16": "utf-16-be",
    "ucs-4": "utf-32-be",
    "ucs-4le": "utf-32-le",
    "utf-32": "utf-32-be",
}


def _codec(fileencoding: str) -> str | None:
    """The Python codec for a Neovim 'fileencoding' (None: not one Python knows)."""
    name = (fileencoding or "utf-8").strip().lower()
    for prefix in ("8bit-", "2byte-"):
        name = name.removeprefix(prefix)
    name = _NVIM_CODECS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _check_encoding(path: str, server: str, fileencoding: str, lines: list[str]) -> None:
    """Tool servers take text and write UTF-8: fine for a UTF-8 file, and for one whose
    text is the same bytes either way (ASCII in latin-1); else ApplyInBuffer."""
    codec = _codec(fileencoding)
    if codec == "utf-8":
        return
    text = "\n".join(lines)
    try:
        if codec is not None and text.encode(codec) == text.encode("utf-8"):
            return
    except UnicodeEncodeError:
        pass
    raise ApplyInBuffer(
        f"zeke: {os.path.basename(path)} is {fileencoding} ('fileencoding'), but the tool "
        f"server {server} reads and writes UTF-8 text, so a write through it would change "
        "the file's other characters too. The change is made in the buffer instead "
        "(u undoes it; :w saves it as " + fileencoding + ")",
        kind="refused",
    )


class Tooling:
    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        events: Events,
        audit: Callable[[ToolAuditRecord], None],
    ) -> None:
        self._settings = settings
        self._events = events
        self._audit = audit
        self._mcp: MCPClient | None = None
        self._mcp_key: str | None = None
        self._consent_waiters: dict[str, tuple[anyio.Event, list[toolrun.Consent]]] = {}
        # tools the user allowed "for this session" at a consent prompt
        self._session_allowed: set[str] = set()

    async def aclose(self) -> None:
        if self._mcp is not None:
            await self._mcp.aclose()
            self._mcp = None

    async def write_change(
        self,
        proposal: changes.Proposal,
        buffer_lines: list[str],
        applied: changes.Applied,
        *,
        fileformat: str = "unix",
        fileencoding: str = "",
    ) -> list[str]:
        """Write an accepted change through the tool server; returns notes for the user.

        Reads the file first (it must still be what the buffer shows), works out the
        file's exact new text (untouched lines keep their bytes: line ends, a missing
        final newline, the BOM), then ``write_file`` with it — the server's
        ``edit_file`` only when it has no ``write_file`` (some rewrite every line end).
        Missing directories of a new file are made first. A file whose encoding the
        server cannot write (it takes and writes UTF-8 text) raises ApplyInBuffer.
        """
        assert proposal.path is not None
        root = os.path.dirname(proposal.path)
        mcp = await self.client(self._project_root_for(proposal.path) or root)
        path = tool_policy.confine_path(
            proposal.path, self._project_root_for(proposal.path) or root
        )
        project_root = self._project_root_for(proposal.path) or root
        names = {t.name for t in await mcp.list_tools()}
        eol = "\r\n" if fileformat == "dos" else "\n"
        _check_encoding(path, mcp.name, fileencoding, [*buffer_lines, *applied.lines])
        if "write_file" not in names and ("edit_file" not in names or proposal.create):
            needs = (
                "write_file tool (to create a file)"
                if proposal.create
                else "write_file or edit_file tool"
            )
            raise ZekeError(f"zeke: the tool server {mcp.name} has no {needs}", kind="refused")
        read_tool = "read_text_file" if "read_text_file" in names else "read_file"
        if proposal.create:
            new_text = changes.whole_text(buffer_lines, applied, eol)
            await self._make_parent(mcp, proposal, path, project_root, names)
            current_text = ""
        elif read_tool in names:
            current = await self._call_audited(mcp, proposal, read_tool, {"path": path})
            after = None
            if not current.is_error:
                after = await anyio.to_thread.run_sync(
                    changes.file_text_after, current.text, buffer_lines, applied, fileformat
                )
            if after is None:
                raise ZekeError(
                    f"zeke: {path} on disk no longer matches the buffer; reload it (:e) and run "
                    "the command again. Nothing was written.",
                    kind="refused",
                )
            new_text, current_text = after, current.text
        else:
            # no way to look: the buffer (which has no unsaved edits) is the file
            current_text = eol.join(buffer_lines) + eol if buffer_lines != [""] else ""
            new_text = changes.whole_text(buffer_lines, applied, eol)
        if "write_file" in names:
            tool, args = "write_file", {"path": path, "content": new_text}
        else:
            edit = {"oldText": current_text, "newText": new_text}
            tool, args = "edit_file", {"path": path, "edits": [edit]}
        result = await self._call_audited(mcp, proposal, tool, args)
        if result.is_error:
            raise ZekeError(
                f"zeke: {mcp.name} could not write {path}: {result.text[:300]}", kind="refused"
            )
        if tool == "edit_file" and read_tool in names:
            back = await self._call_audited(mcp, proposal, read_tool, {"path": path})
            if not back.is_error and back.text != new_text:
                return [
                    f"zeke: {mcp.name}'s edit_file wrote {path} with other bytes than the "
                    "accepted change (its line ends, most likely); check it with git diff"
                ]
        return []

    async def _make_parent(
        self, mcp: MCPClient, proposal: changes.Proposal, path: str, root: str, names: set[str]
    ) -> None:
        """A new file's directories (tests/ for the first tests), inside the project only:
        the server's create_directory when it has one, else made here."""
        parent = os.path.dirname(path)
        if await anyio.to_thread.run_sync(os.path.isdir, parent):
            return
        parent = tool_policy.confine_path(parent, root)
        if "create_directory" in names:
            made = await self._call_audited(mcp, proposal, "create_directory", {"path": parent})
            if made.is_error:
                raise ZekeError(
                    f"zeke: {mcp.name} could not create the directory {parent}: "
                    f"{made.text[:300]}. Nothing was written.",
                    kind="refused",
                )
            return
        try:
            await anyio.to_thread.run_sync(lambda: os.makedirs(parent, exist_ok=True))
        except OSError as e:
            raise ZekeError(
                f"zeke: cannot create the directory {parent}: {e.strerror or e}. "
                "Nothing was written.",
                kind="refused",
            ) from e

    async def _call_audited(
        self, mcp: MCPClient, proposal: changes.Proposal, tool: str, args: dict[str, Any]
    ) -> ToolResult:
        """One tool call for an accepted change, with its audit row whatever happens."""
        started = time.perf_counter()
        try:
            result = await mcp.call_tool(tool, args)
        except ZekeError as e:
            status = "timeout" if e.kind == "timeout" else "error"
            self._audit_write(proposal, tool, args, status, started)
            raise
        self._audit_write(proposal, tool, args, "error" if result.is_error else "ok", started)
        return result

    def _audit_write(
        self,
        proposal: changes.Proposal,
        tool: str,
        args: Mapping[str, Any],
        status: str,
        started: float,
    ) -> None:
        self._audit(
            ToolAuditRecord(
                request_id=proposal.id,
                project=self._project_name_for(proposal.path),
                server=self._mcp.name if self._mcp else None,
                tool=tool,
                args_digest=tool_policy.args_digest(args),
                decision="allow",
                result_status=status,
                duration_ms=int((time.perf_counter() - started) * 1000),
                detail=f"{proposal.path}: accepted in review",
            )
        )

    async def client(self, root: str) -> MCPClient:
        """The tool server's client, started on first use (and again after a config change)."""
        settings = self._settings()
        cfg = settings.glyph
        if not cfg:
            raise ZekeError("zeke: no tool server configured (config key 'glyph')", kind="config")
        timeout = settings.timeouts.tool
        # the root too: the server resolves relative paths from its working directory,
        # which must be the root the calls were confined to
        key = repr((sorted(cfg.items()), timeout, os.path.realpath(root)))
        if self._mcp is None or self._mcp_key != key:
            if self._mcp is not None:
                await self._mcp.aclose()
            from zeke.tools.mcp import MCPClient

            self._mcp = MCPClient.from_config(
                cfg, cwd=root, request_timeout=timeout, hidden_env=settings.api_key_env
            )
            self._mcp_key = key
        await self._mcp.ensure_started()
        return self._mcp

    async def runner(
        self, *, rid: str, intent: str, root: str | None, project: str
    ) -> tuple[toolrun.ToolRunner | None, list[ToolInfo]]:
        """The tools a request may use, and who runs them; (None, []) without a server,
        and without a project root (``project.tool_root``: nowhere tools may work)."""
        settings = self._settings()
        if not settings.glyph or intent not in ("code", "tests"):
            return None, []
        if root is None:
            self._events.notes(
                rid,
                [
                    "zeke: tools are off: this is not inside a project (no .git above the "
                    "file or the current directory, and no project.root configured); "
                    + NO_ROOT_HINT
                ],
            )
            return None, []
        try:
            with anyio.fail_after(10):
                mcp = await self.client(root)
                offered = tool_policy.offered_tools(
                    await mcp.list_tools(), enable=settings.tools.enable
                )
        except (ZekeError, TimeoutError) as e:
            msg = e.message if isinstance(e, ZekeError) else "it did not answer within 10 s"
            self._events.notes(
                rid, [f"zeke: tool server unavailable ({msg}); answering without tools"]
            )
            return None, []
        runner = toolrun.ToolRunner(
            mcp,
            offered,
            root=root,
            project=project,
            request_id=rid,
            consent_mode=settings.consent,
            session_allowed=self._session_allowed,
            ask=lambda request: toolrun.ask_via_events(
                self._events, self._consent_waiters, rid, request
            ),
            audit=self._audit,
            timeout=settings.timeouts.tool,
        )
        return runner, offered

    def consent_reply(self, token: str, decision: str, reason: str | None) -> None:
        waiter = self._consent_waiters.get(token)
        if waiter is None:
            return
        event, box = waiter
        if decision not in ("allow", "allow_session", "policy", "reject", "cancel"):
            decision = "reject"
        box.append(toolrun.Consent(decision, reason or None))
        event.set()

    def _project_root_for(self, path: str | None) -> str | None:
        """Where an accepted change to ``path`` may be written through the tool server:
        the project root (``project.tool_root``), refusing what no tool may write: a file
        outside any project, or one inside ``.git``."""
        if not path:
            return None
        root = tool_root(path, os.path.dirname(path), self._settings().project_root)
        if root is None:
            raise ZekeError(
                f"zeke: {path} is not inside a project (no .git above it, and no "
                f"project.root configured), so zeke will not write it through the tool "
                f"server; {NO_ROOT_HINT}. Nothing was written.",
                kind="refused",
            )
        try:
            tool_policy.refuse_git_internals(tool_policy.confine_path(path, root), root)
        except ZekeError as e:
            raise ZekeError(f"zeke: {e.message} Nothing was written.", kind="refused") from None
        return root

    def _project_name_for(self, path: str | None) -> str:
        name = self._settings().project
        if name:
            return name
        if not path:
            return ""
        return project_of(path, os.path.dirname(path), self._settings().project_root)[0]
