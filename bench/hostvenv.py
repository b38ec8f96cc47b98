"""The host's interpreter in the bench: a venv with zeke's runtime dependencies only.

A user's host runs on the venv `make install` makes: pynvim, httpx, anyio, msgpack
and what they need. The developer's `.venv` also holds the test extras (`make
test-deps`), and with click and pygments installed `import httpx` loads its command
line too (~80 ms of every cold start a user never pays). So the bench builds its own
venv the way `make install` does, under `.cache/`, once per change of the
dependencies, and measures zeke's host on that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".cache" / "bench-host-venv"
STAMP = VENV / ".zbench-deps"
WHEELS = ROOT / ".cache" / "test-wheels"  # `make test-deps` keeps the runtime wheels here


def runtime_dependencies() -> list[str]:
    """``[project] dependencies`` of pyproject.toml: what `make install` installs."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def ensure() -> Path:
    """The bench host's python, building the venv when missing or out of date."""
    deps = runtime_dependencies()
    want = json.dumps({"python": sys.version, "deps": deps})
    python = VENV / "bin" / "python"
    if python.exists() and STAMP.exists() and STAMP.read_text() == want:
        return python
    print(f"· building the bench host's venv ({', '.join(deps)}) in {VENV}", flush=True)
    venv.EnvBuilder(clear=True, with_pip=True).create(VENV)
    cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if WHEELS.is_dir():
        cmd += ["--find-links", str(WHEELS)]
    env = dict(os.environ, PIP_CACHE_DIR=str(ROOT / ".cache" / "pip"))
    subprocess.run([*cmd, *deps], check=True, env=env, timeout=600)
    STAMP.write_text(want)
    return python


def packages(python: Path) -> str:
    """The versions the host venv holds, for the results' machine section."""
    names = ["pynvim", "httpx", "anyio", "msgpack", "greenlet", "httpcore", "h11"]
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = metadata.version(n)\n"
        "    except metadata.PackageNotFoundError: out[n] = '-'\n"
        "print(json.dumps(out))"
    )
    got = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=True, timeout=60
    )
    return ", ".join(f"{k} {v}" for k, v in json.loads(got.stdout).items())
