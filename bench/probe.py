#!/usr/bin/env python3
"""Responsiveness probe: a separate client asking Neovim something trivial every 10 ms.

    python bench/probe.py SOCKET STOP_FILE

Attaches to Neovim's ``--listen``/``serverstart()`` socket, sends ``nvim_eval("1")``
on a fixed 10 ms schedule until ``STOP_FILE`` exists, and prints one JSON list of
``[sent_ns, latency_ms]`` (``sent_ns`` on ``time.monotonic_ns()``, the clock of
Neovim's ``vim.uv.hrtime()``), so the driver can keep the samples taken while a
stream was running.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pynvim

PERIOD_NS = 10_000_000
LIMIT_S = 120.0


def main(sock: str, stop_file: str) -> None:
    nvim = pynvim.attach("socket", path=sock)
    print("READY", flush=True)
    samples: list[tuple[int, float]] = []
    t0 = time.monotonic_ns()
    k = 0
    while not os.path.exists(stop_file) and time.monotonic_ns() - t0 < LIMIT_S * 1e9:
        k += 1
        sent = time.monotonic_ns()
        nvim.eval("1")
        samples.append((sent, (time.monotonic_ns() - sent) / 1e6))
        # next slot on the fixed schedule; a slow answer skips the slots it missed
        next_at = t0 + k * PERIOD_NS
        now = time.monotonic_ns()
        if next_at < now:
            k = (now - t0) // PERIOD_NS + 1
            next_at = t0 + k * PERIOD_NS
        time.sleep((next_at - now) / 1e9)
    nvim.close()
    print(json.dumps(samples), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
