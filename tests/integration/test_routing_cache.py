"""Routing facts, the SQLite cache, the badge and the model switcher, end to end in a
real headless Neovim with the real host, against the fake OMEN in both personalities.

What a user sees (badge, last(), picker lines, :ZekeStats, messages) is checked
together with what lands in the database, read back with sqlite3.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

import kit
from fakes import omen as fo
from fakes.serving import Recorded, Reply, json_reply, text_reply
from nvimharness import db_rows, ended, one_build, wait_for, wait_rows

SOURCE = "def total(xs):\n    return sum(xs)\n"

# Tests that do not depend on the Neovim build run on one (@one_build);
# the central ones run on every build.

RATE_LIMITED = {"error": {"message": "Rate limit exceeded", "type": "api_error", "code": 429}}


# Fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "zeke.db"


start = functools.partial(kit.start, text=SOURCE)


def ask(nv, command: str = "1ZekeExplain") -> dict[str, Any]:
    nv.cmd(command)
    return nv.wait_done()


def query(db: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows as dicts; [] while the engine has not created the file or table yet."""
    return [dict(r) for r in db_rows(db, sql, *params)]


def stats_rows(db: Path, n: int) -> list[dict[str, Any]]:
    """routing_stats, once it has n rows (the engine writes asynchronously); exactly n."""
    rows = [dict(r) for r in wait_rows(db, n, "SELECT * FROM routing_stats ORDER BY id")]
    assert len(rows) == n, rows
    return rows


def trace_rows(db: Path) -> list[dict[str, Any]]:
    return query(db, "SELECT * FROM routing_trace ORDER BY id")


def prefs_row(db: Path, project: str = "grim") -> dict[str, Any] | None:
    rows = query(db, "SELECT * FROM routing_prefs WHERE project = ?", project)
    return rows[0] if rows else None


def usage(tokens_in: int, tokens_out: int, **extra: Any) -> dict[str, Any]:
    return {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
        **extra,
    }


def fmt_ms(ms: float) -> str:
    """The badge's latency text, written out independently."""
    if ms >= 10000:
        return f"{ms / 1000:.0f}s"
    if ms >= 1000:
        return f"{ms / 1000:.1f}s"
    return f"{int(ms)}ms"


def wait_message(nv, text: str, timeout: float = 10.0) -> str:
    return wait_for(
        lambda: (lambda m: m if text in m else None)(nv.messages()),
        timeout=timeout,
        message=f"a message containing {text!r}",
    )


def unpriced(server: fo.FakeOmen, model_id: str) -> None:
    """Drop a model's pricing from /v1/models (before the host fetches it)."""
    server.models = [
        {k: v for k, v in m.items() if k != "pricing"} if m["id"] == model_id else m
        for m in server.models
    ]


def prices_loaded(nv, server) -> None:
    """Start the host and wait until its background /v1/models fetch was answered,
    then for one round trip through the host's loop (which parses it first)."""
    nv.lua("require('zeke.host').ensure()")
    rec = wait_for(
        lambda: next(
            (r for r in list(server.requests) if r.method == "GET" and "/models" in r.path), None
        ),
        message="the /v1/models fetch",
    )
    wait_for(rec.finished.is_set, message="the /v1/models answer")
    nv.lua(
        "_G.zeke_rt = nil; require('zeke.host').call('stats', { cwd = vim.fn.getcwd() },"
        " function() _G.zeke_rt = true end)"
    )
    wait_for(lambda: nv.lua("return _G.zeke_rt"), message="a host round trip")


# The designed OMEN: headers say who answered -------------------------------------------


