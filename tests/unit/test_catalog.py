"""The router's model and price list, fetched against a real HTTP fake on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import omen as fo
from zeke.engine import catalog as catalog_mod
from zeke.engine.catalog import Catalog
from zeke.settings import Settings


@pytest.fixture
def server():
    srv = fo.FakeOmen("today").start()
    yield srv
    srv.stop()


def _fetches(srv: fo.FakeOmen) -> int:
    return sum(1 for r in srv.requests if r.method == "GET" and r.path.endswith("/models"))


def test_first_refresh_fetches_even_right_after_boot(server, monkeypatch):
    # The monotonic clock starts near zero when the machine boots (a fresh CI
    # machine): "never fetched" must not read as "fetched at time 0".
    monkeypatch.setattr(catalog_mod.time, "monotonic", lambda: 5.0)
    settings = Settings.from_lua({"api_base": server.url})

    async def main() -> Catalog:
        async with httpx.AsyncClient() as http:
            cat = Catalog(settings=lambda: settings, http=lambda: http)
            await cat.refresh()
            await cat.refresh()  # fresh now: no second fetch within the TTL
            return cat

    cat = anyio.run(main)
    assert _fetches(server) == 1
    assert cat.prices["gpt-5-codex"] == (0.00125, 0.01)
    assert cat.provider_of("claude-3-5-sonnet") == "anthropic"
