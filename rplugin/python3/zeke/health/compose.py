"""Turning the raw probes into the report's checks, one function per section.

The sections are not independent: OMEN being down is a warning when degraded
mode can take over (fallback on, Ollama up, the local model pulled) and an
error otherwise, and a missing local model matters most when OMEN is down. So
each section function gets the probes it depends on, and every check that is
not ok says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zeke.errors import ZekeError
from zeke.health.probes import OllamaProbe, OmenProbe, Probes, omen_root
from zeke.health.report import Check, counted
from zeke.settings import Settings, read_api_key

__all__ = [
    "compose",
    "database_check",
    "degraded_model",
    "ollama_check",
    "ollama_models_check",
    "router_check",
    "router_models_check",
    "tool_server_check",
]


def compose(settings: Settings, probes: Probes, env: Mapping[str, str]) -> list[Check]:
    """The probes' checks in report order: OMEN, its models, Ollama, its models, Glyph, DB."""
    omen, ollama = probes.omen, probes.ollama
    local = degraded_model(settings, ollama.models)
    sections = [
        router_check(settings, omen, ollama, local),
        router_models_check(settings, omen, env),
        ollama_check(settings, ollama, omen.up),
        ollama_models_check(settings, ollama, omen.up, local),
        tool_server_check(probes),
        database_check(probes),
    ]
    return [c for c in sections if c is not None]


def degraded_model(settings: Settings, pulled: list[str] | None) -> str | None:
    """The model degraded mode would use (without per-project preferences)."""
    spec = settings.aliases.get(settings.alias) or {}
    if spec.get("provider") == "ollama" and spec.get("model"):
        return str(spec["model"])
    for name in sorted(settings.aliases):
        spec = settings.aliases[name]
        if spec.get("provider") == "ollama" and spec.get("model"):
            return str(spec["model"])
    return pulled[0] if pulled else None


# -- OMEN ----------------------------------------------------------------------------


def router_check(
    settings: Settings, omen: OmenProbe, ollama: OllamaProbe, local: str | None
) -> Check:
    """Is the router serving; if not, can degraded mode answer instead?"""
    base, root = settings.api_base, omen_root(settings.api_base)
    if omen.up:
        if omen.ready == "ok":
            return Check("OMEN", "ok", f"ready at {root}/ready")
        return Check("OMEN", "ok", f"reachable at {base} (no usable /ready at {root}/ready)")
    what, fix = _router_trouble(settings, omen)
    host = settings.ollama_host
    local_ok = ollama.up and (
        local is not None and ollama.models is not None and _is_pulled(local, ollama.models)
    )
    if not settings.fallback:
        return Check("OMEN", "error", f"{what}; fallback is off, so requests will fail", fix)
    if local_ok:
        return Check(
            "OMEN", "warn", f"{what}: zeke runs in degraded mode on local Ollama ({local})", fix
        )
    if ollama.up:
        return Check(
            "OMEN",
            "error",
            f"{what}, and degraded mode cannot work: Ollama at {host} does not have "
            f"the model it would use ({local or 'none configured or pulled'})",
            f"{fix} Or run `ollama pull {local or '<model>'}`.",
        )
    return Check(
        "OMEN",
        "error",
        f"{what}, and Ollama at {host} is down too: requests will fail",
        f"{fix} Or, for degraded mode: {_start_ollama(settings)}",
    )


def _router_trouble(settings: Settings, omen: OmenProbe) -> tuple[str, str]:
    """(what is wrong with a router that is not up, what to do about it)."""
    base, root = settings.api_base, omen_root(settings.api_base)
    if omen.ready == "not_ready":
        return (
            f"OMEN at {root} is not ready ({_msg(omen.ready_error)})",
            f"Check OMEN's providers (its log, GET {root}/health); zeke leaves degraded "
            "mode by itself once /ready answers 200.",
        )
    if omen.ready == "absent":
        return (
            f"OMEN at {base} answers, but not as a router ({_msg(omen.models_error)})",
            f"Check api_base: it should be the router's /v1 URL; now {base}.",
        )
    return (
        _msg(omen.ready_error) or f"OMEN is not reachable at {root}",
        f"Start OMEN (`omen serve --config omen.toml`) or set api_base (env ZEKE_API_BASE) "
        f"to where it listens; now {base}.",
    )


def router_models_check(
    settings: Settings, omen: OmenProbe, env: Mapping[str, str]
) -> Check | None:
    """The router's model list: reachable with our key, and priced (for cost estimates)."""
    base = settings.api_base
    if omen.ready == "down":
        return Check("OMEN models", "info", "not checked: OMEN is not reachable")
    if omen.models_error is not None:
        return _router_models_failed(settings, omen.models_error, env)
    if omen.models is None:
        return None
    n = len(omen.models)
    priced = sum(1 for m in omen.models if _has_price(m))
    if n == 0:
        return Check(
            "OMEN models",
            "warn",
            f"{base}/models lists no models",
            "Configure at least one provider in OMEN (omen.toml).",
        )
    if priced:
        return Check(
            "OMEN models", "ok", f"{counted(n, 'model')} listed, prices for {priced} of them"
        )
    return Check(
        "OMEN models",
        "info",
        f"{counted(n, 'model')} listed, no prices: costs show as unknown ($?) "
        "unless the router reports them",
        "Nothing to do, unless you want costs: list pricing in OMEN's config.",
    )