def test_designed_router_facts_reach_badge_last_and_database(make_nvim, omen, project, db):
    omen.queue(
        fo.stream(
            "Sums the list.",
            first_byte_delay=0.3,
            usage=usage(900, 120),
            headers={"X-OMEN-Cost-Est": "0.0421", "x-OmEn-Region": "eu-west"},
        )
    )
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db)
    nv.lua(
        "_G.status_events = 0; vim.api.nvim_create_autocmd('User', { pattern = 'ZekeStatus',"
        " callback = function() _G.status_events = _G.status_events + 1 end })"
    )
    nv.cmd("1ZekeExplain")
    # streaming: the marker and the alias, no cost yet (the router holds the first byte)
    wait_for(lambda: nv.badge() == "zeke … code-smart", message="the streaming badge")
    last = nv.wait_done()

    assert last["state"] == "done", last
    assert (last["alias"], last["model"], last["provider"]) == (
        "code-smart",
        "gpt-5-codex",
        "azure",
    )
    assert last["cost_usd"] == pytest.approx(0.0421)
    assert (last["tokens_in"], last["tokens_out"]) == (900, 120)
    assert last["over_budget"] is False and last["degraded"] is False
    assert 0 <= last["ttfb_ms"] <= last["latency_ms"]
    assert last["ttfb_ms"] >= 250  # the router held the first byte back 0.3 s

    expected = f"zeke ✓ code-smart→gpt-5-codex @azure $0.04 {fmt_ms(last['latency_ms'])}"
    assert nv.badge() == expected
    # lualine's component renders the same badge (a plain function without lualine),
    # where the answer is not on screen (there its winbar has it)
    nv.cmd("tabnew")
    assert nv.lua("return require('lualine.components.zeke')()") == expected
    nv.cmd("tabclose")
    status = nv.lua("return vim.g.zeke_status")
    assert status["state"] == "done" and status["model"] == "gpt-5-codex"
    assert status["cost_usd"] == pytest.approx(0.0421) and status["tokens_out"] == 120
    assert nv.lua("return _G.status_events") >= 2

    (row,) = stats_rows(db, 1)
    assert row["request_id"] == last["id"] and row["project"] == "grim"
    assert (row["alias"], row["model"], row["provider"]) == ("code-smart", "gpt-5-codex", "azure")
    assert (row["intent"], row["size_hint"]) == ("reason", "tiny")
    assert (row["tokens_in"], row["tokens_out"]) == (900, 120)
    assert (row["ttfb_ms"], row["latency_ms"]) == (last["ttfb_ms"], last["latency_ms"])
    assert row["cost_usd"] == pytest.approx(0.0421)
    assert (row["success"], row["over_budget"], row["degraded"], row["error"]) == (1, 0, 0, None)

    (trace,) = trace_rows(db)
    assert (trace["request_id"], trace["project"]) == (last["id"], "grim")
    facts = json.loads(trace["trace"])
    assert facts["x-omen-provider"] == "azure" and facts["x-omen-model"] == "gpt-5-codex"
    assert facts["x-omen-latency-ms"] == "42" and facts["x-omen-cost-est"] == "0.0421"
    assert facts["x-omen-routing-reason"] == "alias code-smart"
    assert facts["x-omen-trace-id"].startswith("trace-")
    assert facts["x-omen-trace-strategy"] == "single"
    assert facts["x-omen-region"] == "eu-west"  # sent as x-OmEn-Region
    assert set(facts) == {
        "x-omen-provider",
        "x-omen-model",
        "x-omen-latency-ms",
        "x-omen-cost-est",
        "x-omen-routing-reason",
        "x-omen-trace-id",
        "x-omen-trace-strategy",
        "x-omen-region",
    }


# Today's OMEN: no headers, prices from /v1/models ----------------------------------------


