"""`python -m zeke doctor [--json]`: the health report behind `:checkhealth zeke`.

Contract §11: the Python host and its dependencies, OMEN (``/ready`` then
``/v1/models``), Ollama (``/api/version``, ``/api/tags``, the aliases' local
models), Glyph (initialize + tools/list), the database and the API key (present
or not, never its value). Every check that is not ok says what to do.

The config comes as a JSON object on stdin (what ``require("zeke.config").for_host()``
gives; ``lua/zeke/health.lua`` sends it) or, from a shell, from the environment
and the defaults. Network checks run concurrently, each with a short timeout, so
the report is quick even when everything is down or a server hangs.

Only the standard library and zeke's pure modules are imported at the top: the
report must still run, and say what is missing, when httpx or anyio are not
installed.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from zeke.errors import ZekeError
from zeke.settings import Settings
from zeke.tags import read_api_key

__all__ = [
    "HTTP_TIMEOUT",
    "Check",
    "collect",
    "format_text",
    "load_config",
    "main",
    "overall_ok",
]

HTTP_TIMEOUT = 1.5  # per HTTP step: a health report must not wait on a dead server
GLYPH_TIMEOUT = 3.0  # spawning a tool server (npx, uvx) is slower than one HTTP GET
DB_TIMEOUT = 2.0
STDIN_TIMEOUT = 2.0  # a shell whose stdin is an open pipe must not hang the report

STATUSES = ("ok", "warn", "error", "info")

# Distribution / import name -> minimum version (pyproject.toml's dependencies).
REQUIRED_PACKAGES: dict[str, tuple[int, ...]] = {
    "pynvim": (0, 5),
    "httpx": (0, 27),
    "anyio": (4,),
    "msgpack": (1,),
}

PLUGIN_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Check:
    """One line of the report. ``fix`` says what to do; set whenever status is not ok."""

    name: str
    status: str
    message: str
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")


# ---------------------------------------------------------------------------- config


def load_config(stdin: IO[str] | None, env: Mapping[str, str]) -> tuple[Settings, str, list[Check]]:
    """Settings from a JSON object on ``stdin`` (when it is not a terminal), else from
    ``env`` and the defaults. Returns (settings, where they came from, problems)."""
    problems: list[Check] = []
    raw: dict[str, Any] | None = None
    text = _read_stdin(stdin)
    if text is not None and text.strip():
        try:
            obj = json.loads(text)
        except ValueError as e:
            problems.append(
                Check(
                    "Configuration",
                    "warn",
                    f"the config on stdin is not valid JSON ({e.msg} at char {e.pos}); "
                    "using the environment and the defaults",
                    "Pass the output of vim.json.encode(require('zeke.config').for_host()), "
                    "or nothing at all.",
                )
            )
        else:
            if isinstance(obj, dict):
                raw = obj
            else:
                problems.append(
                    Check(
                        "Configuration",
                        "warn",
                        "the config on stdin is not a JSON object; using the environment and "
                        "the defaults",
                        'Pass a JSON object such as {"api_base": "http://127.0.0.1:8080/v1"}.',
                    )
                )
    source = "Neovim's config (stdin)" if raw is not None else "the environment and defaults"
    if raw is None:
        raw = _config_from_env(env)
    try:
        settings = Settings.from_lua(raw)
    except (TypeError, ValueError) as e:
        problems.append(
            Check(
                "Configuration",
                "warn",
                f"part of the config could not be read ({e}); using the defaults",
                "Fix the config keys named in `:checkhealth zeke` (see :help zeke-config).",
            )
        )
        settings = Settings.from_lua(_config_from_env(env))
    return settings, source, problems


def _config_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """What config.lua's defaults would give, for a doctor run from a shell."""
    raw: dict[str, Any] = {}
    if env.get("ZEKE_API_BASE"):
        raw["api_base"] = env["ZEKE_API_BASE"]
    host = env.get("OLLAMA_HOST")
    if host:
        # Ollama accepts a bare host:port in OLLAMA_HOST; so does config.lua.
        raw["ollama_host"] = host if "://" in host else f"http://{host}"
    return raw


def _read_stdin(stdin: IO[str] | None) -> str | None:
    """The whole of stdin, or None when it is a terminal (or absent).

    Reads with a deadline: an inherited pipe that never closes yields what came
    so far instead of hanging the report.
    """
    if stdin is None:
        return None
    try:
        if stdin.isatty():
            return None
        fd = stdin.fileno()
    except (OSError, ValueError, AttributeError):
        # Not a real file (a StringIO in tests, a closed stream): read what is there.
        try:
            return stdin.read()
        except (OSError, ValueError):
            return None
    deadline = time.monotonic() + STDIN_TIMEOUT
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                break
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
    except (OSError, ValueError):
        # select() cannot wait on this kind of handle (e.g. Windows pipes).
        try:
            return stdin.read()
        except (OSError, ValueError):
            return None
    return b"".join(chunks).decode("utf-8", "replace")


