"""The tool server's processes: what they inherit, how they start, how they end.

Every stdio server runs in its own process group. The groups still alive are kept
here, so that the host's exit path (``stop_all_servers``) can end them even when a
server is stuck inside a call and ignores the end of its stdin. On Linux each
server also gets a parent-death signal, so it goes even when the host is killed
outright and has no exit path at all.

Synchronous and free of the event loop on purpose: ``stop_all_servers`` runs at
exit, when the loop may be stuck or gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping

# The router's key is zeke's one secret; a tool server (third-party code, often
# with a shell tool) has no use for it.
ROUTER_KEY_ENV = frozenset({"ZEKE_API_KEY", "OMEN_API_KEY"})


def inherited_env(hidden: frozenset[str] = ROUTER_KEY_ENV) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in hidden}


def hidden_values(hidden: Iterable[str]) -> list[str]:
    """The router key as the host has it now (every variable it may be read from)."""
    return [v for k in hidden if (v := os.environ.get(k))]


_LIVE_GROUPS: set[int] = set()
_GROUPS_LOCK = threading.Lock()

# Sets PR_SET_PDEATHSIG (SIGKILL when the host goes), checks the host did not go
# before that, then becomes the server (same pid, same process group).
_PARENT_DEATH_LAUNCHER = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
if os.getppid() != int(sys.argv[1]):
    os._exit(0)
try:
    os.execv(sys.argv[2], sys.argv[3:])
except OSError as e:
    sys.stderr.write(f"cannot run {sys.argv[2]}: {e.strerror}\\n")
    os._exit(127)
"""


def resolve_command(argv0: str, *, cwd: str, env: Mapping[str, str]) -> str | None:
    """The executable ``argv0`` names, as the child would find it (its PATH and cwd)."""
    if os.sep in argv0:
        path = argv0 if os.path.isabs(argv0) else os.path.join(cwd, argv0)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which(argv0, path=env.get("PATH", os.defpath))


def spawn_argv(argv: list[str], executable: str) -> list[str]:
    """``argv`` run through the parent-death launcher where Linux and our interpreter
    allow it; as it is elsewhere."""
    if not sys.platform.startswith("linux") or not sys.executable:
        return argv
    return [
        sys.executable, "-I", "-S", "-c", _PARENT_DEATH_LAUNCHER,
        str(os.getpid()), executable, *argv,
    ]  # fmt: skip


def track(pgid: int) -> None:
    with _GROUPS_LOCK:
        _LIVE_GROUPS.add(pgid)


def untrack(pgid: int) -> None:
    with _GROUPS_LOCK:
        _LIVE_GROUPS.discard(pgid)


def _group_alive(pgid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pgid, os.WNOHANG)  # our own child, exited: reap it, or it counts
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def stop_all_servers(grace: float = 0.5) -> None:
    """End every tool server still running, and whatever it started: SIGTERM to each
    process group, then SIGKILL to those still there after ``grace`` seconds.

    Synchronous, and safe from any thread or at exit: this is the host's last word,
    when the event loop may be stuck or gone."""
    with _GROUPS_LOCK:
        groups = list(_LIVE_GROUPS)
        _LIVE_GROUPS.clear()
    if not groups or not hasattr(os, "killpg"):
        return
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = [g for g in groups if _group_alive(g)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [g for g in alive if _group_alive(g)]
    for pgid in alive:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