@one_build
def test_today_router_cost_from_prices_unknown_or_local(make_nvim, today_omen, project, db):
    today_omen.models.append({"id": "gpt-unpriced", "object": "model", "provider": "openai"})
    unpriced(today_omen, "deepseek-coder:14b")  # local is $0 without any price
    nv = start(
        make_nvim,
        today_omen,
        project,
        {
            "alias": "code-smart",
            "aliases": {"cloud-x": {"provider": "openai", "model": "gpt-unpriced"}},
        },
        db=db,
    )
    prices_loaded(nv, today_omen)

    # 1. a priced cloud model: tokens × the listed prices
    today_omen.queue(fo.stream("priced", usage=usage(1000, 2000)))
    first = ask(nv)
    assert first["state"] == "done", first
    assert (first["model"], first["provider"]) == ("gpt-5-codex", "azure")
    price_in, price_out = 0.00125, 0.01  # what the fake lists for gpt-5-codex
    assert first["cost_usd"] == pytest.approx(1000 / 1000 * price_in + 2000 / 1000 * price_out)
    # today's OMEN cannot resolve the alias: zeke asked for its model, and says so
    assert " code-smart⇢gpt-5-codex @azure $0.02 " in nv.badge()

    # 2. a cloud model without a price: unknown, never $0
    nv.cmd("ZekeModel cloud-x")
    wait_message(nv, "now uses cloud-x")
    today_omen.queue(fo.stream("unpriced", usage=usage(1000, 2000)))
    second = ask(nv)
    assert second["state"] == "done", second
    assert (second["model"], second["provider"]) == ("gpt-unpriced", "openai")
    assert second.get("cost_usd") is None
    assert " cloud-x⇢gpt-unpriced @openai $? " in nv.badge() and "$0" not in nv.badge()

    # 3. an Ollama alias, the chunks echoing "auto": the alias's model, $0
    nv.cmd("ZekeModel code-fast")
    wait_message(nv, "now uses code-fast")
    today_omen.queue(fo.stream("local", model="auto"))
    third = ask(nv)
    assert third["state"] == "done", third
    assert (third["model"], third["provider"], third["cost_usd"]) == (
        "deepseek-coder:14b",
        "ollama",
        0,
    )
    assert " code-fast⇢deepseek-coder:14b @ollama $0 " in nv.badge()

    rows = stats_rows(db, 3)
    assert [(r["alias"], r["model"], r["provider"]) for r in rows] == [
        ("code-smart", "gpt-5-codex", "azure"),
        ("cloud-x", "gpt-unpriced", "openai"),
        ("code-fast", "deepseek-coder:14b", "ollama"),
    ]
    assert rows[0]["cost_usd"] == pytest.approx(first["cost_usd"])
    assert rows[1].get("cost_usd") is None and rows[2]["cost_usd"] == 0
    assert all(r["success"] == 1 for r in rows)
    # no routing facts came back: the trace holds only zeke's own retry with the model
    assert [json.loads(t["trace"]) for t in trace_rows(db)] == [
        {"retried_as": "gpt-5-codex"},
        {"retried_as": "gpt-unpriced"},
        {"retried_as": "deepseek-coder:14b"},
    ]

    # 4. "auto": today's router cannot resolve it (500), zeke retries with a concrete
    # model; nothing names the provider but /v1/models does, so the badge shows it
    nv.cmd("ZekeModel auto")
    wait_message(nv, "now uses auto")
    fourth = ask(nv)
    assert fourth["state"] == "done", fourth
    sent = [r.body["model"] for r in today_omen.chat_requests()[-2:]]
    assert sent == ["auto", fourth["model"]] and fourth["model"] != "auto"
    listed = {m["id"]: m.get("provider") for m in today_omen.models}
    assert fourth["provider"] == listed[fourth["model"]]
    # the project remembers the last concrete model that answered
    wait_for(lambda: _last_model(db) == fourth["model"], message="routing_prefs.last_model")


@one_build
def test_body_routing_metadata_and_usage_cost_stand_in_for_headers(
    make_nvim, today_omen, project, db
):
    nv = start(make_nvim, today_omen, project, {"alias": "code-smart"}, db=db)
    prices_loaded(nv, today_omen)
    metadata = {
        "provider": "anthropic",
        "model_used": "claude-3-5-sonnet",
        "latency_ms": 77,
        "cost_usd": 0.031,
        "routing_reason": "cheapest strong model",
    }
    today_omen.queue(
        fo.stream("from metadata", routing_metadata=metadata, usage=usage(10, 5, cost=0.5)),
        fo.stream("from usage.cost", usage=usage(10, 5, cost=0.0777)),
    )
    first = ask(nv)
    assert first["state"] == "done", first
    # routing_metadata beats usage.cost, the chunk's model and the alias
    assert (first["model"], first["provider"]) == ("claude-3-5-sonnet", "anthropic")
    assert first["cost_usd"] == pytest.approx(0.031)
    assert " code-smart⇢gpt-5-codex→claude-3-5-sonnet @anthropic $0.03 " in nv.badge()

    second = ask(nv)
    assert second["state"] == "done", second
    # usage.cost beats the listed prices (10 in / 5 out would cost far less)
    assert second["cost_usd"] == pytest.approx(0.0777)
    assert (second["model"], second["provider"]) == ("gpt-5-codex", "azure")

    rows = stats_rows(db, 2)
    assert rows[0]["model"] == "claude-3-5-sonnet" and rows[0]["cost_usd"] == pytest.approx(0.031)
    assert rows[1]["model"] == "gpt-5-codex" and rows[1]["cost_usd"] == pytest.approx(0.0777)
    # the metadata counts as routing facts: traced; the plain answer is not
    # and zeke's own retry with the alias's model (today's OMEN cannot resolve it)
    traced = {t["request_id"]: json.loads(t["trace"]) for t in trace_rows(db)}
    assert traced[first["id"]]["routing_metadata"] == metadata
    assert traced == {
        first["id"]: {"routing_metadata": metadata, "retried_as": "gpt-5-codex"},
        second["id"]: {"retried_as": "gpt-5-codex"},
    }


