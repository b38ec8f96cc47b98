"""A project's routing prefs as the user sets them (:ZekePrefer, :ZekeBudget) and
as they are shown (:ZekeWhy, :ZekeStats, :checkhealth). Parsing is here, in the host,
so there is one definition of what is allowed and one message naming it.

What the prefs do to a request's hints is ``tags.apply_prefs`` (docs/design.md §6).

Pure module: no pynvim, no I/O.
"""

from __future__ import annotations

import re

from zeke.errors import ZekeError
from zeke.store.records import Prefs

PREFER_CHOICES = ("local", "cloud", "auto")
# The largest cap accepted: $10,000, the figure beyond which the engine already treats
# a cost as garbage (routing._MAX_COST_USD). Anything bigger is a typo, not a budget.
MAX_BUDGET_CENTS = 1_000_000
PREFER_USAGE = "zeke: :ZekePrefer takes local, cloud or auto"
BUDGET_USAGE = (
    f"zeke: :ZekeBudget takes a whole number of cents from 0 to {MAX_BUDGET_CENTS:,} "
    "(200 is $2.00) or off"
)
_WHOLE = re.compile(r"[0-9]+")


def parse_prefer(arg: object) -> str:
    """:ZekePrefer's argument: local, cloud or auto (any case, spaces around)."""
    text = arg.strip().lower() if isinstance(arg, str) else ""
    if text not in PREFER_CHOICES:
        raise ZekeError(f"{PREFER_USAGE} (not {_shown(arg)})", kind="refused")
    return text


def parse_budget(arg: object) -> int | None:
    """:ZekeBudget's argument: whole cents 0..MAX_BUDGET_CENTS, or "off" (None)."""
    text = arg.strip().lower() if isinstance(arg, str) else ""
    if text == "off":
        return None
    if not _WHOLE.fullmatch(text) or len(text) > 9 or int(text) > MAX_BUDGET_CENTS:
        raise ZekeError(f"{BUDGET_USAGE} (not {_shown(arg)})", kind="refused")
    return int(text)


def _shown(arg: object) -> str:
    """The rejected argument, short and on one line, for the message."""
    text = "".join(c if c.isprintable() else " " for c in str(arg if arg is not None else ""))
    text = text.strip()
    if not text:
        return "nothing"
    return repr(text if len(text) <= 24 else text[:23] + "…")


def describe_prefer(p: Prefs) -> str:
    """The preference in words: what is sent follows from it (tags.apply_prefs)."""
    if p.prefer == "local":
        return "local (hinted unless size_hint is large)"
    if p.prefer == "cloud":
        return "cloud"
    return "auto (not set: the router decides)"


def describe_budget(p: Prefs) -> str:
    """The cap in words, saying whose it is."""
    cents = p.max_cloud_cost_cents
    if cents is None:
        return "off (no cap)"
    shown = f"{cents}¢ (${cents / 100:.2f})"
    if p.budget_set:
        return f"{shown}, sent as omen.budget_usd"
    return f"{shown}, the default: flags a cost over it; sent only with an omen config"


def summary(p: Prefs) -> str:
    """One line for :ZekeStats' header and :checkhealth."""
    return f"prefer {describe_prefer(p)} · budget {describe_budget(p)}"
