"""Which project a file belongs to: its name (for tags and stats) and its root (where
context comes from and where tool calls may work). The only I/O is looking for ``.git``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def _git_root(start: str) -> str | None:
    d = os.path.abspath(start)
    while True:
        # A file named .git is a worktree or submodule: still the project root.
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _name_of(root: str) -> str:
    return os.path.basename(root.rstrip(os.sep)) or root


def project_config(value: Any) -> tuple[str | None, str | None]:
    """(name, root) from the config key ``project``: a name (``"grim"``), or a table
    ``{ name = "grim", root = "~/src/grim" }`` where either may be left out."""
    if isinstance(value, str):
        return value or None, None
    if not isinstance(value, Mapping):
        return None, None
    name, root = value.get("name"), value.get("root")
    return (
        name if isinstance(name, str) and name else None,
        root if isinstance(root, str) and root.strip() else None,
    )


def _configured_root(root: str, cwd: str) -> str:
    return os.path.abspath(os.path.join(cwd, os.path.expanduser(root.strip())))


def project_of(path: str | None, cwd: str, root: str | None = None) -> tuple[str, str]:
    """(name, root) of the project: ``root`` when configured (``project.root``), else
    the git root above the file (else above ``cwd``) and its basename; without git,
    ``cwd`` and its basename (a place to pack context from, not one tools may use:
    see ``tool_root``)."""
    cwd = os.path.abspath(cwd)
    if root:
        configured = _configured_root(root, cwd)
        return _name_of(configured), configured
    if path:
        full = path if os.path.isabs(path) else os.path.join(cwd, path)
        found = _git_root(os.path.dirname(os.path.abspath(full)))
        if found is not None:
            return _name_of(found), found
    found = _git_root(cwd)
    if found is not None:
        return _name_of(found), found
    return _name_of(cwd), cwd


def tool_root(path: str | None, cwd: str, root: str | None = None) -> str | None:
    """Where tool calls may read and write: the configured ``project.root``, else the
    git root above the file (else above ``cwd``). None without either: started from
    ``$HOME`` outside any repository, the current directory is no project, and a tool
    must not plant files there."""
    _name, found = project_of(path, cwd, root)
    if root or os.path.exists(os.path.join(found, ".git")):
        return found
    return None


NO_ROOT_HINT = (
    'set project = { root = "/path/to/project" } in setup(), or run `git init` '
    "in the project's directory"
)