@one_build
def test_headers_win_over_body_per_field(make_nvim, omen, project, db):
    unpriced(omen, "gpt-5-codex")
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db)
    metadata = {"provider": "anthropic", "model_used": "claude-3-5-sonnet", "cost_usd": 0.9}
    omen.queue(
        fo.stream(
            "both",
            routing_metadata=metadata,
            usage=usage(10, 5, cost=0.8),
            headers={"X-OMEN-Cost-Est": "0.0123"},
        ),
        # an unusable header cost: the next source (the body) takes over for that field only
        fo.stream(
            "bad header cost",
            routing_metadata=metadata,
            headers={"X-OMEN-Cost-Est": "NaN"},
        ),
    )
    first = ask(nv)
    assert (first["model"], first["provider"]) == ("gpt-5-codex", "azure")
    assert first["cost_usd"] == pytest.approx(0.0123)
    second = ask(nv)
    assert (second["model"], second["provider"]) == ("gpt-5-codex", "azure")
    assert second["cost_usd"] == pytest.approx(0.9)
    assert " code-smart→gpt-5-codex @azure $0.90 " in nv.badge()
    rows = stats_rows(db, 2)
    assert [r["cost_usd"] for r in rows] == [pytest.approx(0.0123), pytest.approx(0.9)]


@one_build
def test_bad_header_values_give_a_sensible_badge_and_null_cost(make_nvim, omen, project, db):
    unpriced(omen, "gpt-5-codex")  # no next source for the cost: it must stay unknown
    bad = [
        {"X-OMEN-Latency-Ms": "-5", "X-OMEN-Cost-Est": "NaN"},
        {"X-OMEN-Cost-Est": "garbage$$", "X-OMEN-Provider": "", "X-OMEN-Latency-Ms": "soon"},
        {"X-OMEN-Cost-Est": "-0.5", "X-OMEN-Model": "auto"},
        {"X-OMEN-Cost-Est": "1e308", "X-OMEN-Model": "   "},
        {"X-OMEN-Cost-Est": "inf", "X-OMEN-Latency-Ms": "1e300"},
    ]
    omen.queue(*(fo.stream("ok", headers=h) for h in bad))
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db)
    results = [ask(nv) for _ in bad]
    for headers, last in zip(bad, results, strict=True):
        assert last["state"] == "done", (headers, last)
        # unusable provider/model headers fall through to the chunk / alias
        assert (last["model"], last["provider"]) == ("gpt-5-codex", "azure"), headers
        assert last.get("cost_usd") is None, headers
        assert 0 <= last["latency_ms"] < 60_000
    text = nv.badge()
    assert text.startswith("zeke ✓ code-smart→gpt-5-codex @azure $? "), text
    assert "$0" not in text and "nan" not in text.lower() and "inf" not in text.lower()
    rows = stats_rows(db, len(bad))
    for row in rows:
        assert row.get("cost_usd") is None and row["success"] == 1
        assert row["latency_ms"] is not None and 0 <= row["latency_ms"] < 60_000
        assert (row["model"], row["provider"]) == ("gpt-5-codex", "azure")
    # the trace keeps what the router actually said
    traces = [json.loads(t["trace"]) for t in trace_rows(db)]
    assert len(traces) == len(bad)
    assert traces[0]["x-omen-latency-ms"] == "-5" and traces[0]["x-omen-cost-est"] == "NaN"
    assert traces[1]["x-omen-cost-est"] == "garbage$$"
    assert "Traceback" not in nv.messages()


class _ModelsOmen(fo.FakeOmen):
    """Today's OMEN whose /v1/models answers ``models_reply`` (when set) instead:
    a proxy without the endpoint (bare 404), a login page (HTML), a router starting up."""

    def __init__(self, models_reply: Reply | None) -> None:
        super().__init__("today")
        self.models_reply = models_reply

    def route(self, rec: Recorded) -> Reply:
        reply = self.models_reply
        if reply is not None and rec.method == "GET" and rec.path.startswith("/v1/models"):
            return reply
        return super().route(rec)


