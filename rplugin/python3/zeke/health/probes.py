"""The network and disk probes, run concurrently and each with its own deadline.

OMEN (``/ready`` at the root of api_base, then ``/v1/models``), Ollama
(``/api/version``, ``/api/tags``), the tool server (initialize + tools/list
through zeke's own MCP client) and the database (opened in a worker thread).
A probe records what it saw; `zeke.health.compose` decides what that means,
because OMEN's and Ollama's verdicts depend on each other. A server that hangs
costs at most its timeout, so the report is quick even when everything is down.

httpx, anyio and the MCP client are imported inside the functions: the report
must still run, and say what is missing, when they are not installed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zeke.errors import ZekeError
from zeke.health.checks import DB_TIMEOUT, check_database
from zeke.health.report import Check, counted
from zeke.settings import Settings, read_api_key

__all__ = [
    "GLYPH_TIMEOUT",
    "HTTP_TIMEOUT",
    "OllamaProbe",
    "OmenProbe",
    "Probes",
    "crashed",
    "omen_root",
    "run_probes",
]

HTTP_TIMEOUT = 1.5  # per HTTP step: a health report must not wait on a dead server
GLYPH_TIMEOUT = 3.0  # spawning a tool server (npx, uvx) is slower than one HTTP GET


@dataclass
class OmenProbe:
    """What the router said: its /ready verdict, then its model list (or why not)."""

    ready: str = "skipped"  # ok | not_ready | absent | down | skipped
    ready_error: ZekeError | None = None
    models: list[dict[str, Any]] | None = None
    models_error: ZekeError | None = None

    @property
    def up(self) -> bool:
        """Would a chat request reach a serving router?"""
        if self.ready == "ok":
            return True
        if self.ready == "absent":
            e = self.models_error
            return e is None or (e.kind == "http" and (e.status or 0) < 500)
        return False


@dataclass
class OllamaProbe:
    """What Ollama said: its version (None when down), then its pulled models."""

    version: str | None = None
    error: ZekeError | None = None
    models: list[str] | None = None
    tags_error: ZekeError | None = None

    @property
    def up(self) -> bool:
        """Is Ollama there to serve degraded mode?"""
        return self.version is not None


@dataclass
class Probes:
    """Every probe's result; the tool server and the database are final checks already."""

    omen: OmenProbe = field(default_factory=OmenProbe)
    ollama: OllamaProbe = field(default_factory=OllamaProbe)
    glyph: Check | None = None
    database: Check | None = None


def omen_root(api_base: str) -> str:
    """Where OMEN's /ready lives: api_base without its trailing /v1."""
    base = api_base.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


async def _get_json(
    http: Any, url: str, *, name: str, timeout: float, headers: dict[str, str] | None = None
) -> Any:
    """client.get_json with a hard deadline (a server trickling bytes must not stall us)."""
    import anyio

    from zeke.backends import http as client

    try:
        with anyio.fail_after(timeout):
            return await client.get_json(
                http, url, timeout=timeout, headers=headers, endpoint_name=name
            )
    except TimeoutError:
        raise ZekeError(
            f"{name} at {client.safe_url(url)} did not answer within {timeout:g} s",
            kind="timeout",
        ) from None


async def probe_omen(
    http: Any, settings: Settings, env: Mapping[str, str], timeout: float
) -> OmenProbe:
    """``/ready`` at the root of api_base, then ``{api_base}/models``."""
    p = OmenProbe()
    try:
        await _get_json(http, f"{omen_root(settings.api_base)}/ready", name="OMEN", timeout=timeout)
        p.ready = "ok"
    except ZekeError as e:
        p.ready_error = e
        if e.kind == "http" and e.status is not None:
            if 200 <= e.status < 300:
                p.ready, p.ready_error = "ok", None  # ready, just not JSON
            elif e.status >= 500:
                p.ready = "not_ready"
            else:
                p.ready = "absent"  # a router without /ready (LiteLLM, llama.cpp)
        else:
            p.ready = "down"
            return p
    headers = {}
    key = read_api_key(env, settings.api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        listing = await _get_json(
            http, f"{settings.api_base}/models", name="OMEN", timeout=timeout, headers=headers
        )
    except ZekeError as e:
        p.models_error = e
    else:
        data = listing.get("data") if isinstance(listing, dict) else None
        if isinstance(data, list):
            p.models = [m for m in data if isinstance(m, dict)]
        else:
            p.models_error = ZekeError(
                f"OMEN's {settings.api_base}/models is not a model list", kind="http", status=200
            )
    return p


async def probe_ollama(http: Any, settings: Settings, timeout: float) -> OllamaProbe:
    """``/api/version``, then ``/api/tags``."""
    p = OllamaProbe()
    host = settings.ollama_host
    try:
        info = await _get_json(http, f"{host}/api/version", name="Ollama", timeout=timeout)
    except ZekeError as e:
        p.error = e
        return p
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, str):
        p.error = ZekeError(
            f"something answers at {host}/api/version, but not as Ollama does", kind="http"
        )
        return p
    p.version = version
    try:
        listing = await _get_json(http, f"{host}/api/tags", name="Ollama", timeout=timeout)
    except ZekeError as e:
        p.tags_error = e
        return p
    models = listing.get("models") if isinstance(listing, dict) else None
    if not isinstance(models, list):
        p.tags_error = ZekeError(f"Ollama's {host}/api/tags is not a model list", kind="http")
        return p
    names: list[str] = []
    for m in models:
        if isinstance(m, dict):
            name = m.get("name") or m.get("model")
            if isinstance(name, str) and name:
                names.append(name)
    p.models = names
    return p


