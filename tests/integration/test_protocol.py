"""The Lua side held to the host's protocol (zeke/protocol.py), in a real Neovim.

The definition is Python's; Lua is handed it and checked against it: a handler for
every event and no other, the request's public fields, what a real session sends
both ways (names and payload fields), what the manual lists, and that a None from
the host is nil in Lua (vim.NIL only inside a list, which keeps its length).
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest

import kit
from fakes import omen as fo
from nvimharness import ROOT, STABLE, wait_for
from zeke import protocol

DEFAULT_BUILDS = [STABLE]  # the key tests run on every build (@every_build)


# Lua is given the host's definition and reports what differs.
CHECK_LUA = r"""
local def = ...
local bridge, requests = require("zeke.bridge"), require("zeke.requests")
local function diff(have, want)
  local set, missing, extra = {}, {}, {}
  for _, name in ipairs(want) do
    set[name] = true
    if have[name] == nil then
      table.insert(missing, name)
    end
  end
  for name in pairs(have) do
    if not set[name] then
      table.insert(extra, name)
    end
  end
  table.sort(missing)
  table.sort(extra)
  return { missing = missing, extra = extra }
end
return {
  request_events = diff(bridge.request_handlers, def.request_events),
  global_events = diff(bridge.global_handlers, def.global_events),
  fields_equal = vim.deep_equal(requests.FIELDS, def.request_fields),
  fields = requests.FIELDS,
}
"""


def test_lua_handles_every_event_the_host_defines_and_has_its_request_fields(make_nvim):
    nv = make_nvim()
    got = nv.lua(CHECK_LUA, protocol.describe())
    assert got["request_events"] == {"missing": [], "extra": []}
    assert got["global_events"] == {"missing": [], "extra": []}
    assert got["fields_equal"], (got["fields"], protocol.describe()["request_fields"])


def _lua_sources() -> dict[Path, str]:
    files = [*sorted((ROOT / "lua").rglob("*.lua")), *sorted((ROOT / "plugin").glob("*.lua"))]
    return {p: p.read_text(encoding="utf-8") for p in files}


def test_every_notification_and_call_lua_sends_is_one_the_host_defines():
    sources = _lua_sources()
    text = "\n".join(sources.values())
    # one way out: host.lua's send(); a call site elsewhere would escape this test
    rpc = [
        p.name for p, s in sources.items() for _ in re.finditer(r"\bvim\.rpc(notify|request)\b", s)
    ]
    assert rpc == ["host.lua"]
    notified = set(re.findall(r"(?:host|M)\.notify\(\s*\"(\w+)\"", text))
    notified |= set(re.findall(r"\bsend\(\s*[\w.]+,\s*\"(\w+)\"", text))
    called = set(re.findall(r"(?:host|M)\.call\(\s*\"(\w+)\"", text))
    assert notified == set(protocol.NOTIFICATIONS)
    assert called == set(protocol.CALLS) - protocol.DIAGNOSTIC_CALLS


def _doc_list(start_tag: str, stop: str) -> str:
    doc = (ROOT / "doc" / "zeke.txt").read_text(encoding="utf-8")
    section = doc[doc.index(start_tag) :]
    return section[: section.index(stop)]


def test_the_manual_lists_the_public_fields():
    last = _doc_list("*zeke.last()*", "*zeke.cancel()*")
    documented = re.findall(r"^ {10}(\w+) ", last, flags=re.M)
    assert documented == list(protocol.REQUEST_FIELDS)
    status = _doc_list("*g:zeke_status*", "=====")
    in_status = [k for k, (_who, shown) in protocol.REQUEST_FIELDS.items() if shown]
    documented = re.findall(r"`(\w+)`", status.split("Nil before")[0])
    assert sorted(documented) == sorted(in_status) and len(set(documented)) == len(documented)


def test_the_request_class_annotates_every_public_field():
    source = (ROOT / "lua" / "zeke" / "requests.lua").read_text(encoding="utf-8")
    annotated = set(re.findall(r"^---@field (\w+)", source, flags=re.M))
    assert set(protocol.REQUEST_FIELDS) - annotated == set()


# What a real session sends, checked against the payload types ----------------------

SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
ANSWER = "Shorter:\n\n```python\ndef total(xs):\n    return sum(xs)\n```\n"

RECORD_LUA = r"""
_G.sent, _G.received = {}, {}
local real_notify = vim.rpcnotify
vim.rpcnotify = function(chan, event, method, payload)
  table.insert(_G.sent, { method, vim.deepcopy(payload) })
  return real_notify(chan, event, method, payload)
end
local bridge = require("zeke.bridge")
local real_dispatch = bridge.dispatch
bridge.dispatch = function(batch)
  for _, ev in ipairs(batch) do
    table.insert(_G.received, vim.deepcopy(ev))
  end
  return real_dispatch(batch)
