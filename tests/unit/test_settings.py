"""Settings.from_lua takes whatever Lua sends: a value that slipped past the Lua
checks degrades to the schema's default instead of raising (which would fail every
request with a message that names no key); a valid one is kept as it came."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from zeke.settings import DEFAULTS_FILE, Settings, thawed, valid_url

KEYS = ["api_base", "ollama_host", "omen", "glyph", "context_lines", "max_context_tokens",
        "timeouts", "tools", "project", "alias", "aliases", "tags", "test_paths", "fallback"]  # fmt: skip
SUB = ["connect", "first_byte", "read", "tool", "max_turns", "enable", "budget_usd", "k",
       "max_latency_ms", "strategy", "url", "cmd"]  # fmt: skip
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["http://127.0.0.1:99999/v1", "http://127.0.0.1:8080/v1", "ws://[::1]:0",
                     "http://:80", "https://h.invalid/v1", "http://127.0.0.1 8080", "1e309"]),
)  # fmt: skip
value = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(SUB), st.text(max_size=4)), inner, max_size=4),
    ),
    max_leaves=10,
)
payload = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), value, max_size=6)


def _positive_finite(x: Any) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


@given(d=payload)
@example(d={"context_lines": "40"})
@example(d={"max_context_tokens": math.inf})
@example(d={"timeouts": {"read": "60", "connect": math.nan}})
@example(d={"tools": {"max_turns": math.inf}})
@example(d={"api_base": "http://127.0.0.1:99999/v1", "ollama_host": "http://:1"})
@example(d={"omen": {"budget_usd": math.nan, "k": math.inf, "strategy": "race"}})
def test_from_lua_never_raises_and_every_value_is_usable(d: dict[str, Any]) -> None:
    s = Settings.from_lua(d)
    assert valid_url(s.api_base) and valid_url(s.ollama_host)
    t = s.timeouts
    for seconds in (t.connect, t.first_byte, t.read, t.tool):
        assert _positive_finite(seconds)
    assert isinstance(s.context_lines, int) and s.context_lines >= 0
    assert isinstance(s.max_context_tokens, int) and s.max_context_tokens >= 0
    assert isinstance(s.tools.max_turns, int) and s.tools.max_turns >= 1
    for part in (s.project_name, s.project_root):
        assert part is None or (isinstance(part, str) and part)
    json.dumps(thawed(s.omen), allow_nan=False)  # sent to the router as JSON
    if s.glyph is not None:
        url = s.glyph.get("url")
        assert s.glyph.get("cmd") is not None or valid_url(url, ("ws", "wss", "http", "https"))


def test_a_bad_value_keeps_the_default_and_good_ones_stay() -> None:
    s = Settings.from_lua(
        {
            "api_base": "http://127.0.0.1:99999/v1",
            "ollama_host": "http://127.0.0.1:11435/",
            "timeouts": {"read": math.inf, "connect": 2},
            "omen": {"budget_usd": math.nan, "strategy": "race", "k": 2},
            "glyph": {"url": "ws://127.0.0.1:70000"},
        }
    )
    assert s.api_base == Settings.defaults({}).api_base == "http://127.0.0.1:8080/v1"
    assert s.ollama_host == "http://127.0.0.1:11435"
    assert (s.timeouts.read, s.timeouts.connect) == (60.0, 2.0)
    assert s.omen == {"strategy": "race", "k": 2}
    assert s.glyph is None  # no usable server named: no tools rather than a failing one


def test_a_valid_table_is_kept_as_it_came() -> None:
    table = {
        "aliases": {"mine": {"provider": "ollama", "model": "m", "tags": {"n": 3, "on": True}}},
        "tags": {"budget": "frugal"},
        "project": {"name": "notes", "root": "~/notes"},
        "omen": {"strategy": "race", "extra": {"deep": [1, 2]}},
        "timeouts": {"connect": 2, "first_byte": 5, "read": 7, "tool": 9},
        "tools": {"enable": ["delete_file"], "max_turns": 3},
        "fallback": False,
    }
    s = Settings.from_lua(table)
    assert thawed(s.table) == table
    assert thawed(s.aliases) == table["aliases"] and thawed(s.tags) == table["tags"]
    assert (s.project_name, s.project_root) == ("notes", "~/notes")
    assert thawed(s.omen) == table["omen"] and s.fallback is False
    assert (s.timeouts.connect, s.timeouts.tool, s.tools.enable, s.tools.max_turns) == (
        2,
        9,
        ("delete_file",),
        3,
    )


def test_the_view_is_read_only() -> None:
    s = Settings.from_lua({"aliases": {"a": {"model": "m"}}, "tools": {"enable": ["x"]}})
    with pytest.raises(TypeError):
        s.aliases["b"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        s.aliases["a"]["model"] = "n"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tools.max_turns = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("aliases", {"x": {"model": 42}}),
        ("aliases", {"x": {"tags": {"nested": {"t": 1}}}}),
        ("aliases", ["a"]),
        ("tags", {"weird": {"x": 1}}),
        ("tags", ["low", "normal"]),
        ("tags", {"n": math.nan}),
    ],
)
def test_what_config_lua_rejects_falls_back_to_the_schema_default(key: str, bad: Any) -> None:
    """A shape config.lua rejects (an older plugin, a hand-made payload) is not an
    error at request time: the host takes the schema's default for that key."""
    schema_default = json.loads(DEFAULTS_FILE.read_text())["defaults"][key]
    assert thawed(getattr(Settings.from_lua({key: bad}), key)) == schema_default


def test_defaults_come_from_the_schema_and_the_environment() -> None:
    env = {
        "ZEKE_API_BASE": "http://omen.invalid/v1",
        "OLLAMA_HOST": "127.0.0.1:1",
        "XDG_DATA_HOME": "/d",
    }
    s = Settings.defaults(env)
    assert (s.api_base, s.ollama_host) == ("http://omen.invalid/v1", "http://127.0.0.1:1")
    assert s.db_path == "/d/nvim/zeke/zeke.db"
    bare = Settings.defaults({"HOME": "/h"})
    assert bare.api_base == "http://127.0.0.1:8080/v1"
    assert bare.ollama_host == "http://127.0.0.1:11434"
    assert bare.db_path.endswith("/nvim/zeke/zeke.db")
    assert "code-fast" in bare.aliases and bare.context_lines == 40