@one_build
@pytest.mark.parametrize(
    "models_reply",
    [
        lambda: Reply(status=404, chunked=False),
        lambda: text_reply(200, "<!doctype html><title>Login</title><p>sign in", "text/html"),
        lambda: json_reply(200, {"object": "list", "data": "nope"}),
    ],
    ids=["404", "html", "wrong-shape"],
)
def test_models_endpoint_missing_or_html_means_unknown_cost(make_nvim, project, db, models_reply):
    server = _ModelsOmen(models_reply()).start()
    try:
        # the alias is named like the model: without a model list, an opaque 500
        # says nothing about the name, so zeke would show it rather than retry
        only = {"gpt-5-codex": {"provider": "azure", "model": "gpt-5-codex"}}
        nv = start(make_nvim, server, project, {"alias": "gpt-5-codex", "aliases": only}, db=db)
        prices_loaded(nv, server)
        server.queue(fo.stream("still answers", usage=usage(1000, 2000)))
        last = ask(nv)
        assert last["state"] == "done", last
        assert last["text"] == "still answers" and last["model"] == "gpt-5-codex"
        assert last.get("cost_usd") is None
        assert " $? " in nv.badge()
        (row,) = stats_rows(db, 1)
        assert row.get("cost_usd") is None and row["success"] == 1
        assert "Traceback" not in nv.messages() and "internal error" not in nv.messages()
    finally:
        server.stop()


@one_build
def test_price_list_is_fetched_again_after_a_failed_fetch(make_nvim, project, db):
    # The router was still starting when Neovim fetched its prices.
    starting = fo.error(503, {"error": {"message": "No providers available", "code": 503}})
    server = _ModelsOmen(starting).start()
    try:
        nv = start(make_nvim, server, project, {"alias": "code-smart"}, db=db)
        prices_loaded(nv, server)
        assert ask(nv).get("cost_usd") is None
        server.models_reply = None  # the router is up now

        def priced() -> dict[str, Any] | None:
            last = ask(nv)
            return last if last.get("cost_usd") is not None else None

        # not for the rest of the session: a later request is priced again
        last = wait_for(priced, timeout=8, interval=0.2, message="a request priced again")
        price_in, price_out = 0.00125, 0.01  # what the fake lists for gpt-5-codex
        expected = last["tokens_in"] / 1000 * price_in + last["tokens_out"] / 1000 * price_out
        assert last["cost_usd"] == pytest.approx(expected)
    finally:
        server.stop()


# Prefs: budget, prefer_local, omen.budget_usd ---------------------------------------------


def _set_prefs(db: Path, prefer_local: int, cents: int | None) -> None:
    conn = sqlite3.connect(db, timeout=5)
    try:
        with conn:
            conn.execute(
                "INSERT INTO routing_prefs(project, prefer_local, max_cloud_cost_cents, updated_at,"
                " prefer_local_set) VALUES ('grim', ?, ?, ?, 1) ON CONFLICT(project) DO UPDATE SET"
                " prefer_local = excluded.prefer_local, prefer_local_set = 1,"
                " max_cloud_cost_cents = excluded.max_cloud_cost_cents",
                (prefer_local, cents, int(time.time())),
            )
    finally:
        conn.close()


@one_build
def test_project_prefs_flag_over_budget_and_hint_the_router(make_nvim, omen, project, db):
    nv = start(
        make_nvim, omen, project, {"alias": "code-smart", "omen": {"strategy": "single"}}, db=db
    )
    ask(nv)  # creates the cache
    stats_rows(db, 1)
    _set_prefs(db, prefer_local=1, cents=3)

    omen.queue(
        fo.stream("pricey", headers={"X-OMEN-Cost-Est": "0.05"}),
        fo.stream("cheap", headers={"X-OMEN-Cost-Est": "0.02"}),
    )
    over = ask(nv)
    assert over["state"] == "done" and over["over_budget"] is True
    text = nv.badge()
    assert "$0.05!" in text and text.endswith("over budget"), text
    body = omen.chat_requests()[-1].body
    assert body["tags"]["prefer_local"] == "true"
    assert body["omen"] == {"strategy": "single", "budget_usd": 0.03}

    under = ask(nv)
    assert under["over_budget"] is False
    assert "over budget" not in nv.badge() and "!" not in nv.badge()

    rows = stats_rows(db, 3)
    assert [r["over_budget"] for r in rows[1:]] == [1, 0]

    # prefer_local off (chosen: cloud): the hint says so
    _set_prefs(db, prefer_local=0, cents=3)
    ask(nv)
    assert omen.chat_requests()[-1].body["tags"]["prefer_local"] == "false"

    # prefer_local on, but a large request: no hint either
    _set_prefs(db, prefer_local=1, cents=3)
    # its forecast is over the 3¢ cap: the budget guard asks first (send anyway)
    nv.lua(
        "vim.ui.select = function(items, _, cb) vim.schedule(function() cb(items[1], 1) end) end"
    )
    big = "".join(f"value_{i:05d} = {i} * 2  # filler line\n" for i in range(1500))
    nv.open_file(project / "big.py", big)
    ask(nv, "%ZekeExplain")
    tags = omen.chat_requests()[-1].body["tags"]
    assert tags["size_hint"] == "large" and "prefer_local" not in tags


