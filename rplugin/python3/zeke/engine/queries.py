"""The UI's questions (``protocol.CALLS``), one handler each: the picker's aliases and
the pick, the stats and audit tables, the pending change's apply/discard, and the
config as the host holds it. Disk work runs in a worker thread; the cache's notices
(a locked or full database) go out after each.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import anyio

from zeke import protocol
from zeke.engine import prefs as prefs_mod
from zeke.engine import receipt, tags
from zeke.engine.proposals import Proposals
from zeke.engine.request import choose_alias, configured_project
from zeke.errors import ZekeError
from zeke.project import project_of
from zeke.settings import Settings, thawed
from zeke.store import cache as cache_mod

Handler = Callable[[Mapping[str, Any]], Awaitable[Any]]


class Queries:
    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        cache: Callable[[], cache_mod.Cache | None],
        chosen: MutableMapping[str, str],
        proposals: Proposals,
        flush_notices: Callable[[], None],
        receipts: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self._settings = settings
        self._cache = cache
        # project -> alias picked with :ZekeModel in this session; holds even when
        # the cache could not store it (or cannot be read right now)
        self._chosen = chosen
        self._proposals = proposals
        self._flush_notices = flush_notices
        # request id -> receipt (engine/receipt.py), newest last; held by the engine
        self._receipts: Mapping[str, dict[str, Any]] = receipts if receipts is not None else {}

    def table(self) -> dict[str, Handler]:
        """protocol.CALLS, one handler each."""
        return {
            "apply": self._proposals.apply,
            "discard": self._proposals.discard,
            "aliases": self.aliases,
            "set_alias": self.set_alias,
            "stats": self.stats,
            "audit": self.audit,
            "config": self.config,
            "why": self.why,
            "set_prefs": self.set_prefs,
        }

    async def config(self, args: Mapping[str, Any]) -> protocol.ConfigResult:
        """What Lua sent, and the typed view the engine reads."""
        s = self._settings()
        return {"sent": thawed(s.table), "held": s.as_table()}

    async def project_asked(self, args: Mapping[str, Any]) -> str:
        """The project a UI question is about (``protocol.Where``)."""
        s = self._settings()
        project = configured_project(s, args)
        if project:
            return project
        name, _root = await anyio.to_thread.run_sync(
            project_of,
            args.get("path") or None,
            str(args.get("cwd") or os.getcwd()),
            s.project_root,
        )
        return name

    async def aliases(self, args: Mapping[str, Any]) -> protocol.AliasesResult:
        project = await self.project_asked(args)
        s = self._settings()
        cache = self._cache()
        summaries: dict[str, Any] = {}
        prefs = cache_mod.Prefs()
        if cache is not None:
            summaries = await anyio.to_thread.run_sync(cache.alias_summaries, project)
            prefs = await anyio.to_thread.run_sync(cache.prefs, project)
        self._flush_notices()
        names = ["auto", *sorted(s.aliases)]
        return {
            "project": project,
            "prefs": prefs_mod.summary(prefs),
            "current": choose_alias(s, self._chosen.get(project), prefs.last_alias),
            "aliases": [
                {
                    "name": n,
                    "provider": s.aliases.get(n, {}).get("provider"),
                    "model": s.aliases.get(n, {}).get("model"),
                    "summary": protocol.pick(summaries.get(n), protocol.AliasSummary),
                }
                for n in names
            ],
        }

    async def set_alias(self, args: Mapping[str, Any]) -> protocol.SetAliasResult:
        project = await self.project_asked(args)
        cache = self._cache()
        alias = str(args.get("alias") or "")
        tags.resolve_alias(alias, self._settings().aliases)  # unknown -> a clear ZekeError
        self._chosen[project] = alias
        ok = cache is not None and await anyio.to_thread.run_sync(
            cache.set_last_alias, project, alias
        )
        self._flush_notices()
        return {"project": project, "alias": alias, "saved": bool(ok)}

    async def stats(self, args: Mapping[str, Any]) -> protocol.StatsResult:
        project = await self.project_asked(args)
        cache = self._cache()
        rows = []
        prefs = cache_mod.Prefs()
        if cache is not None:
            scope = None if args.get("all") else project
            rows = await anyio.to_thread.run_sync(cache.stats, scope)
            prefs = await anyio.to_thread.run_sync(cache.prefs, project)
        self._flush_notices()
        return {
            "project": project,
            "rows": [protocol.pick(r, protocol.StatsRow) for r in rows],
            "prefs": prefs_mod.summary(prefs),
        }

    async def why(self, args: Mapping[str, Any]) -> protocol.WhyResult:
        """:ZekeWhy: the receipt of request ``id`` (else the last one), from memory,
        else from the cache (a request of an earlier host)."""
        rid = str(args.get("id") or "") or None
        r = self._receipts.get(rid) if rid else None
        if r is None and rid is None and self._receipts:
            r = list(self._receipts.values())[-1]
        cache = self._cache()
        if r is None and rid is not None and cache is not None:
            found = await anyio.to_thread.run_sync(cache.request_details, rid)
            self._flush_notices()
            if found is not None:
                r = receipt.from_row(*found)
        if r is None:
            what = "this request" if rid else "a request"
            raise ZekeError(
                f"zeke: no routing receipt for {what} yet: it has not finished, or it was "
                "never recorded (the stats cache is off, or the request did not start)",
                kind="refused",
            )
        return {"id": r.get("id"), "lines": receipt.lines(r)}

    async def set_prefs(self, args: Mapping[str, Any]) -> protocol.PrefsResult:
        """:ZekePrefer / :ZekeBudget: parse first (a bad argument stores nothing)."""
        prefer = prefs_mod.parse_prefer(args["prefer"]) if "prefer" in args else None
        budget_given = "budget" in args
        cents = prefs_mod.parse_budget(args["budget"]) if budget_given else None
        project = await self.project_asked(args)
        cache = self._cache()
        saved = cache is not None
        if cache is not None and prefer is not None:
            saved = await anyio.to_thread.run_sync(cache.set_prefer, project, prefer) and saved
        if cache is not None and budget_given:
            saved = await anyio.to_thread.run_sync(cache.set_budget, project, cents) and saved
        now = cache_mod.Prefs()
        if cache is not None:
            now = await anyio.to_thread.run_sync(cache.prefs, project)
        self._flush_notices()
        return {
            "project": project,
            "prefer": now.prefer,
            "budget_cents": now.max_cloud_cost_cents,
            "budget_set": now.budget_set,
            "summary": prefs_mod.summary(now),
            "saved": bool(saved),
        }

    async def audit(self, args: Mapping[str, Any]) -> protocol.AuditResult:
        project = await self.project_asked(args)
        cache = self._cache()
        rows = []
        if cache is not None:
            scope = None if args.get("all") else project
            rows = await anyio.to_thread.run_sync(cache.tool_calls, scope, 50)
        self._flush_notices()
        return {"project": project, "rows": [protocol.pick(r, protocol.AuditRow) for r in rows]}