# ---------------------------------------------------------------------- local checks


def check_python() -> Check:
    v = sys.version_info
    where = sys.executable or "python"
    text = f"Python {v.major}.{v.minor}.{v.micro} at {where}"
    if (v.major, v.minor) < (3, 10):
        return Check(
            "Python",
            "error",
            f"{text}: zeke needs Python 3.10 or newer",
            "Point the config key 'python' at Python 3.10+, or re-run `make install "
            f"PYTHON=python3.12` in {PLUGIN_ROOT}.",
        )
    return Check("Python", "ok", text)


def check_packages(
    importer: Callable[[str], Any] = importlib.import_module,
    version_of: Callable[[str], str] = metadata.version,
) -> Check:
    """The host's dependencies: importable, and recent enough."""
    found: list[str] = []
    missing: list[str] = []
    old: list[str] = []
    for name, minimum in REQUIRED_PACKAGES.items():
        try:
            importer(name)
        except Exception as e:  # a broken install raises more than ImportError
            missing.append(f"{name} ({type(e).__name__}: {e})")
            continue
        try:
            version = version_of(name)
        except Exception:
            version = "?"
        found.append(f"{name} {version}")
        parsed = _version_tuple(version)
        if parsed is not None and parsed < minimum:
            old.append(f"{name} {version} (needs >= {'.'.join(map(str, minimum))})")
    if missing or old:
        parts = []
        if missing:
            parts.append("missing: " + ", ".join(missing))
        if old:
            parts.append("too old: " + ", ".join(old))
        return Check(
            "Python packages",
            "error",
            "; ".join(parts) + f" (interpreter {sys.executable})",
            _install_advice(),
        )
    return Check("Python packages", "ok", ", ".join(found))


def _install_advice() -> str:
    if (PLUGIN_ROOT / "Makefile").exists():
        return (
            f"Run `make install` in {PLUGIN_ROOT} (or set the config key 'python' to an "
            "interpreter that has pynvim, httpx, anyio and msgpack)."
        )
    return f"Run `{sys.executable} -m pip install pynvim httpx anyio msgpack`."


def _version_tuple(text: str) -> tuple[int, ...] | None:
    out: list[int] = []
    for part in text.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
        if digits != part:
            break
    return tuple(out) or None


def check_api_key(settings: Settings, env: Mapping[str, str]) -> Check:
    """Which variable holds the router's key. The value is never read into the report."""
    names = settings.api_key_env
    present = [n for n in names if env.get(n)]
    if present:
        msg = f"{present[0]} is set (value not shown)"
        if len(present) > 1:
            msg += f"; {', '.join(present[1:])} also set, {present[0]} is used"
        return Check("API key", "ok", msg)
    return Check(
        "API key",
        "info",
        f"none of {', '.join(names) or '(no variables configured)'} is set: requests go "
        "without a key (fine when OMEN runs without auth)",
        f"If OMEN needs a key, export {names[0] if names else 'ZEKE_API_KEY'} before "
        "starting Neovim.",
    )


def check_database(settings: Settings) -> Check:
    """Open (creating at db_path if needed) and migrate the cache; is it writable?"""
    from zeke import cache as cache_mod  # sqlite3 only: cheap, and only needed here

    path = Path(settings.db_path).expanduser()
    existed = path.exists()
    cache = cache_mod.Cache(path, busy_timeout_ms=int(DB_TIMEOUT * 500))
    try:
        version = cache.schema_version()
        notices = cache.pop_notices()
    finally:
        cache.close()
    fix_where = (
        f"Make {path.parent} writable, or set the config key 'db_path' to a writable file; "
        "zeke works without stats meanwhile."
    )
    if version <= 0:
        why = "; ".join(notices) or "it could not be opened"
        return Check("Database", "warn", f"{path}: unusable, stats are off ({why})", fix_where)
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    if not writable:
        return Check(
            "Database",
            "warn",
            f"{path} (schema version {version}) is read-only: stats are not saved",
            fix_where,
        )
    msg = f"{path} (schema version {version}, writable)"
    if not existed:
        msg += ", created now"
    if notices:
        msg += "; " + "; ".join(notices)
    return Check("Database", "ok", msg)


