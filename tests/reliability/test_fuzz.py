"""Fuzzing what the unit fuzzers do not reach: config validation in a real Neovim,
the whole HTTP client on arbitrary responses, applying a change to arbitrary
buffers, and the router's words in every place the editor draws them. Each must
end in its own clear error, never anything else.

(The SSE, NDJSON and decoder fuzzers live in tests/unit/test_stream_fuzz.py, the
hunk fuzzers in tests/unit/test_diff_fuzz.py.)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nvimharness import STABLE, NvimSession, nvim_path
from zeke.backends import http as client
from zeke.backends.events import End
from zeke.changes import diffing
from zeke.changes import proposal as changes
from zeke.errors import ZekeError
from zeke.settings import Settings

# -- config validation, in one headless Neovim ----------------------------------------

SCHEMA_KEYS = [
    "api_base", "api_key_env", "ollama_host", "fallback", "python", "alias", "aliases",
    "tags", "project", "omen", "glyph", "consent", "db_path", "context_lines",
    "max_context_tokens", "timeouts", "ui", "test_paths", "tools", "log_level",
]  # fmt: skip
SUB_KEYS = [
    "layout", "width", "focus", "connect", "read", "first_byte", "enable", "max_turns",
    "strategy", "k", "providers", "budget_usd", "cmd", "url", "provider", "model", "tags",
    "latency", "budget", "code-fast", "my-alias", "python",
]  # fmt: skip
GOOD_STRINGS = [
    "ollama", "auto", "code-fast", "http://127.0.0.1:8080/v1", "https://x.invalid/v1",
    "ws://127.0.0.1:7331", "vsplit", "split", "tab", "ask", "allow", "debug", "race",
    "single", "%s", "%d%%", "'", "", "ZEKE_API_KEY",
]  # fmt: skip

scalars = st.one_of(
    st.none(),  # arrives in Lua as vim.NIL inside a table
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.inf, -math.inf, 2**53, 1e300, 0.5]),  # "unlimited", huge, fractional
    st.sampled_from(GOOD_STRINGS),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(SUB_KEYS), st.text(max_size=6)), inner,
                        max_size=4),
    ),
    max_leaves=12,
)  # fmt: skip


def url_strategy(hosts: list[str], ports: list[int]) -> st.SearchStrategy[str]:
    """URLs good and bad: odd schemes, no host, ports out of range or not numbers."""
    port = st.one_of(st.just(""), st.sampled_from(ports).map(lambda p: f":{p}"),
                     st.sampled_from([":", ":x", ":-1", ": 80"]))  # fmt: skip
    return st.builds(
        lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
        st.sampled_from(["http://", "https://", "HTTP://", "ws://", "ftp://", "", "http:/"]),
        st.sampled_from(hosts),
        port,
        st.sampled_from(["", "/v1", "/v1/", "/mcp", "?q=1", "#f"]),
    )


numbers = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 53.333, 0, 0.0, -1, 1, 1.5, 0.3, 2**53, 1e300,
                     1e-300, 80, 2**31]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10, max_value=10**6),
)  # fmt: skip
not_tables = st.one_of(st.text(max_size=6), numbers, st.booleans())


def targeted_options(urls: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Options aimed at the keys whose bad values once passed validation: NaN, inf,
    fractions, huge ports, strings where tables go."""
    return st.fixed_dictionaries(
        {},
        optional={
            "ui": st.one_of(not_tables, st.fixed_dictionaries({}, optional={
                "width": st.one_of(numbers, not_tables),
                "layout": st.sampled_from(["vsplit", "split", "tab", "float", 1]),
                "focus": st.one_of(st.booleans(), numbers)})),
            "omen": st.one_of(not_tables, st.fixed_dictionaries({}, optional={
                "budget_usd": numbers, "k": numbers, "max_latency_ms": numbers,
                "strategy": st.sampled_from(["single", "race", "bogus"]),
                "stickiness": st.one_of(st.just("session"), numbers),
                "extra": st.one_of(numbers, st.lists(numbers, max_size=2))})),
            "api_base": st.one_of(urls, not_tables),
            "ollama_host": st.one_of(urls, not_tables),
            "glyph": st.one_of(not_tables, st.fixed_dictionaries({"url": st.one_of(urls, numbers)})),
            "timeouts": st.one_of(not_tables, st.dictionaries(
                st.sampled_from(["connect", "first_byte", "read", "tool"]), numbers, max_size=4)),
            "context_lines": numbers,
            "max_context_tokens": numbers,
            "tools": st.one_of(not_tables, st.fixed_dictionaries({}, optional={"max_turns": numbers})),
        },
    )  # fmt: skip


