"""`python -m zeke doctor`'s checks against fake OMEN / Ollama / Glyph on 127.0.0.1."""

from __future__ import annotations

import io
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes import omen as fo
from zeke import health
from zeke.health import probes
from zeke.settings import Settings

GLYPH = Path(__file__).resolve().parent.parent / "fakes" / "glyph.py"
MARKER = "sk-doctor-marker-7f3a9c"


@pytest.fixture
def dead_url() -> str:
    """An address where nothing listens (connection refused)."""
    server = fo.FakeOmen().start()
    url = server.base
    server.stop()
    return url


@pytest.fixture
def hanging() -> Iterator[str]:
    """Accepts connections (kernel backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def settings(tmp_path: Path, **cfg) -> Settings:
    return Settings.from_lua({"db_path": str(tmp_path / "zeke.db"), **cfg})


def run(s: Settings, env: dict[str, str] | None = None) -> dict[str, health.Check]:
    checks = health.collect(s, env or {}, cwd=str(Path.cwd()))
    by_name = {c.name: c for c in checks}
    assert len(by_name) == len(checks), [c.name for c in checks]
    for c in checks:
        assert c.status in ("ok", "warn", "error", "info")
        if c.status in ("warn", "error"):
            assert c.fix, f"{c.name} is {c.status} without a fix: {c.message}"
    return by_name


# -- everything up -------------------------------------------------------------------


def test_all_up_reports_ok_with_models_and_the_missing_pull(tmp_path, omen, ollama):
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=ollama.url))
    assert by["OMEN"].status == "ok" and "/ready" in by["OMEN"].message
    assert by["OMEN models"].status == "ok"
    assert "4 models" in by["OMEN models"].message and "prices" in by["OMEN models"].message
    assert by["Ollama"].status == "ok" and "0.12.6" in by["Ollama"].message
    # the fake has only deepseek-coder:14b; the default code-plus alias wants :33b
    m = by["Ollama models"]
    assert m.status == "warn"
    assert "deepseek-coder:33b" in m.message and "code-plus" in m.message
    assert m.fix == "Run `ollama pull deepseek-coder:33b`."
    assert by["Python"].status == "ok" and by["Python packages"].status == "ok"
    assert by["Database"].status == "ok"
    assert health.overall_ok(list(by.values()))
    # the probes used the documented endpoints
    assert {r.path for r in omen.requests} == {"/ready", "/v1/models"}
    assert {r.path for r in ollama.requests} == {"/api/version", "/api/tags"}


def test_all_local_models_pulled_is_ok_and_untagged_names_mean_latest(tmp_path, omen, ollama):
    ollama.pulled = ["deepseek-coder:14b", "deepseek-coder:33b", "llama3"]
    aliases = {"mine": {"provider": "ollama", "model": "llama3"}}
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=ollama.url, aliases=aliases))
    assert by["Ollama models"].status == "ok", by["Ollama models"]
    assert "llama3 (mine)" in by["Ollama models"].message


def test_models_without_prices_is_information_not_a_problem(tmp_path, omen, ollama):
    omen.models = [{k: v for k, v in m.items() if k != "pricing"} for m in omen.models]
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=ollama.url))
    assert by["OMEN models"].status == "info"
    assert "no prices" in by["OMEN models"].message


# -- OMEN down: degraded mode ----------------------------------------------------------


def test_omen_refused_with_ollama_up_is_degraded_warning(tmp_path, dead_url, ollama):
    by = run(settings(tmp_path, api_base=f"{dead_url}/v1", ollama_host=ollama.url))
    o = by["OMEN"]
    assert o.status == "warn"
    assert "degraded mode" in o.message and "deepseek-coder:14b" in o.message
    assert "refused" in o.message and dead_url in o.message
    assert "omen serve" in o.fix and "api_base" in o.fix
    assert by["OMEN models"].status == "info"
    assert by["Ollama"].status == "ok"
    assert health.overall_ok(list(by.values()))


def test_ready_503_is_degraded_warning(tmp_path, omen, ollama):
    omen.ready_status = 503
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=ollama.url))
    assert by["OMEN"].status == "warn"
    assert "503" in by["OMEN"].message and "degraded mode" in by["OMEN"].message
    assert "/ready" in by["OMEN"].fix
    assert health.overall_ok(list(by.values()))


def test_omen_down_and_the_degraded_model_not_pulled_is_an_error(tmp_path, dead_url, ollama):
    ollama.pulled = ["deepseek-coder:33b"]  # but degraded mode would use code-fast's :14b
    by = run(settings(tmp_path, api_base=f"{dead_url}/v1", ollama_host=ollama.url))
    assert by["OMEN"].status == "error"
    assert "ollama pull deepseek-coder:14b" in by["OMEN"].fix
    assert by["Ollama models"].status == "error"
    assert "ollama pull deepseek-coder:14b" in by["Ollama models"].fix
    assert not health.overall_ok(list(by.values()))


def test_omen_down_with_fallback_off_is_an_error_and_ollama_is_not_needed(tmp_path, dead_url):
    by = run(settings(tmp_path, api_base=f"{dead_url}/v1", ollama_host=dead_url, fallback=False))
    assert by["OMEN"].status == "error" and "fallback is off" in by["OMEN"].message
    assert by["Ollama"].status == "info"
    assert not health.overall_ok(list(by.values()))


def test_ollama_down_while_omen_up_is_a_warning(tmp_path, omen, dead_url):
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=dead_url))
    assert by["OMEN"].status == "ok"
    assert by["Ollama"].status == "warn" and "ollama serve" in by["Ollama"].fix
    assert health.overall_ok(list(by.values()))


# -- both down ------------------------------------------------------------------------


def test_both_down_are_errors_with_fixes_for_each(tmp_path, dead_url):
    by = run(settings(tmp_path, api_base=f"{dead_url}/v1", ollama_host=dead_url))
    assert by["OMEN"].status == "error" and by["Ollama"].status == "error"
    assert "omen serve" in by["OMEN"].fix and "ollama serve" in by["Ollama"].fix
    assert "OLLAMA_HOST" in by["Ollama"].fix and "ZEKE_API_BASE" in by["OMEN"].fix
    assert not health.overall_ok(list(by.values()))


def test_hanging_servers_do_not_stall_the_report(tmp_path, hanging, monkeypatch):
    monkeypatch.setattr(probes, "HTTP_TIMEOUT", 0.5)
    t0 = time.monotonic()
    by = run(settings(tmp_path, api_base=f"{hanging}/v1", ollama_host=hanging))
    elapsed = time.monotonic() - t0
    assert elapsed < probes.HTTP_TIMEOUT * 2 + 1.0, elapsed
    assert by["OMEN"].status == "error" and by["Ollama"].status == "error"
    assert "0.5 s" in by["OMEN"].message


# -- the API key ----------------------------------------------------------------------


def test_key_required_and_missing_says_which_variable_to_export(tmp_path, omen, ollama):
    omen.api_key = MARKER
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=ollama.url))
    assert by["OMEN models"].status == "error"
    assert "ZEKE_API_KEY" in by["OMEN models"].fix
    assert by["API key"].status == "info"
    assert not health.overall_ok(list(by.values()))


def test_key_present_is_used_and_never_shown(tmp_path, omen, ollama):
    omen.api_key = MARKER
    s = settings(tmp_path, api_base=omen.url, ollama_host=ollama.url)
    checks = health.collect(s, {"OMEN_API_KEY": MARKER}, cwd=str(tmp_path))
    by = {c.name: c for c in checks}
    assert by["OMEN models"].status == "ok"
    assert by["API key"].status == "ok" and "OMEN_API_KEY" in by["API key"].message
    text = health.format_text(checks, "test") + repr(checks)
    assert MARKER not in text


def test_a_server_echoing_the_key_is_redacted(tmp_path, omen, ollama):
    omen.models = []  # make /models answer an error that echoes the key back
    omen.route = lambda rec: (  # type: ignore[method-assign]
        fo.error(500, {"error": {"message": f"bad token {MARKER}", "code": 500}})
        if rec.path == "/v1/models"
        else fo.FakeOmen.route(omen, rec)
    )
    s = settings(tmp_path, api_base=omen.url, ollama_host=ollama.url)
    checks = health.collect(s, {"ZEKE_API_KEY": MARKER}, cwd=str(tmp_path))
    assert MARKER not in health.format_text(checks, "test")
    assert any(c.name == "OMEN models" and c.status == "warn" for c in checks)


def test_api_key_check_names_the_variable_only():
    s = Settings.from_lua({})
    c = health.check_api_key(s, {"ZEKE_API_KEY": MARKER, "OMEN_API_KEY": "other-key"})
    assert c.status == "ok" and c.message.startswith("ZEKE_API_KEY is set")
    assert MARKER not in c.message and "other-key" not in c.message
    none = health.check_api_key(s, {})
    assert none.status == "info" and "ZEKE_API_KEY" in none.message


# -- database -------------------------------------------------------------------------


def test_database_created_at_db_path_with_schema_version(tmp_path):
    db = tmp_path / "sub" / "zeke.db"
    c = health.check_database(Settings.from_lua({"db_path": str(db)}))
    assert c.status == "ok" and db.exists()
    assert "created now" in c.message and "writable" in c.message
    version = int(c.message.split("schema version ")[1].split(",")[0])
    assert version >= 2  # at least the seeds' two migrations
    again = health.check_database(Settings.from_lua({"db_path": str(db)}))
    assert again.status == "ok" and "created now" not in again.message


def test_unusable_database_is_a_warning_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    c = health.check_database(Settings.from_lua({"db_path": str(blocker / "zeke.db")}))
    assert c.status == "warn" and "db_path" in c.fix
    assert str(blocker / "zeke.db") in c.message


# -- glyph ----------------------------------------------------------------------------


def test_glyph_lists_its_tools(tmp_path, omen, ollama):
    glyph = {"cmd": [sys.executable, str(GLYPH), "serve", "--transport", "stdio"]}
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=ollama.url, glyph=glyph))
    g = by["Glyph"]
    assert g.status == "ok", g
    for name in ("read_file", "write_file", "list_directory"):
        assert name in g.message


def test_glyph_that_cannot_start_is_a_warning_with_advice(tmp_path, omen, ollama):
    glyph = {"cmd": [str(tmp_path / "no-such-glyph"), "serve"]}
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=ollama.url, glyph=glyph))
    assert by["Glyph"].status == "warn" and "glyph.cmd" in by["Glyph"].fix
    assert health.overall_ok(list(by.values()))


def test_glyph_not_configured_is_information(tmp_path, omen, ollama):
    by = run(settings(tmp_path, api_base=omen.url, ollama_host=ollama.url))
    assert by["Glyph"].status == "info" and "not configured" in by["Glyph"].message


# -- python and packages ---------------------------------------------------------------


def test_missing_package_is_an_error_naming_it_and_make_install():
    def importer(name: str) -> object:
        if name == "httpx":
            raise ModuleNotFoundError("No module named 'httpx'")
        return object()

    c = health.check_packages(importer, lambda name: "9.9")
    assert c.status == "error" and "httpx" in c.message
    assert "make install" in c.fix or "pip install" in c.fix


def test_too_old_package_is_an_error():
    c = health.check_packages(lambda n: object(), lambda n: "0.1.0" if n == "anyio" else "99")
    assert c.status == "error" and "anyio 0.1.0" in c.message and "needs >= 4" in c.message


def test_real_packages_are_found_with_versions():
    c = health.check_packages()
    assert c.status == "ok"
    for name in ("pynvim", "httpx", "anyio", "msgpack"):
        assert name in c.message


# -- config sources -------------------------------------------------------------------


def test_config_from_stdin_json(tmp_path):
    stdin = io.StringIO('{"api_base": "http://127.0.0.1:8080/v1/", "fallback": false}')
    s, source, problems = health.load_config(stdin, {"ZEKE_API_BASE": "http://ignored.invalid/v1"})
    assert s.api_base == "http://127.0.0.1:8080/v1" and s.fallback is False
    assert "stdin" in source and problems == []


def test_config_from_env_when_stdin_is_empty_or_a_terminal():
    env = {"ZEKE_API_BASE": "http://omen.invalid:8080/v1", "OLLAMA_HOST": "gpubox.invalid:11434"}

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stdin in (io.StringIO(""), Tty('{"api_base": "http://x.invalid/v1"}'), None):
        s, source, problems = health.load_config(stdin, env)
        assert s.api_base == "http://omen.invalid:8080/v1"
        assert s.ollama_host == "http://gpubox.invalid:11434"
        assert "environment" in source and problems == []


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_bad_stdin_config_is_a_warning_and_defaults_are_used(text):
    s, _source, problems = health.load_config(io.StringIO(text), {})
    assert s.api_base == "http://127.0.0.1:8080/v1"
    assert [p.status for p in problems] == ["warn"] and problems[0].fix


def test_text_report_shows_fixes_and_a_verdict(tmp_path, dead_url):
    checks = health.collect(
        settings(tmp_path, api_base=f"{dead_url}/v1", ollama_host=dead_url), {}, cwd="."
    )
    text = health.format_text(checks, "the environment and defaults")
    assert "ERROR" in text and "→ Start OMEN" in text
    assert "problem(s) to fix" in text.splitlines()[-1]


def test_report_still_runs_without_httpx_and_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "httpx", None)  # `import httpx` now fails
    checks = health.collect(settings(tmp_path), {}, cwd=str(tmp_path))
    by = {c.name: c for c in checks}
    assert by["Python packages"].status == "error" and "httpx" in by["Python packages"].message
    assert by["OMEN"].status == "info" and "httpx" in by["OMEN"].message
    assert by["Database"].status == "ok"
    assert not health.overall_ok(checks)