# -------------------------------------------------------------------- network probes


@dataclass
class OmenProbe:
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
    version: str | None = None
    error: ZekeError | None = None
    models: list[str] | None = None
    tags_error: ZekeError | None = None
    skipped: bool = False

    @property
    def up(self) -> bool:
        return self.version is not None


@dataclass
class Probes:
    omen: OmenProbe = field(default_factory=OmenProbe)
    ollama: OllamaProbe = field(default_factory=OllamaProbe)
    glyph: Check | None = None
    database: Check | None = None


def _omen_root(api_base: str) -> str:
    base = api_base.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


async def _get_json(
    http: Any, url: str, *, name: str, timeout: float, headers: dict[str, str] | None = None
) -> Any:
    """client.get_json with a hard deadline (a server trickling bytes must not stall us)."""
    import anyio

    from zeke import client

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
        await _get_json(
            http, f"{_omen_root(settings.api_base)}/ready", name="OMEN", timeout=timeout
        )
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

    from zeke import mcp

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
    return Check("Glyph", "ok", f"{who}: {len(tools)} tools: {names}")


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
            setattr(probes, name, _crashed(name, e))

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


def _crashed(name: str, e: Exception) -> Any:
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


# ------------------------------------------------------------------------ composing


def degraded_model(settings: Settings, pulled: list[str] | None) -> str | None:
    """The model degraded mode would use (contract §9, without per-project prefs)."""
    spec = settings.aliases.get(settings.alias) or {}
    if spec.get("provider") == "ollama" and spec.get("model"):
        return str(spec["model"])
    for name in sorted(settings.aliases):
        spec = settings.aliases[name]
        if spec.get("provider") == "ollama" and spec.get("model"):
            return str(spec["model"])
    return pulled[0] if pulled else None


def _is_pulled(model: str, pulled: list[str]) -> bool:
    names = set(pulled)
    if ":" not in model:
        return model in names or f"{model}:latest" in names
    return model in names or (model.endswith(":latest") and model[: -len(":latest")] in names)


