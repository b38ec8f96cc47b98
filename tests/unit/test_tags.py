"""Aliases, tags, prefs, and the exact body and headers of docs/design.md §6."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from zeke.engine.tags import (
    Alias,
    apply_prefs,
    build_body,
    build_headers,
    merge_tags,
    resolve_alias,
)
from zeke.errors import ZekeError
from zeke.project import project_config, project_of, tool_root
from zeke.settings import Settings, read_api_key

ALIASES = {
    "code-fast": {"provider": "ollama", "model": "deepseek-coder:14b", "tags": {"latency": "low"}},
    "code-smart": {"provider": "azure", "model": "gpt-5-codex"},
    "reason-deep": {
        "provider": "anthropic",
        "model": "claude-3-5-sonnet",
        "tags": {"budget": "generous"},
    },
}

# ---------------------------------------------------------------- aliases


def test_auto_always_exists_without_provider_or_model() -> None:
    assert resolve_alias("auto", {}) == Alias("auto", None, None, {})
    assert resolve_alias("auto", ALIASES) == Alias("auto", None, None, {})


def test_known_alias_resolves_with_string_tags() -> None:
    a = resolve_alias("code-fast", ALIASES)
    assert (a.name, a.provider, a.model, a.tags) == (
        "code-fast",
        "ollama",
        "deepseek-coder:14b",
        {"latency": "low"},
    )
    b = resolve_alias("code-smart", {"code-smart": {"model": "m", "tags": []}})  # Lua {} -> []
    assert (b.provider, b.model, b.tags) == (None, "m", {})


def test_unknown_alias_names_itself_and_the_known_ones() -> None:
    with pytest.raises(ZekeError) as e:
        resolve_alias("code-fats", ALIASES)
    assert e.value.kind == "config"
    msg = e.value.message
    assert "code-fats" in msg
    for known in ("auto", "code-fast", "code-smart", "reason-deep"):
        assert known in msg


def test_an_alias_is_read_as_config_lua_validated_it() -> None:
    a = resolve_alias("x", {"x": {"provider": "", "tags": {"n": 2, "on": False}}})
    assert (a.provider, a.model, a.tags) == (None, None, {"n": "2", "on": "false"})
    mine = resolve_alias("auto", {"auto": {"tags": {"budget": "frugal"}}})
    assert mine == Alias("auto", None, None, {"budget": "frugal"})


# ---------------------------------------------------------------- tags


def test_precedence_config_alias_command_computed() -> None:
    merged = merge_tags(
        {"latency": "normal", "budget": "normal", "intent": "x", "project": "cfg", "a": "cfg"},
        {"latency": "low", "intent": "y", "project": "alias"},
        {"intent": "code", "project": "cmd"},
        {"project": "grim", "size_hint": "small"},
    )
    assert merged == {
        "latency": "low",
        "budget": "normal",
        "intent": "code",
        "project": "grim",
        "a": "cfg",
        "size_hint": "small",
    }


def test_every_value_becomes_a_string_and_none_is_dropped() -> None:
    merged = merge_tags(
        {"flag": True, "off": False, "n": 3, "f": 0.5, "gone": None, "keep": "x"},
        None,
        {"keep": None},
        [],
    )
    assert merged == {"flag": "true", "off": "false", "n": "3", "f": "0.5", "keep": "x"}
    assert all(isinstance(v, str) for v in merged.values())


def test_tags_take_the_read_only_tables_of_the_settings() -> None:
    s = Settings.from_lua({"tags": {"latency": "low", "n": 1}})
    assert merge_tags(s.tags, None, {"intent": "code"}, None) == {
        "latency": "low",
        "n": "1",
        "intent": "code",
    }


# ---------------------------------------------------------------- prefs


def test_prefer_local_adds_a_hint_unless_large() -> None:
    for flag in (True, 1, "1"):
        tags, _ = apply_prefs(
            {"size_hint": "small"}, None, {"prefer_local": flag}, omen_configured=False
        )
        assert tags == {"size_hint": "small", "prefer_local": "true"}
    tags, _ = apply_prefs({"size_hint": "large"}, None, {"prefer_local": 1}, omen_configured=False)
    assert "prefer_local" not in tags
    for flag in (False, 0, None):
        tags, _ = apply_prefs(
            {"size_hint": "tiny"}, None, {"prefer_local": flag}, omen_configured=False
        )
        assert "prefer_local" not in tags


def test_cost_cap_never_invents_an_omen_object() -> None:
    _, omen = apply_prefs({}, None, {"max_cloud_cost_cents": 200}, omen_configured=False)
    assert omen is None
    assert apply_prefs({}, None, None, omen_configured=False) == ({}, None)


def test_cost_cap_becomes_the_budget_of_a_configured_omen_table() -> None:
    configured = {"strategy": "single", "max_latency_ms": 2500}
    _, omen = apply_prefs({}, configured, {"max_cloud_cost_cents": 150}, omen_configured=True)
    assert omen == {"strategy": "single", "max_latency_ms": 2500, "budget_usd": 1.5}
    assert configured == {"strategy": "single", "max_latency_ms": 2500}  # not mutated


def test_an_explicit_budget_wins_over_the_cost_cap() -> None:
    _, omen = apply_prefs(
        {},
        {"strategy": "race", "budget_usd": 0.12},
        {"max_cloud_cost_cents": 500},
        omen_configured=True,
    )
    assert omen == {"strategy": "race", "budget_usd": 0.12}


def test_apply_prefs_returns_new_objects() -> None:
    tags = {"size_hint": "small"}
    omen = {"strategy": "single"}
    new_tags, new_omen = apply_prefs(tags, omen, {"prefer_local": 1}, omen_configured=True)
    assert tags == {"size_hint": "small"} and omen == {"strategy": "single"}
    assert new_tags is not tags and new_omen is not omen


# ---------------------------------------------------------------- body


MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
TAGS = {
    "intent": "code",
    "project": "grim",
    "latency": "low",
    "budget": "frugal",
    "size_hint": "small",
}


def test_body_is_exactly_the_contract_shape() -> None:
    body = build_body(model="auto", messages=MESSAGES, tags=TAGS, omen=None, tools=None)
    assert body == {
        "model": "auto",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tags": TAGS,
    }
    assert json.loads(json.dumps(body)) == body


def test_omen_only_when_given_and_tools_only_when_non_empty() -> None:
    omen = {
        "strategy": "speculate_k",
        "k": 2,
        "providers": ["ollama", "anthropic"],
        "budget_usd": 0.12,
        "max_latency_ms": 2500,
        "stickiness": "session",
    }
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {}}}]
    body = build_body(model="code-fast", messages=MESSAGES, tags=TAGS, omen=omen, tools=[])
    assert body["omen"] == omen and "tools" not in body
    body = build_body(model="code-fast", messages=MESSAGES, tags=TAGS, omen=None, tools=tools)
    assert "omen" not in body and body["tools"] == tools
    assert list(body) == ["model", "messages", "stream", "stream_options", "tags", "tools"]


# ---------------------------------------------------------------- headers


def test_headers_with_key_ids_and_hints() -> None:
    h = build_headers(api_key="k-123", request_id="req-1", session_id="sess-9", tags=TAGS)
    assert h == {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Authorization": "Bearer k-123",
        "X-Request-ID": "req-1",
        "X-Zeke-Session": "sess-9",
        "x-client": "zeke.nvim",
        "x-project": "grim",
        "x-intent": "code",
        "x-latency": "low",
        "x-budget": "frugal",
        "x-size-hint": "small",
    }


def test_headers_without_key_and_with_only_some_tags() -> None:
    h = build_headers(api_key=None, request_id="r", session_id="s", tags={"intent": "reason"})
    assert "Authorization" not in h
    assert h["x-intent"] == "reason"
    for absent in ("x-project", "x-latency", "x-budget", "x-size-hint"):
        assert absent not in h
    assert "Authorization" not in build_headers(
        api_key="  ", request_id="r", session_id="s", tags={}
    )


def test_header_values_are_always_sendable() -> None:
    h = build_headers(
        api_key=None, request_id="r", session_id="s", tags={"project": "café\r\nX-Evil: 1"}
    )
    value = h["x-project"]
    assert value.isascii() and "\r" not in value and "\n" not in value
    assert "caf" in value


def test_a_key_that_cannot_be_a_header_is_a_config_error_without_the_key() -> None:
    with pytest.raises(ZekeError) as e:
        build_headers(api_key="abc dëf", request_id="r", session_id="s", tags={})
    assert e.value.kind == "config" and "dëf" not in e.value.message


# ---------------------------------------------------------------- project


def _inside_git(path: Path) -> bool:
    return any((p / ".git").exists() for p in [path, *path.parents])


def test_project_is_the_git_root_of_the_file(tmp_path: Path) -> None:
    if _inside_git(tmp_path):
        pytest.skip("the temp dir is inside a git checkout")
    repo = tmp_path / "grim"
    (repo / ".git").mkdir(parents=True)
    (repo / "src" / "deep").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    f = repo / "src" / "deep" / "x.py"
    assert project_of(str(f), str(elsewhere)) == ("grim", str(repo))
    # A file not written yet in a directory that does not exist yet.
    assert project_of(str(repo / "new" / "y.py"), str(elsewhere)) == ("grim", str(repo))
    # Relative paths are relative to cwd.
    assert project_of("src/deep/x.py", str(repo)) == ("grim", str(repo))


def test_a_git_file_marks_a_worktree_root(tmp_path: Path) -> None:
    if _inside_git(tmp_path):
        pytest.skip("the temp dir is inside a git checkout")
    wt = tmp_path / "wt"
    (wt / "lib").mkdir(parents=True)
    (wt / ".git").write_text("gitdir: /somewhere/else\n")
    assert project_of(str(wt / "lib" / "a.lua"), str(tmp_path)) == ("wt", str(wt))


def test_without_git_in_the_file_path_the_cwd_decides(tmp_path: Path) -> None:
    if _inside_git(tmp_path):
        pytest.skip("the temp dir is inside a git checkout")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    loose = tmp_path / "loose"
    loose.mkdir()
    assert project_of(str(loose / "a.py"), str(repo)) == ("repo", str(repo))
    assert project_of(None, str(repo / "")) == ("repo", str(repo))
    # No git anywhere: cwd and its name.
    assert project_of(str(loose / "a.py"), str(loose)) == ("loose", str(loose))
    assert project_of(None, str(loose)) == ("loose", os.path.abspath(loose))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("grim", ("grim", None)),
        ({"name": "grim"}, ("grim", None)),
        ({"root": "~/src/grim"}, (None, "~/src/grim")),
        ({"name": "n", "root": "/r"}, ("n", "/r")),
        (None, (None, None)),
        ("", (None, None)),
        ({"root": "  "}, (None, None)),
        ([], (None, None)),  # an empty Lua table
    ],
)
def test_project_config_is_a_name_or_a_table(value: object, expected: tuple) -> None:
    assert project_config(value) == expected


def test_without_git_or_a_configured_root_tools_have_no_root(tmp_path: Path) -> None:
    if _inside_git(tmp_path):
        pytest.skip("the temp dir is inside a git checkout")
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    # context still has a place to start from; tools do not
    assert project_of(str(home / "a.txt"), str(home)) == ("home", str(home))
    assert tool_root(str(home / "a.txt"), str(home)) is None
    assert tool_root(None, str(home)) is None
    assert tool_root(str(repo / "x.py"), str(home)) == str(repo)
    assert tool_root(None, str(repo)) == str(repo)


def test_a_configured_root_is_the_project(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    notes = home / "notes"
    notes.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    assert project_of(str(notes / "a.md"), str(home), "~/notes") == ("notes", str(notes))
    assert tool_root(str(notes / "a.md"), str(home), "~/notes") == str(notes)
    assert tool_root(None, str(home), "notes") == str(notes)  # relative to cwd
    # explicit wins over a git root: the user said where the project is
    (home / ".git").mkdir()
    assert tool_root(str(home / "x.py"), str(home), str(notes)) == str(notes)


# ---------------------------------------------------------------- api key


def test_api_key_is_the_first_non_empty_name_in_order() -> None:
    names = ["ZEKE_API_KEY", "OMEN_API_KEY"]
    assert read_api_key({"ZEKE_API_KEY": "z", "OMEN_API_KEY": "o"}, names) == "z"
    assert read_api_key({"ZEKE_API_KEY": "", "OMEN_API_KEY": "o"}, names) == "o"
    assert read_api_key({"ZEKE_API_KEY": "   ", "OMEN_API_KEY": "o\n"}, names) == "o"
    assert read_api_key({"OMEN_API_KEY": "o"}, ["OMEN_API_KEY", "ZEKE_API_KEY"]) == "o"
    assert read_api_key({}, names) is None
    assert read_api_key({"OTHER": "x"}, names) is None
    assert read_api_key({"MY_KEY": "m"}, "MY_KEY") == "m"  # a single name, not a list


def test_the_body_is_json_with_the_settings_read_only_omen() -> None:
    s = Settings.from_lua({"omen": {"strategy": "race", "extra": {"deep": [1, {"x": 2}]}}})
    body = build_body(model="auto", messages=MESSAGES, tags={}, omen=s.omen, tools=None)
    assert json.loads(json.dumps(body))["omen"] == {
        "strategy": "race",
        "extra": {"deep": [1, {"x": 2}]},
    }
