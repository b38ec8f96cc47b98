"""What can go wrong with the cache file, and what the user is told about it.

Every sqlite or OS error is sorted into one of a few kinds that decide what
happens next (wait, reopen, set the file aside, or give up for the session);
a corrupt file is moved aside, never deleted.  The messages name the file and
say what was lost, so a user can find and fix the cause.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 5, 6, 8
_SQLITE_CORRUPT, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 14, 26
_SQLITE_READONLY_DBMOVED = 1032


def classify(exc: BaseException) -> str:
    """One of ``busy``, ``corrupt``, ``moved``, ``readonly``, ``cantopen``, ``other``."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "readonly"
        if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG):
            return "cantopen"
        return "other"
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        if code == _SQLITE_READONLY_DBMOVED:
            return "moved"
        primary = code & 0xFF
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return "busy"
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return "corrupt"
        if primary == _SQLITE_READONLY:
            return "readonly"
        if primary == _SQLITE_CANTOPEN:
            return "cantopen"
        return "other"
    msg = str(exc).lower()  # Python 3.10: only the message to go by
    if "locked" in msg or "busy" in msg:
        return "busy"
    if "not a database" in msg or "malformed" in msg:
        return "corrupt"
    if "readonly" in msg or "read-only" in msg:
        return "readonly"
    if "unable to open" in msg:
        return "cantopen"
    return "other"


def set_aside(path: Path) -> str | None:
    """Move a corrupt file (and its -wal/-shm) aside, keeping it.

    Returns where it went, or None when it was already gone (someone else
    moved it: a fresh one can simply be opened).  Raises ``OSError`` when the
    file is there but cannot be moved.
    """
    base = f"{path}.corrupt-{int(time.time())}"
    aside, n = base, 0
    while os.path.exists(aside):
        n += 1
        aside = f"{base}-{n}"
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return None
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return aside


def corrupt_message(path: Path, aside: str) -> str:
    """Told once per file set aside."""
    return (
        f"zeke: the stats cache at {path} was corrupt; moved it aside to"
        f" {aside} and started a fresh one"
    )


def gave_up_message(path: Path, kind: str, exc: BaseException) -> str:
    """Told once when the cache turns itself off for the session."""
    if kind == "readonly":
        return f"zeke: the stats cache at {path} is read-only; stats are off for this session"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"zeke: cannot open the stats cache at {path} ({reason}); stats are off for this session"


def locked_message(write: bool) -> str:
    """Told once per episode of another process holding the lock too long."""
    what = "this request's stats were not saved" if write else "no stats this time"
    return f"zeke: the stats cache is locked by another process; {what}"


def failed_message(path: Path, exc: BaseException) -> str:
    """Told once per distinct unexpected error."""
    return f"zeke: the stats cache at {path} failed: {exc}"