def compose(settings: Settings, probes: Probes, env: Mapping[str, str]) -> list[Check]:
    """Turn the raw probes into checks; OMEN's and Ollama's statuses depend on each other."""
    omen, ollama = probes.omen, probes.ollama
    fallback = bool(settings.fallback)
    base, root, host = settings.api_base, _omen_root(settings.api_base), settings.ollama_host
    local = degraded_model(settings, ollama.models)
    local_ok = ollama.up and (
        local is not None and ollama.models is not None and _is_pulled(local, ollama.models)
    )
    out: list[Check] = []

    # OMEN ---------------------------------------------------------------------
    start_omen = (
        f"Start OMEN (`omen serve --config omen.toml`) or set api_base (env ZEKE_API_BASE) "
        f"to where it listens; now {base}."
    )
    start_ollama = (
        f"Start Ollama (`ollama serve`) or set ollama_host (env OLLAMA_HOST); now {host}."
    )
    if omen.up:
        if omen.ready == "ok":
            out.append(Check("OMEN", "ok", f"ready at {root}/ready"))
        else:
            out.append(
                Check("OMEN", "ok", f"reachable at {base} (no usable /ready at {root}/ready)")
            )
    else:
        if omen.ready == "not_ready":
            what = f"OMEN at {root} is not ready ({_msg(omen.ready_error)})"
            fix = (
                f"Check OMEN's providers (its log, GET {root}/health); zeke leaves degraded "
                "mode by itself once /ready answers 200."
            )
        elif omen.ready == "absent":
            what = f"OMEN at {base} answers, but not as a router ({_msg(omen.models_error)})"
            fix = f"Check api_base: it should be the router's /v1 URL; now {base}."
        else:
            what = _msg(omen.ready_error) or f"OMEN is not reachable at {root}"
            fix = start_omen
        if not fallback:
            out.append(
                Check("OMEN", "error", f"{what}; fallback is off, so requests will fail", fix)
            )
        elif local_ok:
            out.append(
                Check(
                    "OMEN",
                    "warn",
                    f"{what}: zeke runs in degraded mode on local Ollama ({local})",
                    fix,
                )
            )
        elif ollama.up:
            out.append(
                Check(
                    "OMEN",
                    "error",
                    f"{what}, and degraded mode cannot work: Ollama at {host} does not have "
                    f"the model it would use ({local or 'none configured or pulled'})",
                    f"{fix} Or run `ollama pull {local or '<model>'}`.",
                )
            )
        else:
            out.append(
                Check(
                    "OMEN",
                    "error",
                    f"{what}, and Ollama at {host} is down too: requests will fail",
                    f"{fix} Or, for degraded mode: {start_ollama}",
                )
            )

    # OMEN models ----------------------------------------------------------------
    if omen.ready == "down":
        out.append(Check("OMEN models", "info", "not checked: OMEN is not reachable"))
    elif omen.models_error is not None:
        e = omen.models_error
        if e.status in (401, 403):
            key_set = read_api_key(env, settings.api_key_env) is not None
            names = " or ".join(settings.api_key_env) or "ZEKE_API_KEY"
            fix = (
                f"The key was rejected: put a key OMEN accepts in {names}."
                if key_set
                else f"OMEN needs a key: export {names} before starting Neovim."
            )
            out.append(Check("OMEN models", "error", e.message, fix))
        else:
            out.append(
                Check(
                    "OMEN models",
                    "warn",
                    f"{base}/models: {e.message}",
                    "Costs cannot be estimated from the router's prices until "
                    f"{base}/models answers; check OMEN's log.",
                )
            )
    elif omen.models is not None:
        n = len(omen.models)
        priced = sum(1 for m in omen.models if _has_price(m))
        if n == 0:
            out.append(
                Check(
                    "OMEN models",
                    "warn",
                    f"{base}/models lists no models",
                    "Configure at least one provider in OMEN (omen.toml).",
                )
            )
        elif priced:
            out.append(
                Check("OMEN models", "ok", f"{n} models listed, prices for {priced} of them")
            )
        else:
            out.append(
                Check(
                    "OMEN models",
                    "info",
                    f"{n} models listed, no prices: costs show as unknown ($?) unless the "
                    "router reports them",
                    "Nothing to do, unless you want costs: list pricing in OMEN's config.",
                )
            )

    # Ollama -----------------------------------------------------------------------
    if ollama.up:
        out.append(Check("Ollama", "ok", f"Ollama {ollama.version} at {host}"))
    else:
        what = _msg(ollama.error) or f"Ollama is not reachable at {host}"
        if not fallback:
            out.append(
                Check(
                    "Ollama",
                    "info",
                    f"{what} (fallback is off, so it is not used)",
                    'Nothing to do; set fallback = "ollama" to get degraded mode.',
                )
            )
        elif omen.up:
            out.append(
                Check(
                    "Ollama",
                    "warn",
                    f"{what}: no degraded mode if OMEN goes down",
                    start_ollama,
                )
            )
        else:
            out.append(Check("Ollama", "error", f"{what}; OMEN is down too", start_ollama))

    # Ollama models ----------------------------------------------------------------
    if ollama.up:
        out.append(_ollama_models_check(settings, ollama, omen.up, local))
    else:
        out.append(Check("Ollama models", "info", "not checked: Ollama is not reachable"))

    out.append(probes.glyph or Check("Glyph", "info", "not checked"))
    out.append(probes.database or Check("Database", "info", "not checked"))
    return out


def _ollama_models_check(
    settings: Settings, ollama: OllamaProbe, omen_up: bool, local: str | None
) -> Check:
    if ollama.models is None:
        return Check(
            "Ollama models",
            "warn",
            f"could not list the pulled models ({_msg(ollama.tags_error)})",
            f"Check Ollama's log; `ollama list` should work against {settings.ollama_host}.",
        )
    wanted = [
        (name, str(spec["model"]))
        for name, spec in sorted(settings.aliases.items())
        if spec.get("provider") == "ollama" and spec.get("model")
    ]
    if not wanted:
        if ollama.models:
            return Check(
                "Ollama models",
                "info",
                f'no alias uses provider "ollama"; degraded mode would use {ollama.models[0]} '
                f"(the first of {len(ollama.models)} pulled)",
                'Add an alias with provider = "ollama" to choose the local model.',
            )
        return Check(
            "Ollama models",
            "error" if not omen_up and settings.fallback else "warn",
            "no model is pulled and no alias names a local model: degraded mode cannot answer",
            'Run `ollama pull <model>` and add an alias with provider = "ollama".',
        )
    missing = [(a, m) for a, m in wanted if not _is_pulled(m, ollama.models)]
    pulled = [f"{m} ({a})" for a, m in wanted if _is_pulled(m, ollama.models)]
    if not missing:
        return Check("Ollama models", "ok", "pulled: " + ", ".join(pulled))
    seen: list[str] = []
    for _a, m in missing:
        if m not in seen:
            seen.append(m)
    fix = " ".join(f"Run `ollama pull {m}`." for m in seen)
    msg = "not pulled: " + ", ".join(f"{m} ({a})" for a, m in missing)
    if pulled:
        msg += "; pulled: " + ", ".join(pulled)
    status = "warn"
    if local in seen and not omen_up and settings.fallback:
        status = "error"
        msg += f"; degraded mode uses {local}, so requests will fail"
    return Check("Ollama models", status, msg, fix)


