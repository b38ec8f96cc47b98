"""The budget guard's arithmetic: a request's cost range from the router's listed
prices before it is sent, and whether that range asks the user first (issue 16,
docs/design.md "the budget guard"). Pure module: no I/O, no Neovim.

The range, in USD, for one priced model::

    low  = tokens_in / 1000 * price_in + LOW_OUTPUT / 1000 * price_out
    high = tokens_in / 1000 * price_in + EXPECTED_OUTPUT[intent] / 1000 * price_out

``tokens_in`` is zeke's estimate of the packed context (what it sends). For ``auto``
(the router picks) the range spans every priced listed model: the cheapest low, the
dearest high. An alias whose provider is local (Ollama) is free: no forecast is
needed. No price for the model → no forecast, and so no guard.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# The answer's expected length, in tokens, at most, per intent: a rewritten
# selection (code), a test file (tests: longer), an explanation (reason).
EXPECTED_OUTPUT: dict[str, int] = {"code": 1500, "tests": 3000, "reason": 1200, "vision": 1200}
DEFAULT_OUTPUT = 1500  # an intent not listed above
LOW_OUTPUT = 100  # the shortest useful answer
LOCAL_PROVIDERS = frozenset({"ollama"})

NO_PRICES = "no prices listed: no forecast"


@dataclass(frozen=True)
class Forecast:
    """A request's cost range before sending; ``low_usd``/``high_usd`` None: no
    forecast (``note`` says why)."""

    low_usd: float | None
    high_usd: float | None
    tokens_in: int
    tokens_out_max: int
    basis: str  # which model's prices, in the user's words
    note: str | None = None  # why there is no forecast (NO_PRICES, local, …)

    @property
    def known(self) -> bool:
        return self.low_usd is not None and self.high_usd is not None

    def text(self) -> str:
        """The range in one line: "$0.0012–$0.0150 (… tokens in, up to … out, <basis>)"."""
        if not self.known:
            return self.note or NO_PRICES
        return (
            f"{usd(self.low_usd)}–{usd(self.high_usd)} (~{self.tokens_in} tokens in, "
            f"up to {self.tokens_out_max} out, {self.basis})"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "low_usd": self.low_usd,
            "high_usd": self.high_usd,
            "tokens_in": self.tokens_in,
            "tokens_out_max": self.tokens_out_max,
            "basis": self.basis,
            "note": self.note,
        }


def usd(value: float | None) -> str:
    if value is None:
        return "$?"
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def expected_output(intent: str) -> int:
    return EXPECTED_OUTPUT.get(intent, DEFAULT_OUTPUT)


def _range(price: tuple[float, float], tokens_in: int, tokens_out_max: int) -> tuple[float, float]:
    price_in, price_out = price
    base = tokens_in / 1000 * price_in
    return base + LOW_OUTPUT / 1000 * price_out, base + tokens_out_max / 1000 * price_out


def _price_of(
    model: str | None, provider: str | None, prices: Mapping[str, tuple[float, float]]
) -> tuple[float, float] | None:
    if not model:
        return None
    price = prices.get(model)
    if price is None and provider:
        price = prices.get(f"{provider}/{model}")
    return price


def forecast(
    *,
    intent: str,
    tokens_in: int | None,
    alias_name: str,
    alias_provider: str | None,
    alias_model: str | None,
    prices: Mapping[str, tuple[float, float]],
    stand_in: str | None = None,
) -> Forecast:
    """The cost range of a request to ``alias_name`` (``auto``: the router picks among
    every listed model). The alias's own name is looked up first (a LiteLLM model
    group), then its model, then ``stand_in`` (the concrete model zeke would ask for)."""
    t_in = max(0, int(tokens_in or 0))
    t_out = expected_output(intent)
    if (alias_provider or "").strip().lower() in LOCAL_PROVIDERS:
        return Forecast(0.0, 0.0, t_in, t_out, "a local model: free", None)
    if not prices:
        return Forecast(None, None, t_in, t_out, "", NO_PRICES)
    if alias_name == "auto" and not alias_model:
        ranges = [_range(p, t_in, t_out) for p in prices.values()]
        ranges = [r for r in ranges if math.isfinite(r[0]) and math.isfinite(r[1])]
        if not ranges:
            return Forecast(None, None, t_in, t_out, "", NO_PRICES)
        n = len(ranges)
        basis = f"any of the {n} priced listed models" if n > 1 else "the one priced model"
        return Forecast(min(r[0] for r in ranges), max(r[1] for r in ranges), t_in, t_out, basis)
    for label, model in (
        (alias_name, alias_name),
        (alias_model, alias_model),
        (stand_in, stand_in),
    ):
        price = _price_of(model, alias_provider, prices)
        if price is not None:
            low, high = _range(price, t_in, t_out)
            return Forecast(low, high, t_in, t_out, f"{label}'s listed price")
    return Forecast(
        None, None, t_in, t_out, "", f"{NO_PRICES} (the router lists no price for {alias_name})"
    )


def asks(fc: Forecast, cap_cents: int | None) -> bool:
    """Whether the guard asks before sending: the forecast's upper end is over the
    project's cap. No cap (budget off), no forecast, or a free local model: never.
    A cap of 0 asks for every priced cloud request."""
    if cap_cents is None or not fc.known or fc.basis == "a local model: free":
        return False
    assert fc.high_usd is not None
    if cap_cents <= 0:
        return True
    return fc.high_usd * 100 > cap_cents + 1e-9


def prompt(fc: Forecast, cap_cents: int, alias: str) -> str:
    """The question the guard asks (vim.ui.select's prompt)."""
    return (
        f"zeke: this request to {alias} may cost {usd(fc.low_usd)}–{usd(fc.high_usd)}, "
        f"over this project's budget of {cap_cents}¢ (:ZekeBudget). Send it?"
    )
