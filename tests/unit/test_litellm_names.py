"""LiteLLM's proxy as it really answers (seen on 1.108): the deployment comes as
``<adapter>/<model>`` in ``x-litellm-model-name``, that name is not one it accepts as a
model, and a key that is not its master key (no database) is a 400 "No connected db."."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enginekit import Reply, ScriptedModel, answer, call, request, serving, tool_turn
from zeke.backends.http.failures import describe_http_error
from zeke.engine.routing import litellm_deployment, resolve_facts

GROUPS = [{"id": n, "object": "model", "owned_by": "openai"} for n in ("code-fast", "code-smart")]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("openai/deepseek-coder-v2-lite", ("deepseek-coder-v2-lite", None)),
        ("hosted_vllm/meta-llama/Llama-3.1-8B", ("meta-llama/Llama-3.1-8B", None)),
        ("anthropic/claude-3-5-sonnet-20241022", ("claude-3-5-sonnet-20241022", "anthropic")),
        ("ollama_chat/qwen2.5-coder:7b", ("qwen2.5-coder:7b", "ollama")),
        ("gpt-4o", ("gpt-4o", None)),
        ("meta-llama/Llama-3.1-8B", ("meta-llama/Llama-3.1-8B", None)),  # no adapter: whole
        ("openai/", ("openai/", None)),
    ],
)
def test_the_adapter_prefix_is_not_the_model_and_only_sometimes_the_provider(
    header: str, expected: tuple[str | None, str | None]
) -> None:
    assert litellm_deployment(header) == expected


def test_the_badge_facts_from_litellm_headers() -> None:
    facts = resolve_facts(
        headers={
            "x-litellm-model-name": "anthropic/claude-3-5-sonnet",
            "x-litellm-model-group": "x",
        },
        routing_metadata=None,
        usage_cost=0.0004,
        chunk_model="code-smart",
        asked="code-smart",
    )
    assert (facts.model, facts.provider, facts.cost_usd) == (
        "claude-3-5-sonnet",
        "anthropic",
        0.0004,
    )
    assert facts.sources == {"model": "litellm", "provider": "litellm", "cost_usd": "usage"}


def test_a_key_a_databaseless_litellm_does_not_know_is_named_as_the_key() -> None:
    body = {"error": {"message": "No connected db.", "type": "no_db_connection", "code": "400"}}
    error = describe_http_error(
        400, {}, json.dumps(body).encode(), endpoint_name="the router at 127.0.0.1:4000"
    )
    assert "did not accept the API key" in error.message and "ZEKE_API_KEY" in error.message
    assert "master key" in error.message and not error.retryable


@pytest.mark.anyio
async def test_a_tool_turn_asks_litellm_for_the_group_not_its_deployment(project: Path) -> None:
    from enginekit import ScriptedTools

    model = ScriptedModel()
    headers = {"x-litellm-model-name": "openai/deepseek-coder-v2-lite"}
    first = tool_turn(call("c1", "read_file", path=str(project / "a.py")))
    last = answer("done")
    model.omen(Reply(first.events, headers=headers), Reply(last.events, headers=headers))
    cfg = {
        "alias": "code-fast",
        "db_path": str(project.parent / "zeke.db"),
        "glyph": {"cmd": ["scripted-tools"]},
    }
    async with serving(cfg, model, tools=ScriptedTools("read_file"), listed=GROUPS) as (
        engine,
        rec,
    ):
        await engine.run_request(request("r1", project, intent="code"))
    # LiteLLM answers 400 Invalid model name for its deployment's name
    assert [b["model"] for b in model.bodies("omen")] == ["code-fast", "code-fast"]
    assert rec.done("r1")["model"] == "deepseek-coder-v2-lite"