def _has_price(model: Mapping[str, Any]) -> bool:
    pricing = model.get("pricing")
    if not isinstance(pricing, Mapping):
        return False
    return any(
        isinstance(pricing.get(k), (int, float)) and not isinstance(pricing.get(k), bool)
        for k in ("input_per_1k", "output_per_1k")
    )


def _msg(e: ZekeError | None) -> str:
    if e is None:
        return ""
    return e.message.removeprefix("zeke: ").rstrip(".")


# --------------------------------------------------------------------------- report


def collect(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    cwd: str | None = None,
    problems: list[Check] | None = None,
) -> list[Check]:
    """Every check of contract §11, in report order."""
    env = os.environ if env is None else env
    cwd = cwd or os.getcwd()
    checks = [check_python(), check_packages(), *(problems or [])]
    try:
        import anyio
        import httpx  # noqa: F401  (imported only to know the probes can run)
    except Exception:
        probes = Probes(database=_safe_database(settings))
        skipped = "not checked: the doctor needs httpx and anyio (see Python packages)"
        checks += [
            Check("OMEN", "info", skipped),
            Check("Ollama", "info", skipped),
            Check("Glyph", "info", skipped),
            probes.database or Check("Database", "info", "not checked"),
        ]
    else:
        probes = anyio.run(run_probes, settings, env, cwd)
        checks += compose(settings, probes, env)
    checks.append(check_api_key(settings, env))
    return _scrub(checks, settings, env)


def _safe_database(settings: Settings) -> Check:
    try:
        return check_database(settings)
    except Exception as e:
        return _crashed("database", e)


def _scrub(checks: list[Check], settings: Settings, env: Mapping[str, str]) -> list[Check]:
    """Belt and braces: a server echoing the key back must not put it in the report."""
    secrets = [env[n] for n in settings.api_key_env if env.get(n) and len(env[n]) >= 4]
    if not secrets:
        return checks
    for c in checks:
        for s in secrets:
            c.message = c.message.replace(s, "[redacted]")
            if c.fix:
                c.fix = c.fix.replace(s, "[redacted]")
    return checks


def overall_ok(checks: list[Check]) -> bool:
    """Required things work: only those checks are ever given status error."""
    return not any(c.status == "error" for c in checks)


_LABELS = {"ok": "OK", "warn": "WARN", "error": "ERROR", "info": "info"}


def format_text(checks: list[Check], source: str) -> str:
    """The report for a terminal."""
    lines = [f"zeke doctor (config from {source})", ""]
    width = max(len(c.name) for c in checks) if checks else 0
    for c in checks:
        lines.append(f"  {_LABELS[c.status]:<5}  {c.name:<{width}}  {c.message}")
        if c.fix and c.status != "ok":
            lines.append(f"  {'':<5}  {'':<{width}}  → {c.fix}")
    errors = sum(c.status == "error" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    lines.append("")
    if errors:
        lines.append(f"{errors} problem(s) to fix before zeke can answer; {warns} warning(s).")
    elif warns:
        lines.append(f"zeke can answer; {warns} warning(s).")
    else:
        lines.append("All good.")
    return "\n".join(lines)


def main(args: list[str]) -> int:
    """Entry point of `python -m zeke doctor [--json]`; returns the exit code."""
    as_json = False
    for a in args:
        if a == "--json":
            as_json = True
        elif a in ("-h", "--help"):
            print(
                "usage: python -m zeke doctor [--json]\n\n"
                "Checks what zeke.nvim needs (contract §11). Reads the config as a JSON "
                "object on stdin when stdin is not a terminal, else from ZEKE_API_BASE, "
                "OLLAMA_HOST and the defaults. Exit code 1 when something required fails."
            )
            return 0
        else:
            print(
                f"zeke doctor: unknown argument {a!r} (usage: python -m zeke doctor [--json])",
                file=sys.stderr,
            )
            return 2
    settings, source, problems = load_config(sys.stdin, os.environ)
    checks = collect(settings, os.environ, problems=problems)
    ok = overall_ok(checks)
    if as_json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
    else:
        with contextlib.suppress(BrokenPipeError):
            print(format_text(checks, source))
    return 0 if ok else 1
