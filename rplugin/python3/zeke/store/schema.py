"""The cache's schema: the packaged numbered migrations, read and applied.

Each ``migrations/NNNN_name.sql`` runs once, in order, and is recorded in
``PRAGMA user_version``; a database made by another client from only the
first migrations is brought up to date without losing rows.  The files are
data (``pyproject.toml`` ships them), so they are found through
``importlib.resources`` and read once per process.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Migration:
    """One migration file, split into what runs outside and inside its transaction."""

    version: int
    name: str
    pragmas: tuple[str, ...]  # run outside the transaction (journal_mode cannot run inside)
    statements: tuple[str, ...]


_MIGRATION_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")
_migrations_cache: tuple[Migration, ...] | None = None


def _strip_sql_comments(sql: str) -> str:
    """``sql`` without leading whitespace and comments (to see what it starts with)."""
    s = sql.lstrip()
    while True:
        if s.startswith("--"):
            nl = s.find("\n")
            s = "" if nl < 0 else s[nl + 1 :].lstrip()
        elif s.startswith("/*"):
            end = s.find("*/")
            s = "" if end < 0 else s[end + 2 :].lstrip()
        else:
            return s


def _split_statements(script: str) -> list[str]:
    """Split a script into complete statements, comments kept with them."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf)
            buf = ""
    if _strip_sql_comments(buf):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buf!r}")
    return out


def load_migrations() -> tuple[Migration, ...]:
    """The packaged migrations, in order (read once per process)."""
    global _migrations_cache
    if _migrations_cache is None:
        folder = resources.files("zeke.store") / "migrations"
        found: list[Migration] = []
        for entry in folder.iterdir():
            m = _MIGRATION_NAME.match(entry.name)
            if not m:
                continue
            pragmas: list[str] = []
            statements: list[str] = []
            for stmt in _split_statements(entry.read_text(encoding="utf-8")):
                if _strip_sql_comments(stmt).upper().startswith("PRAGMA"):
                    pragmas.append(stmt)
                else:
                    statements.append(stmt)
            found.append(Migration(int(m.group(1)), entry.name, tuple(pragmas), tuple(statements)))
        found.sort(key=lambda mig: mig.version)
        # A gap would leave user_version ambiguous; this is a packaging bug.
        if [mig.version for mig in found] != list(range(1, len(found) + 1)):
            raise RuntimeError(f"zeke migrations are not numbered 1..N: {[m.name for m in found]}")
        _migrations_cache = tuple(found)
    return _migrations_cache


def migrate(conn: sqlite3.Connection) -> None:
    """Apply every migration newer than the database's ``user_version``, each in one transaction.

    Safe against another process migrating the same file at the same time:
    the version is read again once the write lock is held.
    """
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for mig in load_migrations():
        if mig.version <= current:
            continue
        # journal_mode and foreign_keys are no-ops (or errors) inside a
        # transaction, so a migration's PRAGMAs run just before it.
        for pragma in mig.pragmas:
            conn.execute(pragma).fetchall()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if mig.version <= current:
                conn.execute("COMMIT")
                continue
            for stmt in mig.statements:
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {mig.version}")
            conn.execute("COMMIT")
            current = mig.version
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
