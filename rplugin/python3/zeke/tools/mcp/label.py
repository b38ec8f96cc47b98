"""The name a tool server goes by in the audit and in messages, worked out from its
command line when the user's config gives it none (``glyph.name``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex


def label_for_cmd(argv: list[str], cwd: str | None = None) -> str:
    """The tool server's name for the audit and for messages: the package it comes
    from, not the file that happens to start it (``node …/dist/index.js`` is
    ``@modelcontextprotocol/server-filesystem``, not "index").

    ``npx``/``bunx``/``pnpm dlx``/``npm exec``: the package named in argv;
    ``uvx``/``pipx run``/``uv tool run``: the Python package; ``python -m mod``: the
    module; ``node``/``deno``/``bun`` a script: the ``name`` in the nearest
    ``package.json`` above it, else the script's name; ``python script.py``: the
    script's name; anything else: the executable's name. A config ``glyph.name``
    overrides all of this."""
    args = [a for a in argv if isinstance(a, str)]
    while args and _stem(args[0]) == "env":  # env [-i] [VAR=value …] cmd …
        args = args[1:]
        while args and (args[0].startswith("-") or "=" in args[0]):
            args = args[1:]
    if not args:
        return "tool server"
    stem, rest = _stem(args[0]), args[1:]
    sub = rest[0] if rest else ""
    if stem in ("npx", "bunx", "pnpx") or (
        (stem, sub) in {("pnpm", "dlx"), ("npm", "exec"), ("npm", "x"), ("yarn", "dlx")}
    ):
        rest = rest[1:] if stem in ("pnpm", "npm", "yarn") else rest
        package = _option(rest, ("-p", "--package")) or _first_operand(rest)
        return _npm_name(package) if package else stem
    if stem in ("uvx", "pipx") or (stem, sub) == ("uv", "tool"):
        rest = [a for a in rest if a not in ("run", "tool")]
        package = _option(rest, ("--from",)) or _first_operand(rest, ("--with", "--python"))
        return _python_name(package) if package else stem
    if stem in ("python", "uv"):
        if "-m" in rest[:-1]:
            return rest[rest.index("-m") + 1]
        script = _first_operand([a for a in rest if a != "run"])
        return _script_stem(script) if script else stem
    if stem in ("node", "nodejs", "deno", "bun", "tsx", "ts-node"):
        script = _first_operand([a for a in rest if a != "run"])
        if not script:
            return stem
        return _package_json_name(script, cwd) or _script_stem(script)
    if stem in ("sh", "bash", "zsh", "dash"):
        if "-c" in rest[:-1]:  # sh -c "npx …": name what the command line runs
            with contextlib.suppress(ValueError):
                inner = shlex.split(rest[rest.index("-c") + 1])
                inner = inner[1:] if inner[:1] == ["exec"] else inner
                if inner:
                    return label_for_cmd(inner, cwd)
        script = _first_operand(rest)
        return _script_stem(script) if script else stem
    return os.path.basename(args[0].rstrip("/")) or args[0]


def _stem(arg: str) -> str:
    """``/usr/bin/python3.12`` → ``python``; ``node.exe`` → ``node``."""
    base = os.path.basename(arg)
    if base.lower().endswith(".exe"):
        base = base[:-4]
    return "python" if base.startswith("python") else base


def _option(args: list[str], names: tuple[str, ...]) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _first_operand(args: list[str], valued: tuple[str, ...] = ()) -> str | None:
    """The first argument that is not an option (nor the value of one in ``valued``)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in valued:
            skip = True
            continue
        if arg == "--":
            continue
        if not arg.startswith("-"):
            return arg
    return None


def _npm_name(spec: str) -> str:
    """``@scope/name@1.2.3`` → ``@scope/name``; ``name@latest`` → ``name``."""
    at = spec.find("@", 1)
    return spec[:at] if at > 0 else spec


def _python_name(spec: str) -> str:
    """``mcp-server-git==1.0`` / ``pkg[extra]>=2`` / ``pkg@1.0`` → the distribution name."""
    name = re.split(r"[\[<>=!~@; ]", spec, maxsplit=1)[0]
    return name or spec


def _script_stem(script: str) -> str:
    name = os.path.basename(script.rstrip("/"))
    return os.path.splitext(name)[0] or name


def _package_json_name(script: str, cwd: str | None) -> str | None:
    """The ``name`` of the nearest package.json above ``script`` (a few levels at most)."""
    path = script if os.path.isabs(script) or cwd is None else os.path.join(cwd, script)
    try:
        d = os.path.dirname(os.path.realpath(path))
    except (OSError, ValueError):
        return None
    for _ in range(8):
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(d, "package.json"), encoding="utf-8") as f:
                meta = json.load(f)
            name = meta.get("name") if isinstance(meta, dict) else None
            if isinstance(name, str) and name.strip():
                return name.strip()
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return None
