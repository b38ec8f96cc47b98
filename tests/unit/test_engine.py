"""The engine's own rules, in-process against a scripted model server (enginekit):
what the done event says, what lands in the store, the fallback to Ollama and the
degraded flag, the router's refusals, the alias retry, cancelling, and notices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from enginekit import Reply, ScriptedModel, answer, request, rows, serving
from zeke.backends.events import End, Meta, StreamFailure, TextDelta, Usage
from zeke.errors import ZekeError

ALIASES = {
    "code-fast": {"provider": "azure", "model": "gpt-5-codex"},
    "local": {"provider": "ollama", "model": "qwen2.5-coder:7b"},
}


def config(project: Path, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "alias": "code-fast",
        "aliases": ALIASES,
        "db_path": str(project.parent / "zeke.db"),
    }
    cfg.update(over)
    return cfg


def unreachable() -> ZekeError:
    return ZekeError("OMEN at http://127.0.0.1:9 refused the connection", kind="unreachable")


# -- an answer and what it says about who answered ------------------------------------


@pytest.mark.anyio
async def test_done_carries_who_answered_tokens_and_cost(project: Path) -> None:
    model = ScriptedModel()
    headers = {"x-omen-provider": "azure", "x-omen-model": "gpt-5-codex-2025"}
    model.omen(
        Reply([TextDelta("It sets "), TextDelta("x."), Usage(10, 5, 0.002), End("stop")], headers)
    )
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))

    assert rec.text("r1") == "It sets x."
    done = rec.done("r1")
    assert done["state"] == "done" and "error" not in done
    assert (done["provider"], done["model"]) == ("azure", "gpt-5-codex-2025")
    assert (done["tokens_in"], done["tokens_out"], done["cost_usd"]) == (10, 5, 0.002)
    assert (done["over_budget"], done["degraded"], done["truncated"]) == (False, False, False)
    assert done["finish_reason"] == "stop"
    assert isinstance(done["ttfb_ms"], int) and isinstance(done["latency_ms"], int)
    # the badge: the alias first, then who answers as soon as the stream opened
    assert rec.of("meta", "r1") == [
        {"alias": "code-fast"},
        {
            "provider": "azure",
            "model": "gpt-5-codex-2025",
            "cost_usd": None,
            "switched_from": None,
        },
    ]
    # the router is asked with the alias; it resolves it
    (sent,) = model.sent
    assert sent.url.endswith("/chat/completions") and sent.body["model"] == "code-fast"
    assert sent.headers["X-Request-ID"] == "r1" and sent.headers["X-Zeke-Session"] == "session-1"


@pytest.mark.anyio
async def test_a_provider_switch_mid_answer_reaches_the_badge_once(project: Path) -> None:
    model = ScriptedModel()
    switch = Meta(routing={"provider": "anthropic", "model_used": "claude-3-5-sonnet"})
    model.omen(Reply([TextDelta("a"), switch, TextDelta("b"), switch, End("stop")]))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))

    facts = [m for m in rec.of("meta", "r1") if "provider" in m]
    assert [(m["provider"], m["model"]) for m in facts] == [
        (None, None),  # nobody said yet: the alias table's provider is not a report
        ("anthropic", "claude-3-5-sonnet"),
    ]
    assert (rec.done("r1")["provider"], rec.done("r1")["model"]) == (
        "anthropic",
        "claude-3-5-sonnet",
    )


@pytest.mark.anyio
async def test_a_cloud_answer_over_the_projects_limit_is_flagged(project: Path) -> None:
    model = ScriptedModel()
    model.omen(answer("pricey", usage=Usage(100, 100, 2.5)))  # the default limit: 200 cents
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
    assert rec.done("r1")["over_budget"] is True


@pytest.mark.parametrize(
    ("events", "state", "message"),
    [
        (
            [TextDelta("par"), StreamFailure("connection dropped"), End(truncated=True)],
            "error",
            "zeke: the answer from the router at 127.0.0.1:8080 stopped before it was "
            "complete (connection dropped); the text so far is kept",
        ),
        (
            [TextDelta("par"), StreamFailure("upstream overloaded"), End("stop")],
            "error",
            "zeke: the router at 127.0.0.1:8080 reported an error mid-answer: upstream overloaded",
        ),
        (
            [TextDelta("long"), End("length")],
            "done",
            "zeke: the answer hit the model's length limit and may be cut short",
        ),
    ],
)
@pytest.mark.anyio
async def test_how_the_stream_ended_decides_the_state(
    project: Path, events: list[Any], state: str, message: str
) -> None:
    model = ScriptedModel()
    model.omen(Reply(events))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
    done = rec.done("r1")
    assert done["state"] == state
    assert done.get("error" if state == "error" else "warning") == message
    assert rec.text("r1") == events[0].text  # the text that arrived stays


# -- the record -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_stats_row_and_the_routing_trace_land_in_the_store(project: Path) -> None:
    model = ScriptedModel()
    headers = {
        "x-omen-provider": "azure",
        "x-omen-model": "gpt-5-codex",
        "x-omen-routing-reason": "cheapest",
    }
    model.omen(Reply([TextDelta("ok"), Usage(3, 1, 0.01), End("stop")], headers))
    async with serving(config(project), model) as (engine, _rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
    db = project.parent / "zeke.db"

    (row,) = rows(db, "SELECT * FROM routing_stats")
    assert {k: row[k] for k in ("request_id", "project", "alias", "model", "provider")} == {
        "request_id": "r1",
        "project": "grim",
        "alias": "code-fast",
        "model": "gpt-5-codex",
        "provider": "azure",
    }
    assert (row["tokens_in"], row["tokens_out"], row["cost_usd"]) == (3, 1, 0.01)
    assert (row["success"], row["status"], row["degraded"], row["error"]) == (1, "ok", 0, None)
    assert (row["finish_reason"], row["tokens_in_estimated"]) == ("stop", 0)
    (trace,) = rows(db, "SELECT request_id, trace FROM routing_trace")
    assert trace["request_id"] == "r1"
    assert json.loads(trace["trace"])["x-omen-routing-reason"] == "cheapest"
    (prefs,) = rows(db, "SELECT last_model FROM routing_prefs WHERE project = 'grim'")
    assert prefs["last_model"] == "gpt-5-codex"


# -- the router down: Ollama, degraded mode -----------------------------------------------


@pytest.mark.anyio
async def test_router_down_falls_back_to_ollama_and_says_degraded_once(project: Path) -> None:
    model = ScriptedModel()
    model.omen(unreachable())
    model.ollama(answer("from the laptop"), answer("again"))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.run_request(request("r2", project))
        await engine.settled()

    for rid in ("r1", "r2"):
        done = rec.done(rid)
        assert done["state"] == "done" and done["degraded"] is True
        assert (done["provider"], done["model"]) == ("ollama", "qwen2.5-coder:7b")
        assert done["cost_usd"] == 0.0  # local answers are free, not unknown
        assert rec.of("banner", rid) == [
            "⚠ The router at 127.0.0.1:8080 is unreachable — degraded mode on local Ollama "
            "(qwen2.5-coder:7b)"
        ]
    assert rec.text("r1") == "from the laptop"
    (degraded,) = rec.of("degraded")  # said once, not per request
    assert degraded["on"] is True and degraded["model"] == "qwen2.5-coder:7b"
    # the second request does not knock at the router again: the watcher does that
    assert [s.server for s in model.sent] == ["omen", "ollama", "ollama"]
    body = model.bodies("ollama")[0]
    assert set(body) == {"model", "messages", "stream"}  # no tools offered, no OMEN tags
    assert (body["model"], body["stream"]) == ("qwen2.5-coder:7b", True)
    assert body["messages"] == model.bodies("omen")[0]["messages"]
    stats = rows(
        project.parent / "zeke.db", "SELECT provider, degraded, success FROM routing_stats"
    )
    assert stats == [{"provider": "ollama", "degraded": 1, "success": 1}] * 2


@pytest.mark.anyio
async def test_both_down_is_one_error_without_a_degraded_banner(project: Path) -> None:
    model = ScriptedModel()
    model.omen(unreachable())
    model.ollama(ZekeError("Ollama refused the connection", kind="unreachable"))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()

    done = rec.done("r1")
    assert done["state"] == "error" and done["degraded"] is False
    assert done["error"].startswith("zeke: the router at 127.0.0.1:8080 is unreachable")
    assert "(OMEN at http://127.0.0.1:9 refused the connection)" in done["error"]
    assert "the local fallback failed too" in done["error"]
    assert "Ollama refused the connection" in done["error"]
    assert rec.of("banner") == [] and rec.of("degraded") == []
    (row,) = rows(project.parent / "zeke.db", "SELECT success, error FROM routing_stats")
    assert row == {"success": 0, "error": done["error"]}


@pytest.mark.anyio
async def test_without_fallback_the_router_being_down_is_shown(project: Path) -> None:
    model = ScriptedModel()
    model.omen(unreachable())
    async with serving(config(project, fallback=False), model) as (engine, rec):
        await engine.run_request(request("r1", project))
    done = rec.done("r1")
    assert done == {
        "state": "error",
        "error": "zeke: OMEN at http://127.0.0.1:9 refused the connection",
        "latency_ms": done["latency_ms"],
        "ttfb_ms": None,
        "degraded": False,
    }
    assert model.bodies("ollama") == []


@pytest.mark.anyio
async def test_a_refusal_is_shown_not_routed_around_and_its_headers_are_traced(
    project: Path,
) -> None:
    model = ScriptedModel()
    refusal = ZekeError(
        "OMEN said 401: bad key",
        kind="http",
        status=401,
        headers={"x-omen-request-id": "omen-77"},
    )
    model.omen(refusal)
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
    assert rec.done("r1")["error"] == "zeke: OMEN said 401: bad key"
    assert model.bodies("ollama") == [] and rec.of("degraded") == []
    db = project.parent / "zeke.db"
    (row,) = rows(db, "SELECT provider, model, success FROM routing_stats")
    assert row == {"provider": None, "model": None, "success": 0}  # nobody answered
    (trace,) = rows(db, "SELECT trace FROM routing_trace")
    assert json.loads(trace["trace"]) == {"x-omen-request-id": "omen-77"}


@pytest.mark.anyio
async def test_an_alias_the_router_cannot_resolve_is_retried_concrete_and_remembered(
    project: Path,
) -> None:
    model = ScriptedModel()
    model.omen(
        ZekeError("OMEN said 404: unknown model auto", kind="http", status=404),
        answer("first"),
        answer("second"),
    )
    async with serving(config(project, alias="auto"), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.run_request(request("r2", project))
    assert [rec.done(r)["state"] for r in ("r1", "r2")] == ["done", "done"]
    # once with the alias, then the stand-in — and the next request asks for it
    assert [b["model"] for b in model.bodies("omen")] == ["auto", "gpt-5-codex", "gpt-5-codex"]
    assert [rec.done(r)["retried_as"] for r in ("r1", "r2")] == ["code-fast", "code-fast"]


# -- cancelling ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_keeps_the_text_closes_the_stream_and_records_a_cancel(
    project: Path,
) -> None:
    model = ScriptedModel()
    model.omen(Reply([TextDelta("half an ans")], hold=anyio.Event()))  # then stalls
    async with serving(config(project), model) as (engine, rec):
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.run_request, request("r1", project))
            await rec.wait("text")
            assert engine.cancel("r1") is True
        assert engine.cancel("r1") is False  # over: nothing left to cancel
        await engine.settled()

    done = rec.done("r1")
    assert done["state"] == "cancelled"
    assert done["error"] == "zeke: cancelled; the text so far is kept"
    assert rec.text("r1") == "half an ans"
    assert model.closed == 1  # the response was closed: that is how the server hears it
    (row,) = rows(
        project.parent / "zeke.db", "SELECT provider, success, status, error FROM routing_stats"
    )
    # not a success, and not a failure either: the user's choice
    assert row == {"provider": None, "success": 0, "status": "cancelled", "error": done["error"]}


# -- the alias a project uses, and notices -------------------------------------------------


@pytest.mark.anyio
async def test_the_alias_picked_in_the_session_is_the_one_requests_use(project: Path) -> None:
    model = ScriptedModel()
    model.omen(answer("ok"))
    async with serving(config(project), model) as (engine, rec):
        where = {"path": str(project / "a.py"), "cwd": str(project)}
        picked = await engine.call("set_alias", {**where, "alias": "local"})
        listed = await engine.call("aliases", where)
        await engine.run_request(request("r1", project))
    assert picked == {"project": "grim", "alias": "local", "saved": True}
    assert listed["current"] == "local"
    assert rec.of("meta", "r1")[0] == {"alias": "local"}
    assert model.bodies("omen")[0]["model"] == "local"


@pytest.mark.anyio
async def test_a_cache_that_cannot_be_written_is_a_notice_not_a_failed_request(
    project: Path,
) -> None:
    blocker = project.parent / "not-a-dir"
    blocker.write_text("a file where the cache's directory should be", encoding="utf-8")
    model = ScriptedModel()
    model.omen(answer("still answered"))
    cfg = config(project, db_path=str(blocker / "zeke.db"))
    async with serving(cfg, model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
    assert rec.done("r1")["state"] == "done"
    notices = rec.of("notice")
    assert notices and all(n["message"].startswith("zeke:") for n in notices)
    assert any(str(blocker) in n["message"] for n in notices)
