"""What zeke tells the user about who answered and what it cost, on routers that are
not OMEN (LiteLLM, llama.cpp's server) as well as OMEN: the engine in-process against
a scripted model server (enginekit), each rule as the user would notice it — in the
done event (the badge), the stats row, the body sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from enginekit import Reply, ScriptedModel, answer, call, request, rows, serving, tool_turn
from zeke.backends.events import End, Meta, TextDelta, Usage
from zeke.backends.http.failures import describe_http_error
from zeke.engine import routes
from zeke.errors import ZekeError

ALIASES = {
    "code-fast": {"provider": "ollama", "model": "deepseek-coder:14b"},
    "code-smart": {"provider": "azure", "model": "gpt-5-codex"},
    "reason-deep": {"provider": "anthropic", "model": "claude-3-5-sonnet"},
}
LITELLM_GROUPS = [{"id": name, "object": "model", "owned_by": "openai"} for name in ALIASES]
OMEN_MODELS = [
    {"id": "deepseek-coder:14b", "provider": "ollama"},
    {"id": "gpt-5-codex", "provider": "azure"},
    {"id": "claude-3-5-sonnet", "provider": "anthropic"},
]


def config(project: Path, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "alias": "code-fast",
        "aliases": ALIASES,
        "db_path": str(project.parent / "zeke.db"),
        "glyph": {"cmd": ["scripted-tools"]},
    }
    cfg.update(over)
    return cfg


def stats(project: Path) -> list[dict[str, Any]]:
    return rows(
        project.parent / "zeke.db",
        "SELECT alias, model, provider, cost_usd, tokens_in, tokens_in_estimated, status,"
        " switched_from FROM routing_stats ORDER BY id",
    )


def litellm_invalid(name: str) -> ZekeError:
    body = json.dumps(
        {
            "error": {
                "message": f"{{'error': '/chat/completions: Invalid model name passed in "
                f"model={name}. Call `/v1/models` to view available models for your key.'}}",
                "type": "None",
                "param": "None",
                "code": "400",
            }
        }
    ).encode()
    return describe_http_error(400, {}, body, endpoint_name="the router at 127.0.0.1:8080")


def opaque_500() -> ZekeError:
    body = b'{"error":{"message":"Internal server error","type":"api_error","code":500}}'
    return describe_http_error(500, {}, body, endpoint_name="the router at 127.0.0.1:8080")


# -- the retry policy --------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_passing_500_is_shown_and_the_alias_stays(project: Path) -> None:
    model = ScriptedModel()
    model.omen(opaque_500(), answer("back again"))
    listed = [{"id": "auto"}, *LITELLM_GROUPS]  # the router knows "auto"
    async with serving(config(project, alias="auto"), model, listed=listed) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.run_request(request("r2", project))
    assert rec.done("r1")["state"] == "error"
    assert "500" in rec.done("r1")["error"] and "Internal server error" in rec.done("r1")["error"]
    assert rec.done("r2")["state"] == "done" and rec.done("r2")["retried_as"] is None
    # never a model the user did not choose: auto, then auto again
    assert [b["model"] for b in model.bodies("omen")] == ["auto", "auto"]


@pytest.mark.anyio
async def test_an_unknown_alias_is_retried_by_intent_and_the_badge_says_so(project: Path) -> None:
    model = ScriptedModel()
    model.omen(litellm_invalid("auto"), answer("deep thoughts"))
    async with serving(config(project, alias="auto"), model, listed=LITELLM_GROUPS) as (
        engine,
        rec,
    ):
        await engine.run_request(request("r1", project, intent="reason"))
    done = rec.done("r1")
    assert done["state"] == "done" and done["retried_as"] == "reason-deep"
    # LiteLLM lists its model groups: zeke asks for the group by name
    assert [b["model"] for b in model.bodies("omen")] == ["auto", "reason-deep"]
    assert {"retried_as": "reason-deep"} in rec.of("meta", "r1")


@pytest.mark.anyio
async def test_the_stand_in_is_not_kept_longer_than_needed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "REMEMBER_STAND_IN_S", 0.0)  # expired at once
    model = ScriptedModel()
    model.omen(litellm_invalid("auto"), answer("one"), answer("two"))
    async with serving(config(project, alias="auto"), model, listed=LITELLM_GROUPS) as (
        engine,
        rec,
    ):
        await engine.run_request(request("r1", project, intent="code"))
        await engine.run_request(request("r2", project, intent="code"))
    # the router learnt "auto" meanwhile: the second request asks for it again
    assert [b["model"] for b in model.bodies("omen")] == ["auto", "code-fast", "auto"]
    assert rec.done("r2")["retried_as"] is None


@pytest.mark.anyio
async def test_a_failed_stand_in_shows_the_routers_first_answer(project: Path) -> None:
    model = ScriptedModel()
    model.omen(litellm_invalid("auto"), litellm_invalid("code-fast"))
    async with serving(config(project, alias="auto"), model, listed=LITELLM_GROUPS) as (
        engine,
        rec,
    ):
        await engine.run_request(request("r1", project, intent="code"))
    error = rec.done("r1")["error"]
    assert error.startswith("zeke: the router at 127.0.0.1:8080 rejected the request (400:")
    assert "model=auto" in error.split("(zeke then asked")[0]
    assert "zeke then asked for code-fast instead, and that failed too" in error
    assert rec.done("r1").get("retried_as") is None


# -- facts from every router ------------------------------------------------------------


@pytest.mark.anyio
async def test_litellm_model_header_and_usage_cost_are_facts(project: Path) -> None:
    model = ScriptedModel()
    headers = {
        "x-litellm-response-cost": "0.0",  # sent before the stream: not the cost
        "x-litellm-model-name": "gpt-5-codex-2025",
        "x-litellm-model-group": "code-smart",
        "x-litellm-model-id": "9f8e7d",
        "x-litellm-response-duration-ms": "812.5",
    }
    events = [Meta(model="code-smart"), TextDelta("ok"), Usage(9, 1, 0.00042), End("stop")]
    model.omen(Reply(events, headers))
    async with serving(config(project, alias="code-smart"), model, listed=LITELLM_GROUPS) as (
        engine,
        rec,
    ):
        await engine.run_request(request("r1", project))
        await engine.settled()
    done = rec.done("r1")
    assert (done["model"], done["cost_usd"], done["provider"]) == (
        "gpt-5-codex-2025",
        0.00042,
        None,
    )
    (row,) = stats(project)
    assert (row["model"], row["cost_usd"], row["provider"]) == ("gpt-5-codex-2025", 0.00042, None)
    (trace,) = rows(project.parent / "zeke.db", "SELECT trace FROM routing_trace")
    assert json.loads(trace["trace"])["x-litellm-model-id"] == "9f8e7d"


@pytest.mark.anyio
async def test_an_echo_of_the_alias_is_not_a_model_and_nobody_reported_a_provider(
    project: Path,
) -> None:
    # llama.cpp's server: the chunk model echoes what was asked; no headers, no prices
    model = ScriptedModel()
    model.omen(Reply([Meta(model="code-fast"), TextDelta("hi"), Usage(7, 2), End("stop")]))
    listed = [{"id": "SmolLM2-135M-Instruct-Q4_1.gguf", "owned_by": "llamacpp"}]
    async with serving(config(project), model, listed=listed) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
    done = rec.done("r1")
    # not "deepseek-coder:14b" (the server does not serve it), not "@ollama", not "$0"
    assert (done["model"], done["provider"], done["cost_usd"]) == (None, None, None)
    (row,) = stats(project)
    assert (row["model"], row["provider"], row["cost_usd"]) == (None, None, None)


@pytest.mark.anyio
async def test_the_alias_model_stands_when_the_router_lists_it(project: Path) -> None:
    # today's OMEN echoes the name asked for, and lists its models with prices
    model = ScriptedModel()
    model.omen(Reply([Meta(model="code-fast"), TextDelta("hi"), End("stop")]))
    async with serving(config(project), model, listed=OMEN_MODELS) as (engine, rec):
        await engine.run_request(request("r1", project))
    done = rec.done("r1")
    assert (done["model"], done["provider"]) == ("deepseek-coder:14b", "ollama")


@pytest.mark.anyio
async def test_a_provider_in_the_body_is_a_fact(project: Path) -> None:
    model = ScriptedModel()
    model.omen(
        Reply([Meta(model="anthropic/claude-3.5-sonnet", provider="Anthropic"), TextDelta("x")])
    )
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
    assert rec.done("r1")["provider"] == "Anthropic"


@pytest.mark.anyio
async def test_a_model_switch_mid_answer_is_shown_and_stored(project: Path) -> None:
    model = ScriptedModel()
    headers = {"x-omen-provider": "azure", "x-omen-model": "gpt-5-codex"}
    switch = Meta(routing={"provider": "anthropic", "model_used": "claude-3-5-sonnet"})
    model.omen(Reply([TextDelta("a"), switch, TextDelta("b"), End("stop")], headers))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
    done = rec.done("r1")
    assert (done["switched_from"], done["model"]) == ("gpt-5-codex", "claude-3-5-sonnet")
    assert rec.of("meta", "r1")[-1]["switched_from"] == "gpt-5-codex"
    (row,) = stats(project)
    assert (row["switched_from"], row["model"]) == ("gpt-5-codex", "claude-3-5-sonnet")


# -- usage, status, empty answers ------------------------------------------------------------


@pytest.mark.anyio
async def test_usage_is_summed_over_the_turns_of_a_tool_conversation(project: Path) -> None:
    from enginekit import ScriptedTools

    model = ScriptedModel()
    first = tool_turn(call("c1", "read_file", path=str(project / "a.py")))
    first.events.insert(0, Usage(100, 20, 0.001))
    model.omen(first, answer("done", usage=Usage(130, 25, 0.002)))
    async with serving(config(project), model, tools=ScriptedTools("read_file")) as (
        engine,
        rec,
    ):
        await engine.run_request(request("r1", project, intent="code"))
        await engine.settled()
    done = rec.done("r1")
    assert (done["tokens_in"], done["tokens_out"]) == (230, 45)
    assert done["cost_usd"] == pytest.approx(0.003)


@pytest.mark.anyio
async def test_tool_turns_keep_the_model_that_answered_the_first(project: Path) -> None:
    from enginekit import ScriptedTools

    model = ScriptedModel()
    first = tool_turn(call("c1", "read_file", path=str(project / "a.py")))
    first.events.insert(0, Meta(model="deepseek-coder-v2-lite"))
    model.omen(first, answer("done"))
    listed = [{"id": "deepseek-coder-v2-lite", "object": "model"}]  # a name the router takes
    async with serving(
        config(project, alias="auto"), model, tools=ScriptedTools("read_file"), listed=listed
    ) as (engine, _rec):
        await engine.run_request(request("r1", project, intent="code"))
    assert [b["model"] for b in model.bodies("omen")] == ["auto", "deepseek-coder-v2-lite"]


@pytest.mark.anyio
async def test_no_usage_from_the_server_means_an_estimate_marked_as_such(project: Path) -> None:
    model = ScriptedModel()
    model.omen(Reply([TextDelta("short answer"), End("stop")]))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
    (row,) = stats(project)
    assert row["tokens_in"] and row["tokens_in"] > 0 and row["tokens_in_estimated"] == 1
    assert rec.done("r1")["tokens_in"] == row["tokens_in"]


@pytest.mark.anyio
async def test_an_empty_answer_is_a_failure_that_names_the_server(project: Path) -> None:
    model = ScriptedModel()
    model.omen(Reply([Usage(5, 0), End("stop")]))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.settled()
    done = rec.done("r1")
    assert done["state"] == "error"
    assert done["error"] == (
        "zeke: the router at 127.0.0.1:8080 sent an empty answer (no text and no tool call)"
    )
    assert stats(project)[0]["status"] == "failed"


@pytest.mark.anyio
async def test_cancelled_is_counted_apart_from_failed_in_the_stats(project: Path) -> None:
    model = ScriptedModel()
    model.omen(
        answer("fine"),
        Reply([TextDelta("half")], hold=anyio.Event()),
        ZekeError("the router at 127.0.0.1:8080 said 429", kind="http", status=429),
    )
    async with serving(config(project), model) as (engine, _rec):
        await engine.run_request(request("r1", project))
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.run_request, request("r2", project))
            await _rec.wait("text")
            while len(_rec.of("text")) < 2:
                await _rec.wait("text")
            engine.cancel("r2")
        await engine.run_request(request("r3", project))
        await engine.settled()
        result = await engine.call("stats", {"path": str(project / "a.py"), "cwd": str(project)})
    assert [r["status"] for r in stats(project)] == ["ok", "cancelled", "failed"]
    (row,) = [r for r in result["rows"] if r["alias"] == "code-fast"]
    assert (row["requests"], row["cancelled"]) == (3, 1)
    assert row["success_rate"] == pytest.approx(0.5)  # 1 of the 2 that ran to an end