@one_build
def test_budget_is_not_sent_without_an_omen_config_and_never_replaces_one(
    make_nvim, omen, project, db
):
    plain = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db)
    ask(plain)
    stats_rows(db, 1)
    _set_prefs(db, prefer_local=1, cents=7)
    ask(plain)
    assert "omen" not in omen.chat_requests()[-1].body  # no omen object the user didn't ask for
    configured = start(
        make_nvim,
        omen,
        project,
        {"alias": "code-smart", "omen": {"strategy": "race", "budget_usd": 0.5}},
        db=db,
    )
    ask(configured)
    assert omen.chat_requests()[-1].body["omen"] == {"strategy": "race", "budget_usd": 0.5}


# Sessions and two editors on one database ---------------------------------------------------


@one_build
def test_two_neovims_share_the_database_without_losing_rows(make_nvim, omen, project, db):
    a = start(make_nvim, omen, project, db=db)
    b = start(make_nvim, omen, project, db=db)
    ids: dict[str, list[str]] = {"a": [], "b": []}
    for _ in range(4):
        a.cmd("1ZekeExplain")
        b.cmd("1ZekeExplain")
        for name, nv in (("a", a), ("b", b)):
            last = nv.wait_done()
            assert last["state"] == "done", last
            ids[name].append(last["id"])
    rows = stats_rows(db, 8)
    assert sorted(r["request_id"] for r in rows) == sorted(ids["a"] + ids["b"])
    # one X-Zeke-Session per Neovim: the same for all of one editor's requests
    sessions = {
        name: {
            r.headers["x-zeke-session"]
            for r in omen.chat_requests()
            if r.headers["x-request-id"] in wanted
        }
        for name, wanted in ids.items()
    }
    assert len(sessions["a"]) == 1 and len(sessions["b"]) == 1
    assert sessions["a"] != sessions["b"] and all(sessions["a"] | sessions["b"])


# The model switcher and :ZekeStats ---------------------------------------------------------

CAPTURE_SELECT = """
_G.picked = nil
vim.ui.select = function(items, opts, on_choice)
  local lines, names = {}, {}
  for i, item in ipairs(items) do
    lines[i] = opts.format_item(item)
    names[i] = item.name
  end
  _G.picked = { names = names, lines = lines, prompt = opts.prompt }
  for i, item in ipairs(items) do
    if item.name == _G.choose then
      return on_choice(item, i)
    end
  end
  on_choice(nil, nil)
end
"""


def picker(nv, choose: str | None) -> dict[str, Any]:
    nv.lua("_G.choose = ...", choose)
    nv.cmd("ZekeModel")
    return wait_for(lambda: nv.lua("return _G.picked"), message="vim.ui.select to be called")