option_tables = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(SCHEMA_KEYS), st.text(max_size=10)), values, max_size=6
    ),
    st.lists(values, max_size=3),  # a list: Lua sees numeric keys
    scalars,  # not a table at all
    targeted_options(url_strategy(["127.0.0.1", "[::1]", "x.invalid", "", "a b", "h_1"],
                                  [0, 1, 80, 8080, 65535, 65536, 99999])),
)  # fmt: skip

BUILD_LUA = r"""
local config = require('zeke.config')
local opts = ...
local ok, cfg, errors = pcall(config.build, opts)
if not ok then return { raised = tostring(cfg) } end
local invalid = {}
for key, spec in pairs(config.schema) do
  local ok2, good = pcall(spec.check, cfg[key])
  if not ok2 or not good then table.insert(invalid, key) end
end
-- what the host would be sent (config.for_host does this for the live config)
local host = {}
for key in pairs(config.schema) do
  if cfg[key] ~= nil and type(cfg[key]) ~= 'function' then host[key] = cfg[key] end
end
return { errors = errors, invalid = invalid, host = host }
"""


def _one_build() -> str:
    return nvim_path(STABLE)  # module-scoped sessions: no nvim_bin fixture


def _session(home: Path, config: dict[str, Any] | None = None, **kw: Any) -> NvimSession:
    """A Neovim for fuzzing. No UI is attached to answer a -- More -- prompt: a run of
    fuzzed config errors longer than the screen would wait for a key for ever (seen:
    an example with several bad keys hung the whole test), so messages just scroll;
    what they say is still read from :messages."""
    s = NvimSession(_one_build(), home, config, **kw)
    s.cmd("set nomore")
    return s


@pytest.fixture(scope="module")
def nvim_cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NvimSession]:
    s = _session(tmp_path_factory.mktemp("cfgfuzz"))
    yield s
    s.close()


def _named_keys(opts: Any) -> list[str]:
    if isinstance(opts, dict):
        return [str(k) for k in opts]
    if isinstance(opts, list):
        return [str(i + 1) for i in range(len(opts))]
    return []


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(opts=option_tables)
# Found by this fuzzer; kept as fixed examples so they are always tried:
@example(opts={"ui": None})  # vim.NIL unsets a key that has no nil form
@example(opts={"aliases": None, "alias": "mine"})  # config.build raised
@example(opts={"context_lines": math.inf})  # accepted by Lua, the host cannot take it
@example(opts={"tools": {"max_turns": math.inf}})
@example(opts={"ui": {"width": 160 / 3}})  # passed, then every command failed
@example(opts={"omen": {"budget_usd": math.nan, "k": math.inf}})  # every request failed
@example(opts={"api_base": "http://127.0.0.1:99999/v1"})  # "internal error (ExceptionGroup…)"
@example(opts={"glyph": {"url": "ws://127.0.0.1:70000"}})
def test_config_build_never_raises_and_every_error_names_its_key(nvim_cfg, opts) -> None:
    out = nvim_cfg.lua(BUILD_LUA, opts)
    assert "raised" not in out, f"config.build raised on {opts!r}: {out.get('raised')}"
    errors = out["errors"]
    keys = _named_keys(opts)
    for e in errors:
        assert e.startswith("zeke:") and "traceback" not in e.lower()
        if isinstance(opts, (dict, list)):  # the key, or one of its fields in full
            assert any(f"'{k}'" in e or f"'{k}." in e for k in keys), (
                f"{e!r} names none of {keys!r}"
            )
        else:
            assert "expects a table" in e
    # a bad value falls back to the default: the config in effect is always valid
    assert out["invalid"] == [], f"invalid after build: {out['invalid']} from {opts!r}"
    # …and whatever Lua lets through, the host can take
    try:
        taken = Settings.from_lua(out["host"])
    except Exception as e:  # a host crash on configure loses the session
        pytest.fail(f"Settings.from_lua raised {type(e).__name__}: {e} for opts {opts!r}")
    # the router gets JSON, which has no NaN or inf; every URL is one the client can open
    json.dumps(out["host"], allow_nan=False)
    assert taken.api_base == out["host"]["api_base"].rstrip("/"), opts
    assert taken.ollama_host == out["host"]["ollama_host"].rstrip("/"), opts
    glyph = out["host"].get("glyph")
    if isinstance(glyph, dict) and "url" in glyph:
        assert taken.glyph is not None and taken.glyph.get("url") == glyph["url"], opts
    width = out["host"]["ui"]["width"]
    assert 0 < width <= 1 or width == int(width), opts