def _router_models_failed(settings: Settings, e: ZekeError, env: Mapping[str, str]) -> Check:
    """/models answered an error: a rejected or missing key is an error, the rest a warning."""
    base = settings.api_base
    if e.status in (401, 403):
        key_set = read_api_key(env, settings.api_key_env) is not None
        names = " or ".join(settings.api_key_env) or "ZEKE_API_KEY"
        fix = (
            f"The key was rejected: put a key OMEN accepts in {names}."
            if key_set
            else f"OMEN needs a key: export {names} before starting Neovim."
        )
        return Check("OMEN models", "error", e.message, fix)
    return Check(
        "OMEN models",
        "warn",
        f"{base}/models: {e.message}",
        "Costs cannot be estimated from the router's prices until "
        f"{base}/models answers; check OMEN's log.",
    )


# -- Ollama --------------------------------------------------------------------------


def ollama_check(settings: Settings, ollama: OllamaProbe, omen_up: bool) -> Check:
    """Is Ollama up; how much that matters depends on fallback and on OMEN."""
    host = settings.ollama_host
    if ollama.up:
        return Check("Ollama", "ok", f"Ollama {ollama.version} at {host}")
    what = _msg(ollama.error) or f"Ollama is not reachable at {host}"
    if not settings.fallback:
        return Check(
            "Ollama",
            "info",
            f"{what} (fallback is off, so it is not used)",
            'Nothing to do; set fallback = "ollama" to get degraded mode.',
        )
    if omen_up:
        return Check(
            "Ollama", "warn", f"{what}: no degraded mode if OMEN goes down", _start_ollama(settings)
        )
    return Check("Ollama", "error", f"{what}; OMEN is down too", _start_ollama(settings))


def _start_ollama(settings: Settings) -> str:
    """The advice for an Ollama that does not answer."""
    return (
        "Start Ollama (`ollama serve`) or set ollama_host (env OLLAMA_HOST); "
        f"now {settings.ollama_host}."
    )


def ollama_models_check(
    settings: Settings, ollama: OllamaProbe, omen_up: bool, local: str | None
) -> Check:
    """Are the aliases' local models pulled (the one degraded mode uses above all)?"""
    if not ollama.up:
        return Check("Ollama models", "info", "not checked: Ollama is not reachable")
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
        return _no_local_alias(settings, ollama.models, omen_up)
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


def _no_local_alias(settings: Settings, pulled: list[str], omen_up: bool) -> Check:
    """No alias names a local model: degraded mode takes the first pulled one, if any."""
    if pulled:
        return Check(
            "Ollama models",
            "info",
            f'no alias uses provider "ollama"; degraded mode would use {pulled[0]} '
            + (
                "(the only one pulled)"
                if len(pulled) == 1
                else f"(the first of {len(pulled)} pulled)"
            ),
            'Add an alias with provider = "ollama" to choose the local model.',
        )
    return Check(
        "Ollama models",
        "error" if not omen_up and settings.fallback else "warn",
        "no model is pulled and no alias names a local model: degraded mode cannot answer",
        'Run `ollama pull <model>` and add an alias with provider = "ollama".',
    )


# -- Glyph and the database (final checks already) -------------------------------------


def tool_server_check(probes: Probes) -> Check:
    """The tool server's check, as its probe made it."""
    return probes.glyph or Check("Glyph", "info", "not checked")


def database_check(probes: Probes) -> Check:
    """The database's check, as its probe made it."""
    return probes.database or Check("Database", "info", "not checked")


# -- helpers -------------------------------------------------------------------------


def _is_pulled(model: str, pulled: list[str]) -> bool:
    """Ollama's rule: an untagged name means ``:latest``, both ways round."""
    names = set(pulled)
    if ":" not in model:
        return model in names or f"{model}:latest" in names
    return model in names or (model.endswith(":latest") and model[: -len(":latest")] in names)


def _has_price(model: Mapping[str, Any]) -> bool:
    """Does a /models entry carry a numeric per-1k price?"""
    pricing = model.get("pricing")
    if not isinstance(pricing, Mapping):
        return False
    return any(
        isinstance(pricing.get(k), (int, float)) and not isinstance(pricing.get(k), bool)
        for k in ("input_per_1k", "output_per_1k")
    )


def _msg(e: ZekeError | None) -> str:
    """An error's message as a clause: no "zeke: " prefix, no final full stop."""
    if e is None:
        return ""
    return e.message.removeprefix("zeke: ").rstrip(".")