def test_model_picker_shows_what_the_cache_knows_and_drives_the_next_request(
    make_nvim, omen, project, db
):
    nv = start(make_nvim, omen, project, db=db)
    nv.lua(CAPTURE_SELECT)
    # set directly, with completion
    assert nv.lua("return vim.fn.getcompletion('ZekeModel c', 'cmdline')") == [
        "code-fast",
        "code-plus",
        "code-smart",
    ]
    assert "auto" in nv.lua("return vim.fn.getcompletion('ZekeModel ', 'cmdline')")
    nv.cmd("ZekeModel code-smart")
    wait_message(nv, "grim now uses code-smart")
    assert wait_for(lambda: (prefs_row(db) or {}).get("last_alias") == "code-smart")

    omen.queue(
        fo.stream("one", usage=usage(100, 10), headers={"X-OMEN-Cost-Est": "0.02"}),
        fo.error(429, RATE_LIMITED, headers={"X-OMEN-Routing-Reason": "budget exhausted"}),
        fo.stream("two", usage=usage(300, 30), headers={"X-OMEN-Cost-Est": "0.04"}),
    )
    results = [ask(nv) for _ in range(3)]
    assert [r["state"] for r in results] == ["done", "error", "done"]
    assert [r.body["model"] for r in omen.chat_requests()] == ["code-smart"] * 3
    # the failed request: visible, and recorded as a failure
    assert "429" in results[1]["error"]
    rows = stats_rows(db, 3)
    failed = rows[1]
    assert (failed["request_id"], failed["success"], failed["alias"]) == (
        results[1]["id"],
        0,
        "code-smart",
    )
    assert "429" in failed["error"] and failed.get("cost_usd") is None
    # the refusal carried a routing fact: it is kept in the trace like any other
    refusal = wait_for(
        lambda: [t for t in trace_rows(db) if t["request_id"] == results[1]["id"]],
        message="the refused request's trace row",
    )
    assert json.loads(refusal[0]["trace"])["x-omen-routing-reason"] == "budget exhausted"

    got = picker(nv, "reason-deep")
    assert got["names"] == ["auto", "code-fast", "code-plus", "code-smart", "reason-deep"]
    assert "grim" in got["prompt"]
    lines = dict(zip(got["names"], got["lines"], strict=True))
    ttfbs = sorted(r["ttfb_ms"] for r in rows if r["ttfb_ms"] is not None)
    assert len(ttfbs) == 2
    smart = lines["code-smart"]
    assert smart.startswith("● code-smart")  # the current choice is marked
    assert "gpt-5-codex@azure" in smart
    assert "last gpt-5-codex" in smart
    assert f"ttfb {fmt_ms((ttfbs[0] + ttfbs[1]) / 2)}" in smart
    assert "ok 67%" in smart and "3 req" in smart and "avg $0.03" in smart
    assert "no requests yet" in lines["reason-deep"] and not lines["auto"].startswith("●")

    # the choice is stored for the project and used by the next request
    wait_message(nv, "grim now uses reason-deep")
    assert wait_for(lambda: (prefs_row(db) or {}).get("last_alias") == "reason-deep")
    last = ask(nv)
    assert omen.chat_requests()[-1].body["model"] == "reason-deep"
    assert (last["alias"], last["model"], last["provider"]) == (
        "reason-deep",
        "claude-3-5-sonnet",
        "anthropic",
    )

    # an unknown alias: a clear error, nothing stored
    nv.cmd("ZekeModel nonsense")
    msgs = wait_message(nv, "unknown alias 'nonsense'")
    assert "Known aliases" in msgs and "Traceback" not in msgs
    assert prefs_row(db)["last_alias"] == "reason-deep"

    # :ZekeStats: one line per alias/model, numbers as sent
    stats_rows(db, 4)
    nv.cmd("ZekeStats")
    table = wait_for(
        lambda: nv.lua(
            "local b = vim.fn.bufnr('zeke: stats'); if b == -1 then return nil end;"
            "return vim.api.nvim_buf_get_lines(b, 0, -1, false)"
        ),
        message="the zeke: stats buffer",
    )
    assert table[0] == "zeke stats — grim"
    header = table[2].split()
    assert header[:7] == ["alias", "model", "provider", "reqs", "ok", "⊘", "ttfb"]
    by_key = {(line.split()[0], line.split()[1]): line.split() for line in table[3:]}
    assert set(by_key) == {
        ("code-smart", "gpt-5-codex"),
        ("code-smart", "?"),
        ("reason-deep", "claude-3-5-sonnet"),
    }
    smart_row = by_key[("code-smart", "gpt-5-codex")]
    # alias model provider reqs ok cancelled p50 p95 tok_in tok_out cost
    assert smart_row[2:6] == ["azure", "2", "100%", "0"]
    assert smart_row[6] == fmt_ms((ttfbs[0] + ttfbs[1]) / 2) and smart_row[7] == fmt_ms(ttfbs[1])
    assert smart_row[8:11] == ["400", "40", "$0.06"]  # then the outcome columns
    failed_row = by_key[("code-smart", "?")]
    assert failed_row[3:5] == ["1", "0%"] and failed_row[10] == "$?"


# A cache that is corrupt, locked or cannot be written -----------------------------------------