# -- the HTTP client on arbitrary responses ---------------------------------------------

CONTENT_TYPES = [
    "text/event-stream",
    "application/json",
    "application/x-ndjson",
    "text/html; charset=utf-8",
    "text/plain",
    "",
    "application/problem+json",
]
BODY_ATOMS = [
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b"data: [DONE]\n\n",
    b'{"message":{"role":"assistant","content":"x"},"done":false}\n',
    b'{"done":true,"done_reason":"stop"}\n',
    b'{"error":{"message":"boom","type":"api_error","code":500}}',
    b'{"error":"model \\"x\\" not found, try pulling it first"}',
    b"<html><title>502 Bad Gateway</title></html>",
    b"Bearer sk-leakedkey123456 api_key=abcdef",
    b"\xff\xfe\x00",
    b": keepalive\n\n",
    b"\r\n",
]
bodies = st.lists(st.one_of(st.sampled_from(BODY_ATOMS), st.binary(max_size=24)), max_size=10)
statuses = st.one_of(
    st.sampled_from([200, 200, 200, 201, 204, 400, 401, 404, 408, 413, 429, 500, 502, 503, 504]),
    st.integers(min_value=100, max_value=599),
)
retry_after = st.one_of(
    st.none(),
    st.sampled_from(["5", "-1", "1e309", "nan", "soon", "Wed, 21 Oct 2015 07:28:00 GMT",
                     "Mon, 01 Jan 0001 00:00:00 +2359", "Fri, 31 Dec 9999 23:59:59 -2359"]),
    st.text(max_size=30),
)  # fmt: skip


class _Body(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes], drop: bool) -> None:
        self.chunks, self.drop = chunks, drop

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for c in self.chunks:
            yield c
        if self.drop:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


async def _drive(kind: str, status: int, ctype: str, chunks: list[bytes], drop: bool,
                 ra: str | None) -> list[Any]:  # fmt: skip
    def handler(request: httpx.Request) -> httpx.Response:
        headers: dict[str, bytes] = {"content-type": ctype.encode()} if ctype else {}
        if ra is not None:
            headers["retry-after"] = ra.encode()  # servers send raw bytes, not only ASCII
        return httpx.Response(status, headers=headers, stream=_Body(chunks, drop))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        opener = (
            client.open_openai_stream(http, "http://127.0.0.1:9/v1/chat/completions",
                                      {"model": "auto"}, {}, read_timeout=5.0)
            if kind == "sse"
            else client.open_ollama_stream(http, "http://127.0.0.1:9/api/chat",
                                           {"model": "m"}, read_timeout=5.0)
        )  # fmt: skip
        async with opener as opened:
            return [ev async for ev in opened.events]


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["sse", "ndjson"]),
    status=statuses,
    ctype=st.sampled_from(CONTENT_TYPES),
    chunks=bodies,
    drop=st.booleans(),
    ra=retry_after,
)
def test_client_ends_in_a_stream_or_a_clear_error_on_any_response(
    kind: str, status: int, ctype: str, chunks: list[bytes], drop: bool, ra: str | None
) -> None:
    try:
        events = anyio.run(_drive, kind, status, ctype, chunks, drop, ra)
    except ZekeError as e:
        assert e.message and "Traceback" not in e.message
        assert "sk-leakedkey123456" not in e.message  # key-like text in a body is masked
        assert not 200 <= status < 300, f"2xx raised instead of streaming: {e.message}"
        if e.retry_after is not None:
            assert math.isfinite(e.retry_after) and e.retry_after >= 0
        return
    assert 200 <= status < 300, f"{status} did not raise"
    assert isinstance(events[-1], End)
    json.dumps([repr(ev) for ev in events])  # every event can be shown and logged


