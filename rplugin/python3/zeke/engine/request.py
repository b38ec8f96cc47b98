"""One request as the engine holds it, and getting it ready to send: which project
and alias, the packed context, the hint tags and OMEN options (docs/design.md §5, §6).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from zeke import protocol
from zeke.changes import proposal as changes
from zeke.changes import span
from zeke.engine import context, images, prompts, tags
from zeke.engine.backend import Backend, Link, Messages
from zeke.engine.redact import redact
from zeke.project import project_config, project_of, tool_root
from zeke.settings import Settings
from zeke.store.cache import Prefs


@dataclass
class Request:
    link: Link
    intent: str = "code"
    started: float = field(default_factory=time.perf_counter)
    project: str = ""
    alias: tags.Alias | None = None
    size_hint: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    omen: dict[str, Any] | None = None
    max_cloud_cost_cents: int | None = None
    # what the request was about (for the proposed change)
    path: str | None = None
    root: str = ""
    tool_root: str | None = None  # None: no project root, no tools (project.tool_root)
    filetype: str = ""
    selection: list[str] = field(default_factory=list)
    start_line: int = 1
    cut: span.Cut | None = None  # charwise: the span within its lines (changes/span.py)
    # who answers, settled on the first turn (routes.py); degraded: local Ollama
    # answers in OMEN's place
    backend: Backend | None = None
    retried_as: str | None = None  # the stand-in zeke asked for (routes.py; badge ⇢)
    degraded: bool = False
    prompt_tokens: int | None = None  # zeke's estimate of what it sends
    shown: tuple[Any, ...] | None = None  # the facts the badge shows now
    # for the receipt (:ZekeWhy): the prefs in effect, why zeke retried or degraded
    prefs: Prefs | None = None
    retry_reason: str | None = None
    degraded_reason: str | None = None
    # the user's own words (the instruction, a follow-up's text), for :ZekeHistory
    question: str = ""
    # the budget guard (guard.py): the forecast before sending, what the guard did
    forecast: Any = None  # forecast.Forecast | None
    guard: str | None = None
    # vision: the image's file name, for what the history keeps in its place
    images: list[str] = field(default_factory=list)

    @property
    def rid(self) -> str:
        return self.link.rid

    @property
    def settings(self) -> Settings:
        return self.link.settings


def _column(value: Any) -> int | None:
    """A byte column from the payload (None: absent, the selection is whole lines)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return max(0, value)


def configured_project(settings: Settings, where: Mapping[str, Any]) -> str | None:
    """The project named by the payload's config `project`, else by the config."""
    return project_config(where.get("project"))[0] or settings.project_name or None


def choose_alias(settings: Settings, chosen: str | None, saved: str | None) -> str:
    """The alias a project uses: the one picked with :ZekeModel in this session, else
    the one saved for it, else the config's — a pick the config no longer has is
    ignored."""
    pick = chosen or saved
    if pick and (pick == "auto" or pick in settings.aliases):
        return pick
    return settings.alias


async def prepare(
    req: Request,
    payload: Mapping[str, Any],
    *,
    prefs: Callable[[str], Awaitable[Prefs]],
    chosen: Mapping[str, str],
    events: protocol.Events,
) -> Messages:
    """Fill ``req`` in from the payload; the first turn's messages."""
    s = req.settings
    path = payload.get("path") or None
    cwd = str(payload.get("cwd") or os.getcwd())
    name, root = await anyio.to_thread.run_sync(project_of, path, cwd, s.project_root)
    req.tool_root = await anyio.to_thread.run_sync(tool_root, path, cwd, s.project_root)
    req.project = configured_project(s, payload) or name
    req.path, req.root = path, root
    req.filetype = str(payload.get("filetype") or "")
    req.start_line = int(payload.get("start_line") or 1)
    req.question = str(payload.get("instruction") or "").strip()
    saved = await prefs(req.project)
    req.alias = alias = tags.resolve_alias(
        choose_alias(s, chosen.get(req.project), saved.last_alias), s.aliases
    )

    image_path = payload.get("image")
    if image_path:  # vision: the image and the question, no code context
        packed = await _vision(req, str(image_path), str(payload.get("instruction") or ""))
    else:
        packed = _packed(req, payload, path, root)
    req.size_hint = packed.size_hint
    req.prompt_tokens = packed.tokens_est
    req.selection = changes.split_lines(packed.selection) if packed.selection else [""]
    if not req.question:  # no instruction: the history names the code asked about
        req.question = next((x.strip() for x in req.selection if x.strip()), "")
    if packed.around is not None:
        req.cut = span.Cut(packed.around[0], packed.selection, packed.around[1])
    merged = tags.merge_tags(
        s.tags,
        alias.tags,
        {"intent": req.intent},
        {"project": req.project, "size_hint": packed.size_hint},
    )
    req.tags, req.omen = tags.apply_prefs(
        merged,
        s.omen,
        {
            "prefer": saved.prefer,
            "max_cloud_cost_cents": saved.max_cloud_cost_cents,
            "budget_set": saved.budget_set,
        },
        omen_configured=s.omen is not None,
    )
    req.max_cloud_cost_cents = saved.max_cloud_cost_cents
    req.prefs = saved
    events.meta(req.rid, {"alias": alias.name})
    if packed.notes:
        events.notes(req.rid, packed.notes)
    return packed.messages


def _packed(req: Request, payload: Mapping[str, Any], path: str | None, root: str) -> Any:
    """The code request's context, packed (context.pack)."""
    s = req.settings
    return context.pack(
        context.PackRequest(
            intent=req.intent,
            instruction=str(payload.get("instruction") or ""),
            lines=[str(x) for x in payload.get("lines") or []],
            window_start=int(payload.get("window_start") or 1),
            start_line=req.start_line,
            end_line=int(payload.get("end_line") or 1),
            start_col=_column(payload.get("start_col")),
            end_col=_column(payload.get("end_col")),
            path=path,
            root=root,
            filetype=req.filetype,
            diagnostics=list(payload.get("diagnostics") or []),
            context_lines=s.context_lines,
            max_context_tokens=s.max_context_tokens,
            total_lines=payload.get("total_lines"),
        )
    )


@dataclass(frozen=True)
class _Looked:
    """A vision request's first turn, shaped as ``context.pack``'s result."""

    messages: Messages
    size_hint: str
    tokens_est: int
    selection: str = ""
    around: Any = None
    notes: list[str] = field(default_factory=list)


async def _vision(req: Request, path: str, instruction: str) -> _Looked:
    """The image read and checked (a ZekeError when it is not one: nothing is sent),
    as an ``image_url`` part next to the question."""
    image = await anyio.to_thread.run_sync(images.load, path)
    req.intent = "vision"
    req.images = [image.name]
    question = redact(instruction.strip() or prompts.default_instruction("vision"))[0]
    req.question = req.question or f"[image: {image.name}]"
    messages: Messages = [
        {"role": "system", "content": prompts.system_prompt("vision", "")},
        {"role": "user", "content": images.openai_content(question, image)},
    ]
    # a few hundred tokens a picture, whatever its size: "small" to the router
    return _Looked(messages, "small", len(question) // 4 + 800)
