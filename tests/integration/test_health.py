"""`:checkhealth zeke` in a real headless Neovim, and `python -m zeke doctor` from a shell."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kit
from fakes import ollama as fl

ROOT = Path(__file__).resolve().parents[2]
MARKER = "sk-health-marker-5d2e81"


@pytest.fixture
def ollama(ollama: fl.FakeOllama) -> fl.FakeOllama:
    """Every default alias's local model pulled, so the report can be all OK."""
    ollama.pulled = ["deepseek-coder:14b", "deepseek-coder:33b"]
    return ollama


def dead(server) -> str:
    """Stop a fake and return its URL: nothing listens there any more."""
    url = server.url
    server.stop()
    return url


def health(nv, command: str = "checkhealth zeke") -> list[str]:
    nv.cmd(command)
    assert nv.lua("return vim.bo.filetype") == "checkhealth"
    return nv.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")


def lines_with(lines: list[str], level: str, *words: str) -> list[str]:
    return [ln for ln in lines if f"{level} " in ln and all(w in ln for w in words)]


def advice(lines: list[str], check_line: str) -> str:
    """The ADVICE block under one reported line."""
    i = lines.index(check_line) + 1
    out = []
    while i < len(lines) and lines[i].startswith("  "):
        out.append(lines[i].strip())
        i += 1
    return "\n".join(out)


start = functools.partial(kit.start, file=None, timeouts=kit.QUICK_TIMEOUTS, host=False)
"""The report of a Neovim in the project that has not started the host."""


# -- :checkhealth zeke ----------------------------------------------------------------


def test_everything_up_is_ok(make_nvim, tmp_path, project, omen, ollama):
    glyph = kit.glyph_config()
    nv = start(
        make_nvim, omen, project, {"glyph": glyph}, ollama=ollama, env={"ZEKE_API_KEY": MARKER}
    )
    lines = health(nv)
    text = "\n".join(lines)
    assert lines_with(lines, "OK", "Neovim 0.")
    assert lines_with(lines, "OK", "OMEN:", "ready")
    assert lines_with(lines, "OK", "OMEN models:", "4 models")
    assert lines_with(lines, "OK", "Ollama:", "0.12.6")
    assert lines_with(lines, "OK", "Ollama models:", "deepseek-coder:33b")
    assert lines_with(lines, "OK", "Python packages:", "pynvim", "httpx", "anyio", "msgpack")
    assert lines_with(lines, "OK", "Glyph:", "read_file", "write_file")
    assert lines_with(lines, "OK", "Database:", str(tmp_path), "schema version")
    assert lines_with(lines, "OK", "API key:", "ZEKE_API_KEY is set")
    assert not [ln for ln in lines if "ERROR" in ln or "WARNING" in ln], text
    assert MARKER not in text
    # the probes went to the fakes
    assert any(r.path == "/ready" for r in omen.requests)
    assert any(r.path == "/api/tags" for r in ollama.requests)


def test_omen_down_warns_about_degraded_mode(make_nvim, project, omen, ollama):
    nv = start(make_nvim, dead(omen), project, ollama=ollama)
    lines = health(nv)
    (warn,) = lines_with(lines, "WARNING", "OMEN:")
    assert "degraded mode" in warn and "deepseek-coder:14b" in warn
    assert "omen serve" in advice(lines, warn)
    assert lines_with(lines, "OK", "Ollama:")
    assert not lines_with(lines, "ERROR")


def test_both_down_are_errors_with_fixes_and_the_report_is_quick(make_nvim, project, omen, ollama):
    nv = start(make_nvim, dead(omen), project, ollama=dead(ollama))
    t0 = time.monotonic()
    lines = health(nv)
    assert time.monotonic() - t0 < 6.0
    (omen_err,) = lines_with(lines, "ERROR", "OMEN:")
    (ollama_err,) = lines_with(lines, "ERROR", "Ollama:")
    assert "refused" in omen_err and "refused" in ollama_err
    assert "omen serve" in advice(lines, omen_err) and "api_base" in advice(lines, omen_err)
    assert "ollama serve" in advice(lines, ollama_err)
    assert "ollama_host" in advice(lines, ollama_err)


def test_hanging_servers_do_not_stall_checkhealth(make_nvim, project):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        nv = start(make_nvim, f"{url}/v1", project, ollama=url)
        t0 = time.monotonic()
        lines = health(nv)
        assert time.monotonic() - t0 < 6.0
        assert lines_with(lines, "ERROR", "OMEN:", "did not answer")
    finally:
        sock.close()


def test_degraded_state_of_the_running_host_is_reported(make_nvim, project, omen, ollama):
    nv = start(make_nvim, dead(omen), project, ollama=ollama)
    nv.open_file(project / "a.py", "x = 1\n")
    nv.cmd("1ZekeExplain")
    assert nv.wait_done()["degraded"] is True
    lines = health(nv)
    (now,) = lines_with(lines, "WARNING", "degraded mode now")
    assert "deepseek-coder:14b" in now
    assert "background" in advice(lines, now)