# -- applying a change to arbitrary buffers --------------------------------------------

LINE = st.sampled_from(["a", "b", "c", "a ", "", "  a", "}", "\t", "é", "x" * 40])
LINES = st.lists(LINE, max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    original=LINES,
    proposed=LINES,
    buffer=st.lists(LINE, max_size=20),
    accepted=st.lists(st.integers(min_value=-3, max_value=12), max_size=5),
    kind=st.sampled_from(["selection", "file"]),
    hint=st.integers(min_value=-5, max_value=50),
    path=st.sampled_from([None, "/p/calc.py"]),
)
def test_apply_on_any_buffer_raises_nothing_but_zeke_error(
    original: list[str],
    proposed: list[str],
    buffer: list[str],
    accepted: list[int],
    kind: str,
    hint: int,
    path: str | None,
) -> None:
    prop = changes.Proposal(
        id="p1",
        kind=kind,
        path=path,
        original=original,
        proposed=proposed,
        hunks=diffing.compute_hunks(original, proposed),
        hint=hint,
        create=kind == "file" and not original,
    )
    try:
        applied = changes.apply(prop, buffer, accepted)
    except ZekeError as e:
        assert e.message and e.kind in ("refused", "internal")
        return
    assert 0 <= applied.start <= applied.end <= len(buffer)
    assert all(isinstance(x, str) for x in applied.lines)
    if original:  # it landed on the original (trailing blanks may differ: loose match)
        got = [s.rstrip() for s in buffer[applied.start : applied.end]]
        assert got == [s.rstrip() for s in original]
    text = changes.whole_text(buffer, applied)
    assert isinstance(text, str)


# -- text from the router through every place zeke draws it ------------------------------

PWN = "let g:pwned = 1"
HOSTILE_ATOMS = [
    "%{execute('" + PWN + "')}", "%!execute('" + PWN + "')", "%{%execute('" + PWN + "')%}",
    "%{%v:lua.vim.cmd('" + PWN + "')%}", "%#ErrorMsg#", "%=", "%<", "%1*", "%", "%%", "}",
    "\n", "\r\n", "\t", "\x00", "\x1b[2J", "\x1b]0;t\x07", "\x7f", "\x9b31m", "'", '"', "\\",
    "|", "<CR>", "gpt-5-codex", "@", "→", "✓", "x" * 60,
]  # fmt: skip
hostile = st.one_of(
    st.lists(st.sampled_from(HOSTILE_ATOMS), min_size=1, max_size=5).map("".join),
    st.text(max_size=20),
)
optional_hostile = st.one_of(st.none(), hostile)