async def probe_glyph(settings: Settings, cwd: str, timeout: float) -> Check:
    """initialize + tools/list through zeke's own MCP client."""
    import anyio

    from zeke.tools import mcp

    if settings.glyph is None:
        return Check(
            "Glyph",
            "info",
            "not configured: no tool calls; accepted changes are applied in the buffer",
            'To use Glyph, set glyph = { cmd = { "glyph", "serve", "--transport", '
            '"stdio" } } (or glyph = { url = "ws://127.0.0.1:7331" }).',
        )
    where = "glyph.cmd" if settings.glyph.get("cmd") is not None else "glyph.url"
    fix = (
        f"Check {where}: run the server by hand to see why it fails, and look in the zeke log "
        "(stdpath('log')/zeke.log). Requests still work; tool calls do not."
    )
    try:
        client = mcp.MCPClient.from_config(settings.glyph, cwd=cwd, request_timeout=timeout)
    except ZekeError as e:
        return Check("Glyph", "warn", e.message, fix)
    try:
        with anyio.fail_after(timeout):
            await client.ensure_started()
            tools = await client.list_tools()
            info = client.server_info
    except TimeoutError:
        return Check(
            "Glyph",
            "warn",
            f"{client.name} did not initialize and list its tools within {timeout:g} s",
            fix,
        )
    except ZekeError as e:
        return Check("Glyph", "warn", f"{client.name}: {e.message}", fix)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            await client.aclose()
    who = client.name
    if isinstance(info.get("name"), str) and info["name"]:
        who = info["name"] + (f" {info['version']}" if isinstance(info.get("version"), str) else "")
    names = ", ".join(t.name for t in tools) or "(none)"
    if not tools:
        return Check("Glyph", "warn", f"{who} answered but lists no tools", fix)
    return Check("Glyph", "ok", f"{who}: {counted(len(tools), 'tool')}: {names}")


async def run_probes(settings: Settings, env: Mapping[str, str], cwd: str) -> Probes:
    """Every network/disk probe at once; each one bounded by its own timeout."""
    import anyio
    import httpx

    probes = Probes()

    async def omen() -> None:
        probes.omen = await probe_omen(http, settings, env, HTTP_TIMEOUT)

    async def ollama() -> None:
        probes.ollama = await probe_ollama(http, settings, HTTP_TIMEOUT)

    async def glyph() -> None:
        probes.glyph = await probe_glyph(settings, cwd, GLYPH_TIMEOUT)

    async def database() -> None:
        with anyio.move_on_after(DB_TIMEOUT * 2):
            probes.database = await anyio.to_thread.run_sync(
                check_database, settings, abandon_on_cancel=True
            )

    async def guarded(name: str, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except Exception as e:  # a bug in one check must not hide the others
            setattr(probes, name, crashed(name, e))

    async with httpx.AsyncClient(trust_env=False) as http, anyio.create_task_group() as tg:
        for name, fn in (
            ("omen", omen),
            ("ollama", ollama),
            ("glyph", glyph),
            ("database", database),
        ):
            tg.start_soon(guarded, name, fn)
    if probes.database is None:
        probes.database = Check(
            "Database",
            "warn",
            f"{settings.db_path}: no answer within {DB_TIMEOUT * 2:g} s (locked or a slow disk)",
            "Close other programs using it, or set the config key 'db_path' elsewhere.",
        )
    return probes


def crashed(name: str, e: Exception) -> Any:
    """The result a probe that raised stands for: a bug in one check must not hide the others."""
    if name == "omen":
        return OmenProbe(ready="down", ready_error=ZekeError(f"the check failed: {e}"))
    if name == "ollama":
        return OllamaProbe(error=ZekeError(f"the check failed: {e}"))
    return Check(
        name.capitalize(),
        "warn",
        f"the check failed: {type(e).__name__}: {e}",
        "Report this as a zeke bug, with the zeke log.",
    )
