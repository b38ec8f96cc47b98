"""The host's side of the protocol: the typed emitter sends the events ``protocol``
defines and no other, the adapter and the engine dispatch exactly its notifications
and calls, and the call results carry only the fields the protocol names."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from zeke import protocol
from zeke.engine.core import Engine
from zeke.errors import ZekeError
from zeke.host.adapter import Host
from zeke.settings import Settings
from zeke.store.cache import Cache, RequestRecord, ToolAuditRecord


def _recorder() -> tuple[protocol.Events, list[tuple[str, str | None, Any]]]:
    sent: list[tuple[str, str | None, Any]] = []
    return protocol.Events(lambda kind, rid, data: sent.append((kind, rid, data))), sent


def _event_methods() -> dict[str, Any]:
    return {
        name: fn
        for name, fn in inspect.getmembers(protocol.Events, inspect.isfunction)
        if not name.startswith("_")
    }


def test_the_emitter_has_one_method_per_event_and_each_sends_its_own_kind() -> None:
    methods = _event_methods()
    assert set(methods) == set(protocol.REQUEST_EVENTS) | set(protocol.GLOBAL_EVENTS)
    assert not set(protocol.REQUEST_EVENTS) & set(protocol.GLOBAL_EVENTS)
    for name in methods:
        events, sent = _recorder()
        if name in protocol.REQUEST_EVENTS:
            getattr(events, name)("rid-1", {})
            assert sent == [(name, "rid-1", {})]
        else:
            getattr(events, name)({}) if name != "notice" else events.notice("hi")
            ((kind, rid, _data),) = sent
            assert (kind, rid) == (name, None)


def test_a_misspelt_event_is_an_error_not_a_dropped_event() -> None:
    events, sent = _recorder()
    with pytest.raises(AttributeError):
        events.txet("rid", "x")  # type: ignore[attr-defined]
    assert sent == []


def test_notice_is_a_warning_unless_told() -> None:
    events, sent = _recorder()
    events.notice("zeke: disk full")
    events.notice("zeke: fyi", "info")
    assert [d for _k, _r, d in sent] == [
        {"message": "zeke: disk full", "level": "warn"},
        {"message": "zeke: fyi", "level": "info"},
    ]


def test_request_fields_are_the_host_facts_and_the_lua_side_fields() -> None:
    host = [k for k, (who, _status) in protocol.REQUEST_FIELDS.items() if who == "host"]
    assert set(host) == set(protocol.RequestFacts.__annotations__)
    desc = protocol.describe()
    assert [f[0] for f in desc["request_fields"]] == list(protocol.REQUEST_FIELDS)


class _Portal:
    def __init__(self) -> None:
        self.started: list[tuple[Any, Any]] = []

    def start_task_soon(self, fn: Any, *args: Any) -> None:
        self.started.append((fn, args))


def test_the_adapter_routes_every_notification_by_its_table() -> None:
    portal = _Portal()
    host = Host(nvim=None, portal=portal)  # type: ignore[arg-type]
    assert set(host.handlers) == set(protocol.NOTIFICATIONS)
    for name in protocol.NOTIFICATIONS:
        host.on_notification("zeke", [name, {"id": "x"}])
    assert [fn for fn, _ in portal.started] == [host.handlers[n] for n in protocol.NOTIFICATIONS]
    host.on_notification("zeke", ["no_such_thing", {}])
    assert len(portal.started) == len(protocol.NOTIFICATIONS)


def test_the_engine_answers_every_call_by_its_table() -> None:
    engine = Engine(_recorder()[0])
    assert set(engine._calls) == set(protocol.CALLS)


@pytest.mark.anyio
async def test_an_unknown_call_is_a_clear_error() -> None:
    engine = Engine(_recorder()[0])
    with pytest.raises(ZekeError, match="unknown host call 'nope'"):
        await engine.call("nope", {})


@pytest.mark.anyio
async def test_call_results_carry_only_the_fields_the_protocol_names(tmp_path: Path) -> None:
    engine = Engine(_recorder()[0])
    engine.settings = Settings.from_lua({"aliases": {"code-fast": {"model": "m1"}}})
    engine.cache = cache = Cache(str(tmp_path / "zeke.db"))
    cache.record_request(
        RequestRecord(
            request_id="r1",
            project="grim",
            alias="code-fast",
            model="m1",
            provider="azure",
            intent="code",
            size_hint="tiny",
            latency_ms=10,
            ttfb_ms=5,
            tokens_in=1,
            tokens_out=2,
            cost_usd=0.01,
            success=True,
        ),
        None,
    )
    cache.record_tool_call(
        ToolAuditRecord("r1", "grim", "srv", "read_file", "abc", "allow", "ok", 3, "x.py")
    )
    where = {"project": "grim"}

    stats = await engine.call("stats", where)
    (row,) = stats["rows"]
    assert set(row) == set(protocol.StatsRow.__annotations__)
    assert (row["alias"], row["requests"]) == ("code-fast", 1)

    audit = await engine.call("audit", where)
    (row,) = audit["rows"]
    assert set(row) == set(protocol.AuditRow.__annotations__)
    assert (row["tool"], row["detail"]) == ("read_file", "x.py")

    aliases = await engine.call("aliases", where)
    summary = next(a for a in aliases["aliases"] if a["name"] == "code-fast")["summary"]
    assert set(summary) == set(protocol.AliasSummary.__annotations__)
    assert (summary["requests"], summary["last_model"]) == (1, "m1")
    assert next(a for a in aliases["aliases"] if a["name"] == "auto")["summary"] is None
