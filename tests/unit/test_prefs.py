"""The routing prefs: :ZekePrefer / :ZekeBudget arguments (engine/prefs.py), what
they add to a request's hints (tags.apply_prefs), and how the cache keeps them."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeke.engine import prefs
from zeke.engine.tags import apply_prefs
from zeke.errors import ZekeError
from zeke.store.cache import Cache, Prefs


@pytest.mark.parametrize(
    ("arg", "want"), [("local", "local"), (" Cloud ", "cloud"), ("AUTO", "auto")]
)
def test_prefer_takes_local_cloud_or_auto(arg: str, want: str) -> None:
    assert prefs.parse_prefer(arg) == want


@pytest.mark.parametrize("arg", ["maybe", "", "loca", "local cloud", None, "loc\nal"])
def test_prefer_names_the_allowed_values_otherwise(arg: object) -> None:
    with pytest.raises(ZekeError) as e:
        prefs.parse_prefer(arg)
    assert "local, cloud or auto" in e.value.message
    assert "\n" not in e.value.message


@pytest.mark.parametrize(
    ("arg", "want"),
    [("0", 0), ("200", 200), (" 35 ", 35), ("off", None), ("OFF", None), ("1000000", 1_000_000)],
)
def test_budget_takes_whole_cents_or_off(arg: str, want: int | None) -> None:
    assert prefs.parse_budget(arg) == want


@pytest.mark.parametrize(
    "arg", ["-5", "abc", "1000001", "99999999999999999999", "1.5", "1e3", "", "nan", "inf", "０"]
)
def test_budget_names_the_allowed_values_otherwise(arg: str) -> None:
    with pytest.raises(ZekeError) as e:
        prefs.parse_budget(arg)
    assert "whole number of cents" in e.value.message and "or off" in e.value.message


@pytest.mark.parametrize("size", ["tiny", "small", "medium"])
def test_local_is_hinted_unless_the_request_is_large(size: str) -> None:
    tags, omen = apply_prefs({"size_hint": size}, None, {"prefer": "local"}, omen_configured=False)
    assert tags == {"size_hint": size, "prefer_local": "true"} and omen is None
    tags, _ = apply_prefs({"size_hint": "large"}, None, {"prefer": "local"}, omen_configured=False)
    assert tags == {"size_hint": "large"}


def test_cloud_says_so_and_auto_says_nothing() -> None:
    for size in ("tiny", "large"):
        tags, _ = apply_prefs({"size_hint": size}, None, {"prefer": "cloud"}, omen_configured=False)
        assert tags["prefer_local"] == "false"
        tags, _ = apply_prefs({"size_hint": size}, None, {"prefer": "auto"}, omen_configured=False)
        assert "prefer_local" not in tags


def test_a_budget_the_user_set_is_sent_as_omen_budget_usd_even_without_an_omen_config() -> None:
    chosen = {"prefer": "auto", "max_cloud_cost_cents": 35, "budget_set": True}
    _, omen = apply_prefs({}, None, chosen, omen_configured=False)
    assert omen == {"budget_usd": 0.35}
    _, omen = apply_prefs({}, {"strategy": "single"}, chosen, omen_configured=True)
    assert omen == {"strategy": "single", "budget_usd": 0.35}
    _, omen = apply_prefs({}, {"budget_usd": 1.0}, chosen, omen_configured=True)
    assert omen == {"budget_usd": 1.0}  # the config's own budget wins
    # the schema's default cap is not the user's: no omen object they did not ask for
    default = {"prefer": "auto", "max_cloud_cost_cents": 200, "budget_set": False}
    assert apply_prefs({}, None, default, omen_configured=False)[1] is None
    off = {"prefer": "auto", "max_cloud_cost_cents": None, "budget_set": True}
    assert apply_prefs({}, None, off, omen_configured=False)[1] is None


def test_the_cache_keeps_the_choice_apart_from_the_seed_default(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "z.db")
    assert cache.prefs("grim").prefer == "auto"
    cache.set_last_alias("grim", "code-fast")  # makes a row: prefer_local DEFAULT 1
    assert cache.prefs("grim").prefer == "auto"  # still not chosen
    assert cache.set_prefer("grim", "cloud")
    assert cache.prefs("grim") == Prefs(False, 200, "code-fast", None, "cloud", False)
    assert cache.set_budget("grim", 35)
    assert cache.prefs("grim") == Prefs(False, 35, "code-fast", None, "cloud", True)
    assert cache.set_budget("grim", None) and cache.set_prefer("grim", "auto")
    p = cache.prefs("grim")
    assert (p.prefer, p.max_cloud_cost_cents, p.budget_set, p.last_alias) == (
        "auto",
        None,
        True,
        "code-fast",
    )
    assert "budget off" in prefs.summary(p) and "prefer auto" in prefs.summary(p)