# A request as commands.ask makes it; the router's words arrive through the bridge
# (the host's only way in), then every sink draws them. Each sink under pcall: the
# test reports which one raised.
RENDER_LUA = r"""
local model, provider, alias, err = ...
local function opt(v) if v == vim.NIL then return nil end return v end
vim.g.pwned = nil
vim.cmd("silent! only | messages clear")
local requests, bridge, picker = require("zeke.requests"), require("zeke.bridge"), require("zeke.picker")
local host = require("zeke.host")
local out = { errors = {}, shown = {} }
local function try(name, fn)
  local ok, e = pcall(fn)
  if not ok then table.insert(out.errors, name .. ": " .. tostring(e)) end
end
local id = "fuzz-" .. tostring(vim.uv.hrtime())
try("request", function()
  local req = { id = id, command = "ZekeExplain", intent = "reason", started = vim.uv.hrtime(),
    source = { buf = vim.api.nvim_get_current_buf(), start_line = 1, end_line = 1, text = { "" } } }
  requests.add(req)
  require("zeke.scratch").open(req)
end)
local forms = {
  format_item = "%{%v:lua.require'zeke'.statusline()%}",
  whole_line = "%!v:lua.require'zeke'.statusline()",
  lualine = "%{%luaeval(\"require'lualine.components.zeke'()\")%}",
  expression = "%{v:lua.require'zeke'.statusline()}",
}
local function draw(phase)
  vim.cmd("tabnew") -- a tab page without the answer: its statusline carries the badge
  for name, fmt in pairs(forms) do
    try(phase .. " statusline " .. name, function()
      vim.o.statusline = fmt
      vim.cmd("redrawstatus!")
      vim.cmd("redraw!")
      out.shown[phase .. " " .. name] = vim.api.nvim_eval_statusline(fmt, { maxwidth = 10000 }).str
    end)
  end
  vim.cmd("tabclose")
  try(phase .. " winbar", function()
    local r = requests.get(id)
    local win = vim.fn.bufwinid(r.buf)
    out.shown[phase .. " winbar"] = vim.api.nvim_eval_statusline(vim.wo[win].winbar,
      { winid = win, maxwidth = 10000, use_winbar = true }).str
  end)
end
try("meta", function()
  bridge.dispatch({ { "meta", id, { alias = opt(alias), model = opt(model), provider = opt(provider) } },
                    { "text", id, "partial" } })
end)
draw("streaming")
try("done", function()
  bridge.dispatch({ { "done", id, { state = "error", error = opt(err) or "zeke: failed" } } })
end)
draw("done")

-- :ZekeModel, :ZekeStats and :ZekeAudit with the host's answers carrying the same words
local real_call, real_select = host.call, vim.ui.select
local summary = { last_model = opt(model), requests = 3, median_ttfb_ms = 12, success_rate = 0.5, avg_cost_usd = 0.01 }
local answers = {
  aliases = { project = opt(provider) or "p", current = opt(alias) or "auto", aliases = {
    { name = opt(alias) or "auto", model = opt(model), provider = opt(provider), summary = summary },
    { name = "code-fast", model = opt(model), summary = vim.NIL } } },
  stats = { project = opt(alias) or "p", rows = { { alias = opt(alias), model = opt(model),
    provider = opt(provider), requests = 2, success_rate = 1, median_ttfb_ms = 5, p95_ttfb_ms = 9,
    tokens_in = 10, tokens_out = 20, cost_usd = 0.5, cost_unknown = 1, degraded = true } } },
  audit = { project = "p", rows = { { created_at = 0, tool = opt(model), decision = opt(provider),
    result_status = opt(alias), duration_ms = 3, detail = opt(err), args_digest = opt(alias) } } },
}
host.call = function(method, _, cb) cb(answers[method] or {}, nil) end
vim.ui.select = function(items, opts, on_choice)
  out.picker = { prompt = opts.prompt, items = {} }
  for i, item in ipairs(items) do out.picker.items[i] = opts.format_item(item) end
  on_choice(nil)
end
try("ZekeModel", function() picker.run(nil) end)
for _, what in ipairs({ "stats", "audit" }) do
  try("Zeke" .. what, function()
    picker[what](false)
    out[what] = vim.api.nvim_buf_get_lines(vim.fn.bufnr("zeke: " .. what), 0, -1, false)
  end)
end
host.call, vim.ui.select = real_call, real_select
vim.cmd("redraw!")
out.pwned = vim.g.pwned or vim.NIL
out.messages = vim.api.nvim_exec2("messages", { output = true }).output
return out
"""


def _one_line(s: str) -> str:
    """What zeke.util.one_line makes of a string (control characters → spaces)."""
    return re.sub(r"[\x00-\x1f\x7f\x80-\x9f]", " ", s)


@pytest.fixture(scope="module")
def nvim_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NvimSession]:
    s = _session(tmp_path_factory.mktemp("uifuzz"))
    s.cmd("set laststatus=2 columns=200")
    s.open_file(s.home / "calc.py", "x = 1\n")
    yield s
    s.close()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(model=optional_hostile, provider=optional_hostile, alias=optional_hostile, err=hostile)
@example(model="%{execute('let g:pwned = 1')}", provider="%!execute('let g:pwned = 1')",
         alias="a\nb", err="\x00")  # fmt: skip
def test_router_text_in_every_sink_is_shown_never_run(nvim_ui, model, provider, alias, err):
    out = nvim_ui.lua(RENDER_LUA, model, provider, alias, err)
    assert out["errors"] == [], out["errors"]
    assert out["pwned"] is None, f"evaluated: {model!r} {provider!r} {alias!r}"
    assert "internal error" not in out["messages"] and "E5108" not in out["messages"]
    printable = all(c.isascii() and (c.isprintable() or c in "\n\r\t\x00\x1b\x7f") for c in
                    (model or "") + (provider or ""))  # fmt: skip
    if model and printable and model.strip():  # Neovim draws other characters as <xx>
        for where, text in out["shown"].items():
            if "expression" not in where:  # `%{…}` shows the escaped text as it is
                assert _one_line(model.strip()) in text, (where, text)
        # :ZekeStats cuts a long name at 40 cells with "…": its start is there
        assert any(_one_line(model.strip())[:19] in line for line in out["stats"])
    drawn = [*out["stats"], *out["audit"], out["picker"]["prompt"], *out["picker"]["items"]]
    assert len(out["picker"]["items"]) == 2
    for line in drawn:
        assert "\n" not in line and "\r" not in line and "\x00" not in line, line


