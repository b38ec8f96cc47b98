"""What the router and Ollama offer: OMEN's model list and prices (fetched in the
background with the router's key, refreshed now and then, retried soon after a
failure), and the local model for degraded mode. Which model stands in when the
router cannot resolve an alias is ``fallback.stand_in``'s choice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import anyio
import httpx

from zeke.backends import http as client
from zeke.engine import routing, tags
from zeke.errors import ZekeError
from zeke.settings import Settings

log = logging.getLogger("zeke.engine.catalog")

PRICE_TTL_S = 600.0
PRICE_RETRY_FIRST_S = 1.0  # after a failed fetch (router still starting): retry soon, doubling


class Catalog:
    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        http: Callable[[], httpx.AsyncClient],
        secrets: Callable[[], Sequence[str]] = tuple,
    ) -> None:
        self._settings = settings
        self._http = http
        self._secrets = secrets  # never in a model name or price zeke keeps
        self.prices: dict[str, tuple[float, float]] = {}
        # model id -> provider, in the order {api_base}/models lists them
        self.models: dict[str, str | None] = {}
        # None: never fetched. (Not 0.0: the monotonic clock starts near zero at
        # boot, and a fresh machine would then wait out the TTL before the first fetch.)
        self._prices_at: float | None = None
        self._prices_retry_s = 0.0  # > 0 after a failed fetch: wait this long, not the TTL
        self._prices_loading = False
        self._refused_logged = False

    async def ready(self, timeout: float) -> None:
        """Wait (up to ``timeout``) for the first price list: the budget guard of a
        session's first request needs it. A no-op once any fetch has ended."""
        if self._prices_at is not None and not self._prices_loading:
            return
        with anyio.move_on_after(timeout):
            if not self._prices_loading:
                await self.refresh()
            while self._prices_loading:
                await anyio.sleep(0.02)

    def expire(self) -> None:
        """The endpoint may have changed: fetch again at the next chance."""
        self._prices_at = None

    def provider_of(self, model: str | None) -> str | None:
        return self.models.get(model) if model else None

    async def local_model(self, alias: tags.Alias | None) -> str | None:
        """Contract §9: the alias's model if local, else the first local alias's, else
        the first model Ollama lists."""
        if alias and alias.provider == "ollama" and alias.model:
            return alias.model
        for name in sorted(self._settings().aliases):
            spec = self._settings().aliases[name]
            if spec.get("provider") == "ollama" and spec.get("model"):
                return str(spec["model"])
        try:
            listing = await client.get_json(
                self._http(),
                f"{self._settings().ollama_host}/api/tags",
                timeout=2.0,
                endpoint_name="Ollama",
                secrets=self._secrets(),
            )
            models = listing.get("models") if isinstance(listing, dict) else None
            if models and isinstance(models[0], dict):
                return str(models[0].get("name") or models[0].get("model"))
        except ZekeError:
            pass
        return None

    async def refresh(self) -> None:
        """Fetch {api_base}/models now and then: never on a request's path."""
        wait = self._prices_retry_s or PRICE_TTL_S
        if self._prices_loading:
            return
        if self._prices_at is not None and time.monotonic() - self._prices_at < wait:
            return
        self._prices_loading = True
        secrets = list(self._secrets())
        # the key, as every request to the router carries it: a keyed router (LiteLLM
        # with a master key) answers 401 to a bare /models
        headers = {"Authorization": f"Bearer {secrets[0]}"} if secrets else None
        try:
            listing = await client.get_json(
                self._http(),
                f"{self._settings().api_base}/models",
                timeout=3.0,
                headers=headers,
                endpoint_name="the router",
                secrets=secrets,
            )
            self.prices = routing.parse_prices(listing)
            data = listing.get("data") if isinstance(listing, dict) else None
            self.models = {
                str(m["id"]): m["provider"] if isinstance(m.get("provider"), str) else None
                for m in data or []
                if isinstance(m, dict) and isinstance(m.get("id"), str)
            }
            self._prices_retry_s = 0.0
        except ZekeError as e:
            if e.status in (401, 403) and not self._refused_logged:
                self._refused_logged = True  # once: the backoff below keeps it from a hot loop
                log.warning("the router refused the model list (%s); check the key", e.status)
            log.info("no price list from %s: %s", self._settings().api_base, e)
            self._prices_retry_s = min(
                PRICE_TTL_S, max(PRICE_RETRY_FIRST_S, self._prices_retry_s * 2)
            )
        finally:
            self._prices_at = time.monotonic()
            self._prices_loading = False
