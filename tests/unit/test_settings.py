"""Settings.from_lua takes whatever Lua sends: a value that slipped past the Lua
checks degrades to its default instead of raising (which would fail every request
with a message that names no key)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from zeke.settings import Settings, valid_url

KEYS = ["api_base", "ollama_host", "omen", "glyph", "context_lines", "max_context_tokens",
        "timeouts", "tools", "project", "alias", "aliases", "tags", "test_paths", "fallback"]  # fmt: skip
SUB = ["connect", "first_byte", "read", "tool", "max_turns", "enable", "budget_usd", "k",
       "max_latency_ms", "strategy", "url", "cmd"]  # fmt: skip
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["http://127.0.0.1:99999/v1", "http://127.0.0.1:8080/v1", "ws://[::1]:0",
                     "http://:80", "https://h.invalid/v1", "http://a b", "1e309"]),
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
    for t in (s.connect_timeout, s.first_byte_timeout, s.read_timeout, s.tool_timeout):
        assert _positive_finite(t)
    assert isinstance(s.context_lines, int) and s.context_lines >= 0
    assert isinstance(s.max_context_tokens, int) and s.max_context_tokens >= 0
    assert isinstance(s.max_turns, int) and s.max_turns >= 1
    assert s.project is None or isinstance(s.project, str)
    json.dumps(s.omen, allow_nan=False)  # sent to the router as JSON
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
    assert s.api_base == Settings().api_base
    assert s.ollama_host == "http://127.0.0.1:11435"
    assert (s.read_timeout, s.connect_timeout) == (Settings().read_timeout, 2.0)
    assert s.omen == {"strategy": "race", "k": 2}
    assert s.glyph is None  # no usable server named: no tools rather than a failing one