# -- any setup(), then a command: it ends, with no traceback -----------------------------

COMMAND_LUA = r"""
local opts, command = ...
-- back to the code (ui.focus may have left the cursor in an answer window)
vim.cmd("silent! tabonly | silent! only | silent! buffer calc.py | messages clear")
local before = require("zeke").last()
local ok, err = pcall(require("zeke").setup, opts)
if not ok then return { raised = tostring(err) } end
vim.cmd("1" .. command)
local last = require("zeke").last()
local cfg = require("zeke.config").get()
local quick = false
for _, t in pairs(cfg.timeouts) do quick = quick or t < 1 end
return { started = last ~= nil and (before == nil or last.id ~= before.id),
         api_base = cfg.api_base, quick = quick, glyph = cfg.glyph ~= nil }
"""


@pytest.fixture(scope="module")
def omen_fuzz() -> Iterator[Any]:
    from fakes import omen as fo

    server = fo.FakeOmen("designed").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nvim_cmd(omen_fuzz, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NvimSession]:
    home = tmp_path_factory.mktemp("cmdfuzz")
    # a rejected api_base / ollama_host falls back to these: the fake, and a closed port
    env = {"ZEKE_API_BASE": omen_fuzz.url, "OLLAMA_HOST": "127.0.0.1:1"}
    s = _session(home, {"fallback": False}, env=env)
    s.cmd(f"cd {home}")
    s.open_file(home / "calc.py", "def total(xs):\n    return sum(xs)\n")
    yield s
    s.close()


# only loopback hosts that can be contacted: port 1 is closed (a rejected URL falls
# back to the fake, through $ZEKE_API_BASE)
LOOPBACK_URLS = url_strategy(["127.0.0.1", "[::1]", "", "a b"], [0, 1, 65536, 99999])


def _strict_json(raw: bytes) -> Any:
    """Parse as a strict JSON parser (the router's) does: NaN and Infinity are errors."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw, parse_constant=refuse)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    opts=st.one_of(targeted_options(LOOPBACK_URLS), not_tables),
    command=st.sampled_from(["ZekeExplain", "ZekeRefactor"]),
)
# Each once passed validation and then broke every command:
@example(opts={"ui": {"width": 160 / 3}}, command="ZekeExplain")  # traceback, stuck "streaming"
@example(opts="a string", command="ZekeExplain")  # a raw Lua error, then on every command
@example(opts={"omen": {"budget_usd": math.nan}}, command="ZekeExplain")  # JSON the router refuses
@example(opts={"api_base": "http://127.0.0.1:99999/v1"}, command="ZekeExplain")  # internal error
def test_any_setup_then_a_command_ends_without_a_traceback(nvim_cmd, omen_fuzz, opts, command):
    seen = len(omen_fuzz.requests)
    out = nvim_cmd.lua(COMMAND_LUA, opts, command)
    assert "raised" not in out, f"setup() raised on {opts!r}: {out.get('raised')}"
    assert out["started"], "the command did not start a request"
    last = nvim_cmd.wait_done(timeout=30)  # always a final state, never "streaming"
    assert last["state"] in ("done", "error", "cancelled"), last
    if out["api_base"] == omen_fuzz.url and not out["quick"] and not out["glyph"]:
        # an accepted config and a router that answers: the answer arrives
        assert last["state"] == "done", f"setup({opts!r}): {last.get('error')}"
    said = nvim_cmd.messages()
    for bad in ("Traceback", "stack traceback", "internal error", "E5108"):
        assert bad not in said, f"{bad!r} after setup({opts!r}):\n{said}"
    for rec in omen_fuzz.requests[seen:]:
        if rec.method == "POST":
            _strict_json(rec.raw)  # what reached the router, a real one can read