@one_build
def test_corrupt_database_is_set_aside_and_requests_still_work(make_nvim, omen, project, db):
    garbage = b"this is not a database\x00\xff\xfe" * 300
    db.parent.mkdir(parents=True)
    db.write_bytes(garbage)
    nv = start(make_nvim, omen, project, db=db)
    first = ask(nv)
    assert first["state"] == "done" and first["text"] == "Hello from the fake OMEN."
    msgs = wait_message(nv, "was corrupt")
    (aside,) = [p for p in db.parent.iterdir() if p.name.startswith("zeke.db.corrupt")]
    assert aside.read_bytes() == garbage  # kept, not deleted
    assert str(aside) in msgs
    ask(nv)
    rows = stats_rows(db, 2)  # a fresh cache holds both requests
    assert rows[0]["request_id"] == first["id"]
    assert nv.messages().count("was corrupt") == 1


@one_build
def test_locked_database_never_holds_up_a_request(make_nvim, omen, project, db):
    nv = start(make_nvim, omen, project, db=db)
    nv.cmd("ZekeModel code-smart")
    wait_message(nv, "now uses code-smart")
    ask(nv)
    stats_rows(db, 1)
    locker = sqlite3.connect(db, isolation_level=None, timeout=1)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        durations, results = [], []
        for _ in range(2):  # the second one starts while the first one's write waits
            t0 = time.monotonic()
            results.append(ask(nv))
            durations.append(time.monotonic() - t0)
        assert [r["state"] for r in results] == ["done", "done"]
        assert max(durations) < 1.0, durations
        # the project's choice still applies while another process writes
        assert [r.body["model"] for r in omen.chat_requests()] == ["code-smart"] * 3
        msgs = wait_message(nv, "locked", timeout=8)
        assert "error" not in nv.badge()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    after = ask(nv)
    rows = wait_for(
        lambda: (lambda r: r if r and after["id"] in {x["request_id"] for x in r} else None)(
            query(db, "SELECT * FROM routing_stats ORDER BY id")
        ),
        message="the request after the lock to be recorded",
    )
    # what the message promised: the locked requests' stats were skipped, nothing doubled
    ids = [r["request_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert "locked" in msgs and nv.messages().count("locked") == 1


@pytest.fixture
def unwritable_db(tmp_path: Path) -> Path:
    # A parent that is a regular file: no one can create the cache there, even root.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("just a file\n")
    return blocker / "zeke.db"


@one_build
def test_unwritable_location_means_no_stats_and_one_message(
    make_nvim, omen, project, unwritable_db
):
    nv = start(make_nvim, omen, project, db=unwritable_db)
    results = [ask(nv) for _ in range(2)]
    assert [r["state"] for r in results] == ["done", "done"]
    msgs = wait_message(nv, "stats are off")
    assert str(unwritable_db) in msgs and "Traceback" not in msgs
    assert msgs.count("stats are off") == 1
    nv.cmd("ZekeStats")
    table = wait_for(
        lambda: nv.lua(
            "local b = vim.fn.bufnr('zeke: stats'); if b == -1 then return nil end;"
            "return vim.api.nvim_buf_get_lines(b, 0, -1, false)"
        ),
        message="the zeke: stats buffer",
    )
    assert "(no requests recorded yet)" in table
    assert not unwritable_db.parent.is_dir()


@one_build
def test_model_choice_without_a_cache_holds_for_the_session(
    make_nvim, omen, project, unwritable_db
):
    nv = start(make_nvim, omen, project, db=unwritable_db)
    nv.cmd("ZekeModel code-smart")
    msgs = wait_message(nv, "now uses code-smart")
    assert "for this session only" in msgs
    ask(nv)
    # what the message promised: this session uses it
    assert omen.chat_requests()[-1].body["model"] == "code-smart"


# Quitting ----------------------------------------------------------------------------------


def test_quitting_neovim_does_not_wait_for_the_host(make_nvim, omen, project, db):
    nv = start(make_nvim, omen, project, db=db)
    ask(nv)
    pid = nv.host_pid()
    t0 = time.monotonic()
    nv.close()
    wait_for(lambda: ended(pid), timeout=5, message="the host to exit")
    assert time.monotonic() - t0 < 1.0  # Neovim 0.11 waits for its jobs on :qa


def _last_model(db: Path) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT last_model FROM routing_prefs").fetchone()
    return row[0] if row else None