end
vim.ui.select = function(items, _, on_choice)
  on_choice(items[#items])
end
"""


def _unknown_fields(value: Any, shape: Any, where: str) -> list[str]:
    """Fields of ``value`` that its protocol type does not name (at any depth)."""
    if value is None or shape is Any:
        return []
    if typing.is_typeddict(shape):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a table"]
        hints = typing.get_type_hints(shape)
        out = [f"{where}.{k}" for k in value if k not in hints]
        for k, v in value.items():
            if k in hints:
                out += _unknown_fields(v, hints[k], f"{where}.{k}")
        return out
    origin, args = typing.get_origin(shape), typing.get_args(shape)
    if origin is list and isinstance(value, list):
        return [
            e for i, v in enumerate(value) for e in _unknown_fields(v, args[0], f"{where}[{i}]")
        ]
    if origin in (typing.Union, types.UnionType):
        return next((_unknown_fields(value, a, where) for a in args if a is not type(None)), [])
    return []


def test_a_session_sends_only_defined_names_and_fields_both_ways(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    # the host starts with the first command, after the recorder: it sees every message
    nv = kit.start(
        make_nvim, omen, project, text=SOURCE, filetype="python", lua=RECORD_LUA, host=False
    )
    nv.cmd("1,5ZekeRefactor make it shorter")
    assert nv.wait_done()["state"] == "done"
    wait_for(lambda: nv.lua("return require('zeke.review').current"), message="the review")
    nv.cmd("ZekeApply")
    wait_for(
        lambda: (
            nv.lua(
                "return vim.api.nvim_buf_get_lines(vim.fn.bufnr(...), 0, -1, false)[2]",
                str(project / "calc.py"),
            )
            == "    return sum(xs)"
        ),
        message="the change applied",
    )
    for command in ("ZekeStats", "ZekeAudit", "ZekeModel"):
        nv.cmd(command)
    calls = {
        "apply",
        "discard",
        "stats",
        "audit",
        "aliases",
        "set_alias",
    }  # apply settles with discard
    wait_for(
        lambda: len([e for e in nv.lua("return _G.received") if e[0] == "reply"]) >= len(calls),
        message="a reply to every call",
    )
    sent, received = nv.lua("return _G.sent"), nv.lua("return _G.received")

    methods = {}
    unknown: list[str] = []
    for name, payload in sent:
        assert name in protocol.NOTIFICATIONS, name
        unknown += _unknown_fields(payload, protocol.NOTIFICATIONS[name], name)
        if name == "call":
            methods[payload["id"]] = payload["method"]
            unknown += _unknown_fields(
                payload["args"], protocol.CALLS[payload["method"]][0], f"call {payload['method']}"
            )
    assert set(methods.values()) == calls
    kinds = {**protocol.REQUEST_EVENTS, **protocol.GLOBAL_EVENTS}
    for kind, rid, data in received:
        assert kind in kinds, kind
        assert (rid is None) == (kind in protocol.GLOBAL_EVENTS), (kind, rid)
        unknown += _unknown_fields(data, kinds[kind], kind)
        if kind == "reply":
            assert "error" not in data, data
            method = methods[data["call_id"]]
            unknown += _unknown_fields(
                data["result"], protocol.CALLS[method][1], f"{method} result"
            )
    assert {k for k, _r, _d in received} >= {"meta", "text", "done", "reply"}
    assert unknown == []


NIL_LUA = r"""
local bridge, requests = require("zeke.bridge"), require("zeke.requests")
local id = "nil-test"
requests.add({ id = id, command = "ZekeExplain", intent = "reason", started = vim.uv.hrtime(),
  source = { buf = 0, start_line = 1, end_line = 1, text = { "" } } })
local meta, tool, done = ...
bridge.dispatch({ { "meta", id, meta } })
local cost_before = requests.get(id).cost_usd
bridge.dispatch({ { "meta", id, { cost_usd = vim.NIL, provider = "ollama" } }, { "tool", id, tool },
  { "done", id, done } })
local last = require("zeke").last()
local call = last.tool_calls[1]
return {
  cost_before = cost_before,
  cost_is_nil = last.cost_usd == nil,
  provider = last.provider,
  path_is_nil = call.path == nil,
  message_is_nil = call.message == nil,
  error_is_nil = last.error == nil,
  list = { #call.extra, call.extra[2] == vim.NIL, call.extra[3] },
  state = last.state,
}
"""


def test_a_none_from_the_host_is_nil_in_lua_and_a_list_keeps_its_length(make_nvim):
    nv = make_nvim()
    tool = {
        "id": "c1",
        "name": "read_file",
        "decision": "allow",
        "status": "ok",
        "path": None,
        "message": None,
        "extra": ["a", None, "c"],
    }
    done = {"state": "done", "error": None, "model": "m"}
    got = nv.lua(NIL_LUA, {"cost_usd": 0.04, "provider": "azure"}, tool, done)
    assert got["cost_before"] == pytest.approx(0.04)
    # a fact the host now sends as None is forgotten; one it does not send is kept
    assert got["cost_is_nil"] and got["provider"] == "ollama"
    # what last().tool_calls carries to the user: nil, not a truthy vim.NIL
    assert got["path_is_nil"] and got["message_is_nil"] and got["error_is_nil"]
    assert got["list"] == [3, True, "c"]
    assert got["state"] == "done"
