"""The one shared SQLite connection behind the cache, and how it survives the file.

Nothing here may fail a request: :meth:`SharedConnection.run` turns every
sqlite or OS problem into the caller's default answer plus, at most once, a
message for the user (:meth:`SharedConnection.pop_notices`).  It opens and
migrates lazily, reopens a file deleted or replaced under it, sets a corrupt
file aside and starts fresh, turns itself off for the session on a read-only
or unusable location, and skips work held up by another process's lock for
longer than the busy timeout.  A read that finds the connection busy reads on
a short-lived connection of its own instead of waiting.

Pure module: no pynvim.  Called from worker threads.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from zeke.store import failures
from zeke.store.schema import migrate

T = TypeVar("T")

# How long a read waits for the shared connection before it reads on a
# connection of its own: that one is busy with a write (perhaps waiting on
# another process's lock), and with WAL reads need not wait for writers.
_SIDE_READ_AFTER_S = 0.05


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, rolled back on any error."""
    # IMMEDIATE takes the write lock up front, so a concurrent writer makes
    # us wait in the busy handler instead of failing at upgrade time.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SharedConnection:
    """Thread-safe, self-healing access to the SQLite file at ``path``.

    Nothing touches the disk until the first :meth:`run`.  One connection,
    guarded by a lock; a second process (another Neovim) on the same file is
    handled by SQLite's WAL locking plus our busy timeout.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_s = max(0, busy_timeout_ms) / 1000.0
        self._lock = threading.Lock()  # guards the connection and its state
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._busy_ms_set: int | None = None
        self._disabled = False
        self._opened = False  # the file has existed with our schema: side reads may open it
        self._notice_lock = threading.Lock()  # separate: never wait on the db to read notices
        self._notices: list[str] = []
        self._noted: set[str] = set()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def available(self) -> bool:
        """False once it gave up for this session (read-only, unusable path)."""
        return not self._disabled

    def pop_notices(self) -> list[str]:
        """Messages for the user gathered since the last call (each said once)."""
        with self._notice_lock:
            out, self._notices = self._notices, []
        return out

    def close(self) -> None:
        """Close the connection (a later :meth:`run` would open it again)."""
        with self._lock:
            self._drop_connection()

    def run(self, op: Callable[[sqlite3.Connection], T], default: T, *, write: bool) -> T:
        """Run ``op`` on a healthy connection; every failure becomes ``default``.

        Never waits longer than the busy timeout in total (lock wait included).
        """
        deadline = time.monotonic() + self._busy_s
        if self._disabled:
            return default
        side_read = not write and self._opened
        wait = min(self._busy_s, _SIDE_READ_AFTER_S) if side_read else self._busy_s
        if not self._lock.acquire(timeout=max(wait, 0.001)):
            if side_read:
                return self._side_read(op, default, deadline)
            self._notice("locked", failures.locked_message(write))
            return default
        try:
            recovered = False
            while not self._disabled:
                try:
                    conn = self._connection(deadline)
                    result = op(conn)
                except (sqlite3.Error, OSError) as exc:
                    kind = failures.classify(exc)
                    if kind in ("moved", "readonly", "other") and self._file_changed():
                        kind = "moved"  # deleted/replaced under us: reopen, not give up
                    if kind in ("moved", "corrupt") and not recovered:
                        recovered = True
                        self._drop_connection()
                        if kind == "moved" or self._set_aside():
                            continue
                        return default
                    if kind == "busy":
                        self._drop_connection_if_unmigrated()
                        remaining = deadline - time.monotonic()
                        if remaining > 0.005:
                            # Busy without waiting (WAL recovery, snapshot): brief backoff.
                            time.sleep(min(0.005, remaining))
                            continue
                        self._notice("locked", failures.locked_message(write))
                        return default
                    if kind in ("readonly", "cantopen"):
                        self._give_up(kind, exc)
                        return default
                    self._drop_connection()
                    self._notice(f"error:{exc}", failures.failed_message(self._path, exc))
                    return default
                else:
                    # A later lock is a new episode worth one more message.
                    with self._notice_lock:
                        self._noted.discard("locked")
                    return result
            return default
        finally:
            self._lock.release()

    # --------------------------------------------------------------- internals

    def _connection(self, deadline: float) -> sqlite3.Connection:
        """The open, migrated connection; (re)opens when needed."""
        if self._conn is not None and self._file_changed():
            self._drop_connection()
        if self._conn is None:
            self._open(deadline)
        assert self._conn is not None
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        if remaining_ms != self._busy_ms_set:
            self._conn.execute(f"PRAGMA busy_timeout = {remaining_ms}")
            self._busy_ms_set = remaining_ms
        return self._conn

    def _open(self, deadline: float) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        timeout = max(0.001, deadline - time.monotonic())
        conn = sqlite3.connect(
            self._path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn = conn
        self._busy_ms_set = None
        self._identity = None
        try:
            # Per-connection settings; the persistent ones also live in 0001.
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
            conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a cache needs no fsync
            st = os.stat(self._path)
            self._identity = (st.st_dev, st.st_ino)
            self._opened = True
        except BaseException:
            self._drop_connection()
            raise

    def _side_read(self, op: Callable[[sqlite3.Connection], T], default: T, deadline: float) -> T:
        """Run a read on a short-lived connection of its own (see :meth:`run`).

        Never creates the file (``mode=rw``) and never writes (``query_only``);
        any problem is left to the shared connection's next use to sort out.
        """
        uri = Path(os.path.abspath(self._path)).as_uri() + "?mode=rw"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=max(0.001, deadline - time.monotonic()),
                isolation_level=None,
                check_same_thread=False,
            )
        except (sqlite3.Error, OSError):
            return default
        try:
            conn.execute("PRAGMA query_only = ON")
            return op(conn)
        except (sqlite3.Error, OSError) as exc:
            if failures.classify(exc) == "busy":
                self._notice("locked", failures.locked_message(False))
            return default
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _file_changed(self) -> bool:
        """True when the open file was deleted or replaced (other process, user)."""
        if self._conn is None or self._identity is None:
            return False
        try:
            st = os.stat(self._path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != self._identity

    def _drop_connection(self) -> None:
        conn, self._conn, self._identity, self._busy_ms_set = self._conn, None, None, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _drop_connection_if_unmigrated(self) -> None:
        # A lock hit while opening leaves no usable connection; start over next time.
        if self._identity is None:
            self._drop_connection()

    def _set_aside(self) -> bool:
        """Move the corrupt file aside (see :func:`failures.set_aside`); True to start fresh."""
        try:
            aside = failures.set_aside(self._path)
        except OSError as exc:
            self._give_up(failures.classify(exc), exc)
            return False
        if aside is not None:
            self._notice(f"corrupt:{aside}", failures.corrupt_message(self._path, aside))
        return True

    def _give_up(self, kind: str, exc: BaseException) -> None:
        self._drop_connection()
        self._disabled = True
        self._notice("gave-up", failures.gave_up_message(self._path, kind, exc))

    def _notice(self, key: str, message: str) -> None:
        with self._notice_lock:
            if key in self._noted:
                return
            self._noted.add(key)
            self._notices.append(message)
