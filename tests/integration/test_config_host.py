"""The host holds the table config.lua validated, unchanged: every schema key set to
a value other than its default in setup() is what the Python host reads, under
the same name (no renames, no defaults of the host's own)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from nvimharness import wait_for

pytestmark = pytest.mark.nvim


def options(tmp_path) -> dict[str, Any]:
    """A value for every key, none of them its default."""
    return {
        "api_base": "http://127.0.0.1:18080/v2",
        "api_key_env": ["MY_ROUTER_KEY"],
        "ollama_host": "http://127.0.0.1:11999",
        "fallback": False,
        "python": sys.executable,
        "prestart": "idle",
        "alias": "mine",
        "aliases": {"mine": {"provider": "ollama", "model": "qwen:7b", "tags": {"n": 2}}},
        "tags": {"budget": "frugal", "local": True},
        "project": {"name": "notes", "root": str(tmp_path)},
        "omen": {"strategy": "race", "k": 2, "budget_usd": 0.25, "custom": {"deep": [1, 2]}},
        "glyph": {"cmd": ["glyph", "serve"], "name": "g", "env": {"A": "b"}},
        # consent: a function, set in Lua below
        "db_path": str(tmp_path / "other.db"),
        "context_lines": 7,
        "max_context_tokens": 500,
        "timeouts": {"connect": 1.5, "first_byte": 11, "read": 12, "tool": 13},
        "ui": {"layout": "tab", "width": 0.5, "focus": True},
        "test_paths": {"ruby": "{root}/spec/{stem}_spec.rb"},
        "tools": {"enable": ["delete_file"], "max_turns": 3},
        "history": {"enabled": False, "max_entries": 50},
        "log_level": "debug",
    }


SETUP_LUA = """
local opts = ...
opts.consent = function() return true end
require('zeke').setup(opts)
local config = require('zeke.config')
local sent, defaults = config.for_host(), config.defaults()
local same = {}
for key in pairs(config.schema) do
  if vim.deep_equal(sent[key], defaults[key]) then table.insert(same, key) end
end
return { sent = sent, keys = vim.tbl_keys(config.schema), same = same, errors = config.errors }
"""


def test_every_schema_key_reaches_the_host_unchanged(make_nvim, tmp_path):
    nv = make_nvim()
    lua = nv.lua(SETUP_LUA, options(tmp_path))
    assert lua["errors"] == [], lua["errors"]
    assert lua["same"] == [], f"keys left at their default: {lua['same']}"
    nv.lua(
        "_G.cfg_reply = nil; require('zeke.host').call('config', {}, "
        "function(r, e) _G.cfg_reply = { r = r, e = e } end)"
    )
    reply = wait_for(lambda: nv.lua("return _G.cfg_reply"), timeout=30, message="the host's config")
    assert reply.get("e") is None, reply
    host = reply["r"]
    assert host["sent"] == lua["sent"]
    held = host["held"]
    assert sorted(held) == sorted(lua["keys"])
    for key in lua["keys"]:
        assert held[key] == lua["sent"][key], key
    assert held["consent"] == "function"  # the one value msgpack cannot carry
