"""A tiny inventory report: the zeke demo's sample project.

`total_value` is written the long way on purpose: select it and run
:ZekeRefactor to see the answer stream in and review the proposed change.
"""

from __future__ import annotations

ITEMS: list[dict[str, float]] = [
    {"qty": 3, "price": 2.50},
    {"qty": 0, "price": 99.00},
    {"qty": 12, "price": 0.75},
]


def total_value(items: list[dict[str, float]]) -> float:
    total = 0.0
    for i in range(len(items)):
        item = items[i]
        if item["qty"] > 0:
            total = total + item["qty"] * item["price"]
    return total


def report(items: list[dict[str, float]]) -> str:
    return f"{len(items)} items, worth {total_value(items):.2f}"


if __name__ == "__main__":
    print(report(ITEMS))