def test_neovim_older_than_the_tested_releases_is_warned(make_nvim, project, omen, ollama):
    nv = start(make_nvim, omen, project, ollama=ollama)
    # This Neovim reports itself as 0.10.4 (the rest of vim.version stays real).
    nv.lua(
        "local real = vim.version "
        "vim.version = setmetatable({}, { __index = real, "
        "__call = function() return { major = 0, minor = 10, patch = 4 } end })"
    )
    lines = health(nv)
    (warn,) = lines_with(lines, "WARNING", "Neovim 0.10.4")
    assert "zeke is tested on 0.11 and 0.12" in warn
    assert "0.11 or newer" in advice(lines, warn)
    assert lines_with(lines, "OK", "OMEN:")  # the rest of the report still runs


def test_zekedoctor_is_the_same_report(make_nvim, project, omen, ollama):
    nv = start(make_nvim, omen, project, ollama=ollama)
    lines = health(nv, "ZekeDoctor")
    assert lines_with(lines, "OK", "OMEN:") and lines_with(lines, "OK", "Ollama:")


def test_missing_interpreter_says_make_install(make_nvim, tmp_path, project, omen, ollama):
    nv = start(
        make_nvim, omen, project, {"python": str(tmp_path / "nope" / "python")}, ollama=ollama
    )
    lines = health(nv)
    (err,) = lines_with(lines, "ERROR", "no Python interpreter")
    assert "make install" in advice(lines, err) and "python" in advice(lines, err)


def test_config_problems_are_reported(make_nvim, project, omen, ollama):
    nv = start(make_nvim, omen, project, {"bogus_key": 1, "context_lines": "many"}, ollama=ollama)
    lines = health(nv)
    assert lines_with(lines, "WARNING", "bogus_key")
    assert lines_with(lines, "WARNING", "context_lines")


# -- python -m zeke doctor from a shell -------------------------------------------------


def doctor(stdin: str | None, *args: str, env_extra: dict | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("ZEKE_API_BASE", "OLLAMA_HOST")}
    env["PYTHONPATH"] = str(ROOT / "rplugin" / "python3")
    env.update(env_extra or {})
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "zeke", "doctor", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    return proc, time.monotonic() - t0


def test_doctor_json_with_config_from_neovim(make_nvim, project, omen, ollama):
    nv = start(make_nvim, omen, project, ollama=ollama)
    config = nv.lua("return vim.json.encode(require('zeke.config').for_host())")
    proc, _ = doctor(config, "--json", env_extra={"ZEKE_API_KEY": MARKER})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    by = {c["name"]: c for c in report["checks"]}
    assert by["OMEN"]["status"] == "ok" and by["Ollama"]["status"] == "ok"
    assert by["API key"]["status"] == "ok" and "ZEKE_API_KEY" in by["API key"]["message"]
    for c in report["checks"]:
        assert set(c) == {"name", "status", "message", "fix"}
    assert MARKER not in proc.stdout + proc.stderr
    # the key was sent to the router, only there
    models = [r for r in omen.requests if r.path == "/v1/models"]
    assert models and models[-1].headers.get("authorization") == f"Bearer {MARKER}"


def test_doctor_exit_codes_and_no_key_in_output(tmp_path, omen, ollama):
    db = str(tmp_path / "zeke.db")
    key = {"ZEKE_API_KEY": MARKER}

    up = json.dumps({"api_base": omen.url, "ollama_host": ollama.url, "db_path": db})
    proc, _ = doctor(up, env_extra=key)
    assert proc.returncode == 0, proc.stdout
    assert "ERROR" not in proc.stdout and "OMEN" in proc.stdout
    assert MARKER not in proc.stdout + proc.stderr

    omen_url, ollama_url = dead(omen), dead(ollama)
    degraded_cfg = json.dumps({"api_base": omen_url, "ollama_host": ollama_url, "db_path": db})
    proc, elapsed = doctor(degraded_cfg, "--json", env_extra=key)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    errors = {c["name"] for c in report["checks"] if c["status"] == "error"}
    assert errors == {"OMEN", "Ollama"}
    assert all(c["fix"] for c in report["checks"] if c["status"] == "error")
    assert elapsed < 5.0
    assert MARKER not in proc.stdout + proc.stderr

    proc, _ = doctor(degraded_cfg, env_extra=key)  # the text form, for a terminal
    assert proc.returncode == 1 and "ERROR" in proc.stdout and "→" in proc.stdout
    assert MARKER not in proc.stdout + proc.stderr


def test_doctor_from_env_when_nothing_on_stdin(tmp_path, omen, ollama):
    env = {
        "ZEKE_API_BASE": omen.url,
        "OLLAMA_HOST": ollama.url.removeprefix("http://"),  # a bare host:port works too
        "XDG_DATA_HOME": str(tmp_path / "data"),  # the default db_path lands here
    }
    proc, _ = doctor(None, "--json", env_extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert by["OMEN"]["status"] == "ok" and by["Ollama"]["status"] == "ok"
    assert str(tmp_path / "data" / "nvim" / "zeke" / "zeke.db") in by["Database"]["message"]


def test_doctor_rejects_unknown_arguments():
    proc, _ = doctor("", "--bogus")
    assert proc.returncode == 2 and "usage" in proc.stderr
