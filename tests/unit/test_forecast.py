"""The budget guard's forecast and decision (engine/forecast.py, engine/guard.py),
pure: ranges from listed prices per intent, auto's range over the listed models,
no prices -> no forecast, and when the guard asks (a cap of 0 asks every priced
cloud request; a local alias never)."""

from __future__ import annotations

import pytest

from zeke.engine import forecast as fc
from zeke.engine.guard import local_aliases

PRICES = {
    "gpt-5-codex": (0.00125, 0.01),
    "claude-3-5-sonnet": (0.003, 0.015),
    "deepseek-coder:14b": (0.0, 0.0),
}


def one(**kw):
    args = {
        "intent": "code",
        "tokens_in": 2000,
        "alias_name": "code-smart",
        "alias_provider": "azure",
        "alias_model": "gpt-5-codex",
        "prices": PRICES,
    }
    args.update(kw)
    return fc.forecast(**args)


def test_a_named_alias_ranges_from_a_short_answer_to_the_intents_expected_output():
    f = one()
    base = 2000 / 1000 * 0.00125
    assert f.low_usd == pytest.approx(base + fc.LOW_OUTPUT / 1000 * 0.01)
    assert f.high_usd == pytest.approx(base + fc.EXPECTED_OUTPUT["code"] / 1000 * 0.01)
    assert f.tokens_in == 2000 and f.tokens_out_max == fc.EXPECTED_OUTPUT["code"]
    assert "gpt-5-codex" in f.basis and f.known
    assert "$0.0035–$0.0175" in f.text()


def test_tests_expect_a_longer_answer_than_code():
    assert one(intent="tests").high_usd > one(intent="code").high_usd
    assert one(intent="tests").low_usd == one(intent="code").low_usd
    assert one(intent="whatever").tokens_out_max == fc.DEFAULT_OUTPUT


def test_auto_spans_the_cheapest_low_and_the_dearest_high_of_the_listed_models():
    f = one(alias_name="auto", alias_provider=None, alias_model=None, intent="reason")
    assert f.low_usd == 0.0  # the free local model
    assert f.high_usd == pytest.approx(2000 / 1000 * 0.003 + 1200 / 1000 * 0.015)
    assert "3 priced listed models" in f.basis


def test_the_alias_name_as_listed_wins_then_its_model_then_the_stand_in():
    f = one(alias_name="mygroup", alias_model="unlisted", stand_in="claude-3-5-sonnet")
    assert "claude-3-5-sonnet" in f.basis
    listed = one(prices={**PRICES, "code-smart": (1.0, 1.0)})
    assert "code-smart" in listed.basis and listed.low_usd > 1


def test_no_prices_means_no_forecast_and_no_guard():
    f = one(prices={})
    assert not f.known and f.text() == fc.NO_PRICES == "no prices listed: no forecast"
    assert not fc.asks(f, 0)
    unlisted = one(alias_model="nope", alias_name="nope")
    assert not unlisted.known and unlisted.note.startswith(fc.NO_PRICES)
    assert not fc.asks(unlisted, 0)


def test_a_local_alias_is_free_and_never_asks():
    f = one(alias_name="code-fast", alias_provider="ollama", alias_model="deepseek-coder:14b")
    assert f.low_usd == f.high_usd == 0.0
    assert not fc.asks(f, 0)


@pytest.mark.parametrize(
    ("cap", "asks"),
    [(None, False), (0, True), (1, True), (2, False), (200, False)],
)
def test_the_guard_asks_when_the_upper_end_is_over_the_cap(cap, asks):
    f = one()  # high ≈ $0.0175 = 1.75¢
    assert fc.asks(f, cap) is asks


def test_a_cap_of_zero_asks_even_a_request_priced_at_zero_in_the_cloud():
    f = one(prices={"gpt-5-codex": (0.0, 0.0)})
    assert f.known and f.high_usd == 0.0
    assert fc.asks(f, 0) and not fc.asks(f, 1)


def test_the_prompt_names_the_range_the_alias_and_the_cap():
    text = fc.prompt(one(), 1, "code-smart")
    assert "code-smart" in text and "$0.0035–$0.0175" in text and "1¢" in text
    assert ":ZekeBudget" in text


def test_local_aliases_are_the_ones_whose_provider_is_ollama():
    aliases = {
        "code-fast": {"provider": "ollama", "model": "a"},
        "mine": {"provider": "Ollama", "model": "b"},
        "code-smart": {"provider": "azure", "model": "c"},
    }
    assert local_aliases(aliases) == ["code-fast", "mine"]
    assert local_aliases({"x": {"provider": "azure"}}) == []
