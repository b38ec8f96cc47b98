"""Bench only: stamps of a zeke host's start, for the cold benchmark's breakdown.

Put on the host's PYTHONPATH (the bench Neovim's environment) with
``ZBENCH_HOST_STAMPS=<file>``; in any other process, or without that variable, it
does nothing. Appends one JSON line per stamp, ``time.monotonic_ns()`` (the clock
of Neovim's ``vim.uv.hrtime()``):

- ``interp``: the interpreter is up (site is being imported)
- ``import_start`` / ``imported``: ``zeke.host.adapter`` (the host's module)
  starts / ends loading (pynvim, anyio, httpx and zeke's own modules load inside it)
- ``started``: ``Host.start`` returned (attached to Neovim, event loop running)
- ``request``: the first ``request`` notification from Neovim arrived
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

_PATH = os.environ.get("ZBENCH_HOST_STAMPS")
_ARGV = getattr(sys, "orig_argv", sys.argv)
MODULE = "zeke.host.adapter"  # where Host lives (``python -m zeke host`` runs it)


def _stamp(name: str) -> None:
    assert _PATH is not None
    with open(_PATH, "a") as f:
        f.write(json.dumps({"name": name, "ns": time.monotonic_ns()}) + "\n")


def _patch(module: Any) -> None:
    host_cls = module.Host
    start, on_notification = host_cls.start, host_cls.on_notification
    seen = []

    def timed_start(self: Any) -> None:
        start(self)
        _stamp("started")

    def timed_notification(self: Any, name: str, args: list[Any]) -> None:
        if not seen and args and args[0] == "request":
            seen.append(True)
            _stamp("request")
        on_notification(self, name, args)

    host_cls.start, host_cls.on_notification = timed_start, timed_notification


class _Finder:
    """Finds ``zeke.host.adapter`` like the normal path finder, but stamps around its
    loading."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != MODULE:
            return None
        import importlib.machinery

        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def timed_exec(module: Any) -> None:
            _stamp("import_start")
            exec_module(module)
            _stamp("imported")
            _patch(module)

        spec.loader.exec_module = timed_exec  # type: ignore[method-assign]
        return spec


if _PATH and "zeke" in _ARGV and "host" in _ARGV:
    _stamp("interp")
    sys.meta_path.insert(0, _Finder())
