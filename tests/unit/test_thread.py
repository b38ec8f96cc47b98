"""Conversations: the pure thread logic (engine/thread.py — messages in order,
trimming oldest-first, the model a follow-up names, the sticky omen object, the
running totals, a retry's thread) and the engine keeping a thread in memory
(engine/threads.py) against a scripted model server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enginekit import Reply, ScriptedModel, answer, request, serving
from zeke.backends.events import End, TextDelta, Usage
from zeke.engine import thread as t
from zeke.errors import ZekeError


def done(rid: str, question: str, answer_: str, **kw: Any) -> t.Exchange:
    return t.Exchange(rid, question, answer_, state="done", **kw)


# -- the messages -----------------------------------------------------------------


def test_the_thread_goes_in_order_then_the_new_message() -> None:
    xs = [done("a", "Q1 with code", "A1"), done("b", "shorter", "A2")]
    built = t.build("SYS", xs, "now type hints", budget=10_000)
    assert built.messages == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "Q1 with code"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "shorter"},
        {"role": "assistant", "content": "A2"},
        {"role": "user", "content": "now type hints"},
    ]
    assert built.dropped is None and built.tokens > 0


def test_no_answer_yet_is_the_plain_request() -> None:
    built = t.build("SYS", [], "Q", budget=100)
    assert [m["role"] for m in built.messages] == ["system", "user"]


def test_over_the_budget_the_oldest_go_first_the_code_and_the_new_message_stay() -> None:
    big = "w" * 4000  # 1,000 tokens each
    xs = [done("a", "CODE", big), done("b", "f1", big), done("c", "f2", "A3")]
    built = t.build("SYS", xs, "new", budget=1000)
    assert [m["content"] for m in built.messages] == ["SYS", "CODE", "f2", "A3", "new"]
    assert built.dropped == "dropped the first answer and follow-up 1 to fit the context budget"
    assert built.tokens <= 1000

    one = t.build("SYS", xs, "new", budget=1100)
    assert [m["content"] for m in one.messages] == ["SYS", "CODE", "f1", big, "f2", "A3", "new"]
    assert one.dropped == "dropped the first answer to fit the context budget"
    assert t.build("SYS", xs, "new", budget=2100).dropped is None


def test_a_message_too_long_even_alone_is_refused() -> None:
    xs = [done("a", "CODE", "A1")]
    with pytest.raises(ZekeError) as e:
        t.build("SYS", xs, "x" * 8000, budget=1000)
    assert "does not fit the context budget" in e.value.message
    assert "the limit is 1,000" in e.value.message


# -- where a follow-up goes -------------------------------------------------------------


def test_the_pin_is_the_concrete_model_only_when_the_router_takes_it() -> None:
    # OMEN resolves its own models
    assert t.pin_choice("gpt-5-codex", "header", "code-smart", omen=True, listed=[]) == (
        "gpt-5-codex"
    )
    # another router: only what its /models lists (LiteLLM refuses deployment names)
    assert t.pin_choice("gpt-4o-2024", "litellm", "smart", omen=False, listed=["smart"]) == "smart"
    assert t.pin_choice("m1", "chunk", "smart", omen=False, listed=["m1"]) == "m1"
    # what zeke assumed (the alias's configured model) is never pinned
    assert t.pin_choice("m1", "alias", "smart", omen=True, listed=["m1"]) == "smart"
    assert t.pin_choice(None, None, "auto", omen=True, listed=[]) == "auto"


def test_the_omen_object_is_sticky_with_the_thread_session() -> None:
    configured = {"strategy": "single", "budget_usd": 0.1}
    out = t.sticky_omen(configured, "s-1")
    assert out == {
        "strategy": "single",
        "budget_usd": 0.1,
        "stickiness": "session",
        "session_id": "s-1",
    }
    assert configured == {"strategy": "single", "budget_usd": 0.1}  # not changed
    assert t.sticky_omen(None, "s-2") == {"stickiness": "session", "session_id": "s-2"}


def test_totals_sum_what_is_known() -> None:
    xs = [done("a", "q", "a", cost_usd=0.001, tokens=10), done("b", "q", "a", tokens=5)]
    assert t.totals(xs) == (0.001, 15)
    assert t.totals([done("a", "q", "a")]) == (None, None)


def test_a_retry_sends_the_last_question_again_after_the_answers_before_it() -> None:
    old = t.Thread("r1", "s", "SYS", [done("r1", "Q1", "A1"), done("r2", "f1", "A2")])
    old.last, old.pin = object(), "m"
    new, question = t.retried(old, "r3", "s3")
    assert question == "f1" and new.id == "r3" and new.session == "s3"
    assert [x.rid for x in new.exchanges] == ["r1"]
    assert new.last is old.last
    failed = t.Thread("r1", "s", "SYS", [t.Exchange("r1", "Q1", state="error")])
    new, question = t.retried(failed, "r4", "s4")
    assert question == "Q1" and new.exchanges == []


# -- the engine keeps the thread ----------------------------------------------------------

ALIASES = {"code-fast": {"model": "deepseek-coder:14b"}, "code-smart": {"model": "gpt-5-codex"}}


def config(project: Path, **over: Any) -> dict[str, Any]:
    return {
        "alias": "code-fast",
        "aliases": ALIASES,
        "db_path": str(project.parent / "z.db"),
        **over,
    }


def said(text: str, model: str) -> Reply:
    return Reply(
        [TextDelta(text), Usage(10, 5, 0.002), End("stop")],
        {"x-omen-provider": "azure", "x-omen-model": model},
    )


@pytest.mark.anyio
async def test_follow_ups_go_to_the_model_that_answered_with_one_session(project: Path) -> None:
    model = ScriptedModel()
    model.omen(said("A1", "deepseek-coder:14b-q4"), answer("A2"), answer("A3"))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_request(request("r1", project))
        await engine.run_followup({"id": "r2", "thread": "r1", "text": "shorter"})
        await engine.run_followup({"id": "r3", "thread": "r1", "text": "again"})
    first, second, third = model.bodies("omen")
    assert first["model"] == "code-fast" and "omen" not in first
    assert second["model"] == third["model"] == "deepseek-coder:14b-q4"  # OMEN said so
    assert second["omen"]["stickiness"] == "session"
    assert second["omen"]["session_id"] == third["omen"]["session_id"]
    assert second["omen"]["session_id"].startswith("session-1-")
    assert [m["content"] for m in third["messages"][2:]] == ["A1", "shorter", "A2", "again"]
    assert rec.done("r3")["turn"] == 3 and rec.done("r3")["thread"] == "r1"
    assert rec.done("r3")["thread_cost_usd"] == 0.002  # only the first reported a cost
    meta = rec.of("meta", "r2")[0]
    assert meta == {"alias": "code-fast", "thread": "r1", "turn": 2, "thread_dropped": None}


@pytest.mark.anyio
async def test_a_router_that_does_not_list_the_model_gets_the_name_asked(project: Path) -> None:
    model = ScriptedModel()
    litellm = {"x-litellm-model-name": "gpt-4o-2024-08-06"}
    model.omen(Reply([TextDelta("A1"), End("stop")], litellm), answer("A2"))
    async with serving(config(project), model, listed=[{"id": "code-fast"}]) as (engine, _rec):
        await engine.run_request(request("r1", project))
        await engine.run_followup({"id": "r2", "thread": "r1", "text": "more"})
    assert [b["model"] for b in model.bodies("omen")] == ["code-fast", "code-fast"]


@pytest.mark.anyio
async def test_follow_up_and_retry_refusals(project: Path) -> None:
    model = ScriptedModel()
    model.omen(answer("A1"), answer("A2"))
    async with serving(config(project), model) as (engine, rec):
        await engine.run_followup({"id": "x1", "thread": "nope", "text": "hi"})
        assert "no longer kept" in rec.done("x1")["error"]
        await engine.run_request(request("r1", project))
        await engine.run_followup({"id": "x2", "thread": "r1", "text": "hi", "alias": "bogus"})
        assert "unknown alias 'bogus'" in rec.done("x2")["error"]
        assert "code-fast, code-smart" in rec.done("x2")["error"]
        await engine.run_retry({"id": "r2", "thread": "r1", "alias": "code-smart"})
    first, retried = model.bodies("omen")
    assert retried["model"] == "code-smart" and retried["messages"] == first["messages"]
    assert "omen" not in retried  # a fresh request's body: nothing to keep sticky yet
