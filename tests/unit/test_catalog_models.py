"""The catalog: the router's model list (asked with its key), and the local model for
degraded mode; the model list answered in-process."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from zeke.engine import catalog as catalog_mod
from zeke.engine import tags
from zeke.engine.catalog import Catalog
from zeke.settings import Settings

ALIASES = {
    "b-cloud": {"provider": "azure", "model": "gpt-5-codex"},
    "a-cloud": {"provider": "openai", "model": "gpt-unlisted"},
    "z-local": {"provider": "ollama", "model": "qwen2.5-coder:7b"},
}


def _catalog(answers: dict[str, Any], aliases: dict[str, Any] | None = None) -> Catalog:
    """Answers by path; a path not listed finds nothing listening."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path in answers:
            return httpx.Response(200, json=answers[request.url.path])
        raise httpx.ConnectError("nothing listens", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    settings = Settings.from_lua(
        {
            "api_base": "http://127.0.0.1:8080/v1",
            "ollama_host": "http://127.0.0.1:11434",
            "aliases": ALIASES if aliases is None else aliases,
        }
    )
    return Catalog(settings=lambda: settings, http=lambda: http)


MODELS = {
    "data": [
        {"id": "claude-3-5-sonnet", "provider": "anthropic"},
        {"id": "gpt-5-codex", "provider": "azure"},
    ]
}


def _alias(name: str, model: str | None = None, provider: str | None = None) -> tags.Alias:
    return tags.Alias(name, provider, model)


@pytest.mark.anyio
async def test_the_model_list_is_asked_with_the_routers_key() -> None:
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") != "Bearer sk-test-key":
            return httpx.Response(401, json={"error": {"message": "Authentication Error"}})
        return httpx.Response(200, json=MODELS)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    settings = Settings.from_lua({"api_base": "http://127.0.0.1:4000/v1"})
    cat = Catalog(settings=lambda: settings, http=lambda: http, secrets=lambda: ["sk-test-key"])
    await cat.refresh()
    assert seen == ["Bearer sk-test-key"]
    assert list(cat.models) == ["claude-3-5-sonnet", "gpt-5-codex"]
    assert cat.provider_of("claude-3-5-sonnet") == "anthropic"


@pytest.mark.anyio
async def test_the_local_model_is_the_alias_own_then_a_local_alias_then_ollamas_first() -> None:
    tags_json = {"models": [{"name": "llama3:8b"}, {"name": "phi3"}]}
    cat = _catalog({"/api/tags": tags_json})
    assert await cat.local_model(_alias("l", "mistral", "ollama")) == "mistral"
    assert await cat.local_model(_alias("b-cloud", "gpt-5-codex", "azure")) == "qwen2.5-coder:7b"
    bare = _catalog({"/api/tags": tags_json}, aliases={})
    assert await bare.local_model(None) == "llama3:8b"


@pytest.mark.anyio
async def test_no_local_model_when_ollama_lists_none_or_is_down() -> None:
    assert await _catalog({"/api/tags": {"models": []}}, aliases={}).local_model(None) is None
    assert await _catalog({}, aliases={}).local_model(None) is None


def test_a_failed_fetch_is_retried_soon_and_then_less_often(monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(catalog_mod.time, "monotonic", lambda: clock[0])
    asked: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        raise httpx.ConnectError("nothing listens", request=request)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
            settings = Settings.from_lua({"api_base": "http://127.0.0.1:8080/v1"})
            cat = Catalog(settings=lambda: settings, http=lambda: http)
            await cat.refresh()  # fails: retry after 1 s
            clock[0] += 0.5
            await cat.refresh()  # too soon
            clock[0] += 0.6
            await cat.refresh()  # fails again: retry after 2 s
            clock[0] += 1.5
            await cat.refresh()  # too soon
            assert cat.prices == {} and cat.models == {}

    anyio.run(main)
    assert asked == ["/v1/models", "/v1/models"]
