#!/usr/bin/env python3
"""The UI of a bench Neovim: it embeds Neovim, attaches as a real UI and keeps a
copy of the screen, so every redraw Neovim computes is sent, decoded and applied
(what a terminal UI costs Neovim), and it can tell when text became visible.

    python bench/ui.py COLS ROWS -- NVIM_ARGV...     # NVIM_ARGV includes --embed

Neovim's own TUI is a separate process too (since 0.10); it gets the same
``redraw`` events over the same kind of channel, so Neovim does the same work
for this UI as for a terminal. The driver talks to Neovim over ``--listen``.

stdout: ``READY <nvim pid>`` once attached, then one JSON line per ``seen``.
stdin, one command a line (``ZBENCH_UI_ARM`` in the environment arms from the
first frame on, for a command that runs while Neovim starts):

- ``arm REGEX``: forget what was seen; from now on, for each distinct match of
  REGEX on the screen, note the time (``time.monotonic_ns()``, the clock of
  Neovim's ``vim.uv.hrtime()``) of the ``flush`` that first showed it: the
  moment a UI has a finished frame with that text in it.
- ``seen``: print ``{"seen": {match: ns}, "flushes": n, "last_flush": ns}``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

import msgpack


class Screen:
    """Grid 1 (no ext_multigrid: every window is drawn there) as rows of cells."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.width = 0
        self.dirty: set[int] = set()

    def resize(self, width: int, height: int) -> None:
        self.width = width
        self.rows = [[" "] * width for _ in range(height)]
        self.dirty = set(range(height))

    def clear(self) -> None:
        self.resize(self.width, len(self.rows))

    def line(self, row: int, col: int, cells: list[Any]) -> None:
        if row >= len(self.rows):
            return
        r = self.rows[row]
        for cell in cells:
            text = cell[0]
            rep = cell[2] if len(cell) > 2 else 1
            for _ in range(rep):
                if col < self.width:
                    r[col] = text
                col += 1
        self.dirty.add(row)

    def scroll(self, top: int, bot: int, left: int, right: int, rows: int) -> None:
        order = range(top, bot - rows) if rows > 0 else range(bot - 1, top - rows - 1, -1)
        for i in order:
            src = i + rows
            if 0 <= src < len(self.rows) and i < len(self.rows):
                self.rows[i][left:right] = self.rows[src][left:right]
                self.dirty.add(i)

    def take_dirty(self) -> list[str]:
        out = ["".join(self.rows[i]) for i in sorted(self.dirty) if i < len(self.rows)]
        self.dirty.clear()
        return out


class Recorder:
    """What the driver asked to watch for, and when it appeared."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pattern: re.Pattern[str] | None = None
        self.seen: dict[str, int] = {}
        self.flushes = 0
        self.last_flush = 0

    def arm(self, regex: str) -> None:
        with self.lock:
            self.pattern = re.compile(regex)
            self.seen = {}

    def flush(self, screen: Screen) -> None:
        now = time.monotonic_ns()
        rows = screen.take_dirty()
        with self.lock:
            self.flushes += 1
            self.last_flush = now
            if self.pattern is None:
                return
            for text in rows:
                for m in self.pattern.finditer(text):
                    self.seen.setdefault(m.group(0), now)

    def report(self) -> str:
        with self.lock:
            return json.dumps(
                {"seen": self.seen, "flushes": self.flushes, "last_flush": self.last_flush}
            )


def control(rec: Recorder, out_lock: threading.Lock) -> None:
    for line in sys.stdin:
        cmd, _, arg = line.rstrip("\n").partition(" ")
        if cmd == "arm":
            rec.arm(arg)
            reply = "{}"
        elif cmd == "seen":
            reply = rec.report()
        else:
            reply = json.dumps({"error": f"unknown command {cmd!r}"})
        with out_lock:
            print(reply, flush=True)


def apply(screen: Screen, rec: Recorder, batch: list[Any]) -> None:
    name, calls = batch[0], batch[1:]
    if name == "grid_line":
        for grid, row, col, cells, *_ in calls:
            if grid == 1:
                screen.line(row, col, cells)
    elif name == "grid_scroll":
        for grid, top, bot, left, right, rows, _cols in calls:
            if grid == 1:
                screen.scroll(top, bot, left, right, rows)
    elif name == "grid_resize":
        for grid, width, height in calls:
            if grid == 1:
                screen.resize(width, height)
    elif name == "grid_clear":
        screen.clear()
    elif name == "flush":
        rec.flush(screen)


def main(argv: list[str]) -> int:
    cols, rows = int(argv[0]), int(argv[1])
    nvim_argv = argv[argv.index("--") + 1 :]
    proc = subprocess.Popen(nvim_argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert proc.stdin is not None and proc.stdout is not None
    opts = {"rgb": True, "ext_linegrid": True}
    proc.stdin.write(msgpack.packb([0, 1, "nvim_ui_attach", [cols, rows, opts]]))
    screen, rec, out_lock = Screen(), Recorder(), threading.Lock()
    screen.resize(cols, rows)
    if os.environ.get("ZBENCH_UI_ARM"):
        rec.arm(os.environ["ZBENCH_UI_ARM"])
    unpacker = msgpack.Unpacker(raw=False, unicode_errors="replace")
    fd = proc.stdout.fileno()
    ready = False
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            break
        unpacker.feed(data)
        for msg in unpacker:
            kind = msg[0]
            if kind == 2 and msg[1] == "redraw":
                for batch in msg[2]:
                    apply(screen, rec, batch)
            elif kind == 1 and msg[1] == 1:
                if msg[2] is not None:
                    print(f"ERROR ui_attach: {msg[2]}", flush=True)
                    proc.kill()
                    return 1
                if not ready:
                    ready = True
                    with out_lock:
                        print(f"READY {proc.pid}", flush=True)
                    threading.Thread(target=control, args=(rec, out_lock), daemon=True).start()
            elif kind == 0:  # a request to the UI: none is expected
                proc.stdin.write(msgpack.packb([1, msg[1], "not supported", None]))
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
