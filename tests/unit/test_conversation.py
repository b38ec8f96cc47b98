"""The conversation's tool turns, in-process (enginekit): a scripted model asks for a
tool, the scripted tool server answers, the result goes back to the model in the
shape its server expects; the turn limit, "cancel all", and a request without tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from enginekit import (
    ScriptedModel,
    ScriptedTools,
    answer,
    call,
    request,
    rows,
    serving,
    tool_turn,
)
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
        "glyph": {"cmd": ["scripted-tools"]},
    }
    cfg.update(over)
    return cfg


def code_request(rid: str, project: Path) -> dict[str, Any]:
    return request(rid, project, intent="code", instruction="rename x")


@pytest.mark.anyio
async def test_a_tool_call_runs_and_its_result_goes_back_to_omen(project: Path) -> None:
    model = ScriptedModel()
    model.omen(
        tool_turn(call("c1", "read_file", path="a.py"), text="Let me look."),
        answer("It sets x."),
    )
    tools = ScriptedTools("read_file")
    async with serving(config(project), model, tools=tools) as (engine, rec):
        await engine.run_request(code_request("r1", project))
        await engine.settled()

    first, second = model.bodies("omen")
    assert [t["function"]["name"] for t in first["tools"]] == ["read_file"]
    # the model's turn, then the tool's result, in OpenAI's shapes
    assert second["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a.py"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "x = 1\n"},
    ]
    assert second["messages"][:-2] == first["messages"]
    assert tools.calls == [("read_file", {"path": str(project / "a.py")})]  # confined, absolute
    (tool,) = rec.of("tool", "r1")
    assert (tool["id"], tool["name"], tool["status"], tool["decision"]) == (
        "c1",
        "read_file",
        "ok",
        "allow",
    )
    assert rec.text("r1") == "Let me look.\n\nIt sets x."  # each turn its own paragraph
    assert rec.done("r1")["state"] == "done"
    audit = rows(
        project.parent / "zeke.db", "SELECT request_id, tool, result_status FROM tool_calls"
    )
    assert audit == [{"request_id": "r1", "tool": "read_file", "result_status": "ok"}]


@pytest.mark.anyio
async def test_on_ollama_every_turn_stays_local_in_ollamas_shapes(project: Path) -> None:
    model = ScriptedModel()
    model.omen(ZekeError("refused", kind="unreachable"))
    model.ollama(tool_turn(call("c1", "read_file", path="a.py")), answer("It sets x."))
    async with serving(config(project), model, tools=ScriptedTools("read_file")) as (
        engine,
        rec,
    ):
        await engine.run_request(code_request("r1", project))

    assert [s.server for s in model.sent] == ["omen", "ollama", "ollama"]
    second = model.bodies("ollama")[1]
    assert second["model"] == "qwen2.5-coder:7b"
    assert second["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "read_file", "arguments": {"path": "a.py"}}}],
        },
        {"role": "tool", "content": "x = 1\n", "tool_name": "read_file"},
    ]
    done = rec.done("r1")
    assert done["state"] == "done" and done["degraded"] is True
    assert len(rec.of("banner", "r1")) == 1  # announced once, not per turn


@pytest.mark.anyio
async def test_a_later_turn_never_falls_back(project: Path) -> None:
    model = ScriptedModel()
    model.omen(
        tool_turn(call("c1", "read_file", path="a.py")),
        ZekeError("OMEN went away", kind="unreachable"),
    )
    async with serving(config(project), model, tools=ScriptedTools("read_file")) as (
        engine,
        rec,
    ):
        await engine.run_request(code_request("r1", project))
    assert rec.done("r1")["error"] == "zeke: OMEN went away"
    assert model.bodies("ollama") == [] and rec.of("degraded") == []


@pytest.mark.anyio
async def test_ollama_gone_on_a_later_turn_says_both_are_down(project: Path) -> None:
    model = ScriptedModel()
    model.omen(ZekeError("refused", kind="unreachable"))
    model.ollama(
        tool_turn(call("c1", "read_file", path="a.py")),
        ZekeError("Ollama went away", kind="unreachable"),
    )
    async with serving(config(project), model, tools=ScriptedTools("read_file")) as (
        engine,
        rec,
    ):
        await engine.run_request(code_request("r1", project))
    error = rec.done("r1")["error"]
    assert error.startswith("zeke: the router at 127.0.0.1:8080 is unreachable")
    assert "the local fallback failed too" in error
    assert "Ollama went away" in error
    assert len(model.bodies("omen")) == 1  # no second knock at the router mid-conversation


@pytest.mark.anyio
async def test_the_turn_limit_runs_nothing_more_and_says_so(project: Path) -> None:
    model = ScriptedModel()
    model.omen(tool_turn(call("c1", "read_file", path="a.py")))
    tools = ScriptedTools("read_file")
    cfg = config(project, tools={"max_turns": 1})
    async with serving(cfg, model, tools=tools) as (engine, rec):
        await engine.run_request(code_request("r1", project))
        await engine.settled()

    assert len(model.sent) == 1 and tools.calls == []
    (tool,) = rec.of("tool", "r1")
    assert (tool["status"], tool["decision"]) == ("not_run", "refused")
    assert rec.of("notes", "r1")[-1] == [
        "zeke: stopped after 1 turns (config tools.max_turns); "
        "the model's last 1 tool call(s) were not run"
    ]
    audit = rows(project.parent / "zeke.db", "SELECT tool, decision FROM tool_calls")
    assert audit == [{"tool": "read_file", "decision": "refused"}]  # on record all the same


@pytest.mark.anyio
async def test_cancel_all_at_a_consent_prompt_runs_nothing_more(project: Path) -> None:
    model = ScriptedModel()
    model.omen(
        tool_turn(
            call("c1", "write_file", path="a.py", content="y = 2\n"),
            call("c2", "read_file", path="a.py"),
        )
    )
    tools = ScriptedTools("read_file", "write_file")
    async with (
        serving(config(project), model, tools=tools) as (engine, rec),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(engine.run_request, code_request("r1", project))
        await rec.wait("consent")
        (prompt,) = rec.of("consent")
        assert (prompt["tool"], prompt["path"]) == ("write_file", str(project / "a.py"))
        engine.consent_reply(prompt["token"], "cancel", None)

    assert tools.calls == [] and len(model.sent) == 1
    assert [(t["id"], t["status"], t["decision"]) for t in rec.of("tool", "r1")] == [
        ("c1", "not_run", "cancel"),
        ("c2", "not_run", "cancel"),
    ]
    assert ["zeke: tool calls cancelled; nothing more was run"] in rec.of("notes", "r1")
    assert (project / "a.py").read_text(encoding="utf-8") == "x = 1\n"


@pytest.mark.anyio
async def test_outside_a_project_tools_are_off_and_the_request_says_so(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "a.py").write_text("x = 1\n", encoding="utf-8")
    model = ScriptedModel()
    model.omen(answer("no tools needed"))
    async with serving(config(loose), model, tools=ScriptedTools("read_file")) as (engine, rec):
        await engine.run_request(code_request("r1", loose))
    assert "tools" not in model.bodies("omen")[0]
    notes = [n for batch in rec.of("notes", "r1") for n in batch]
    assert any(n.startswith("zeke: tools are off: this is not inside a project") for n in notes)
    assert rec.done("r1")["state"] == "done"
