"""What the user sees on the screen: a real Neovim with a UI attached (this test is
the terminal), its screen kept cell by cell from the redraw events.

The demo's welcome fits an 80-column terminal and its hint selects the function
it names; a command run from visual mode leaves no `-- VISUAL LINE --` behind;
windows have short names, not UUIDs, and the badge shows once on the screen;
:ZekeModel's columns line up for long and wide model names; :checkhealth counts
in words and names the alias this project uses.
"""

from __future__ import annotations

import ast
import os
import re
import threading
from pathlib import Path
from typing import Any

import pynvim

from fakes import omen as fo
from nvimharness import ROOT, STABLE, wait_for

DEFAULT_BUILDS = [STABLE]

SOURCE = "def total(xs):\n    return sum(xs)\n"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
STATUSLINE = "%f %m%=%{%v:lua.require'zeke'.statusline()%}"


class Screen:
    """Grid 1 of an attached UI (no ext_multigrid: every window is drawn there)."""

    def __init__(self, nvim: pynvim.Nvim, width: int = 80, height: int = 24) -> None:
        self.nvim = nvim
        self.width, self.height = width, height
        self.rows = [[" "] * width for _ in range(height)]
        self._token = 0
        self._seen = 0
        nvim.ui_attach(width, height, rgb=True, ext_linegrid=True)

    def sync(self, timeout: float = 20.0) -> bool:
        """Apply every redraw up to a full redraw Neovim does now; False when Neovim
        did not get to it in time (it is blocked, at a hit-enter prompt say)."""
        self._token += 1
        self.nvim.exec_lua(
            "local chan, token = ...; vim.schedule(function() vim.cmd('redraw');"
            " vim.rpcnotify(chan, 'zeke_look_sync', token) end)",
            self.nvim.channel_id,
            self._token,
            async_=True,
        )
        timer = threading.Timer(timeout, lambda: self.nvim.async_call(self.nvim.stop_loop))
        timer.start()
        try:
            self.nvim.run_loop(None, self._notification)
        finally:
            timer.cancel()
        return self._seen == self._token

    def lines(self) -> list[str]:
        return ["".join(r).rstrip() for r in self.rows]

    def text(self) -> str:
        return "\n".join(self.lines())

    def _notification(self, name: str, args: list[Any]) -> None:
        if name == "redraw":
            for event in args:
                for call in event[1:]:
                    self._apply(event[0], call)
        elif name == "zeke_look_sync" and args[0] == self._token:
            self._seen = self._token
            self.nvim.stop_loop()

    def _apply(self, name: str, args: list[Any]) -> None:
        if name == "grid_resize":
            self.width, self.height = args[1], args[2]
            self.rows = [[" "] * self.width for _ in range(self.height)]
        elif name == "grid_clear":
            self.rows = [[" "] * self.width for _ in range(self.height)]
        elif name == "grid_line":
            row, col, cells = args[1], args[2], args[3]
            if row >= self.height:
                return
            for cell in cells:
                for _ in range(cell[2] if len(cell) > 2 else 1):
                    if col < self.width:
                        self.rows[row][col] = cell[0]
                    col += 1
        elif name == "grid_scroll":
            top, bot, left, right, rows = args[1:6]
            order = range(top, bot - rows) if rows > 0 else range(bot - 1, top - rows - 1, -1)
            for i in order:
                self.rows[i][left:right] = self.rows[i + rows][left:right]


# -- the demo ------------------------------------------------------------------------


def demo_init(tmp_path: Path) -> Path:
    """The init.lua scripts/demo writes for its Neovim, exactly as it writes it."""
    script = (ROOT / "scripts" / "demo").read_text(encoding="utf-8")
    body = re.search(r"cat >\"\$DEMO_HOME/init.lua\" <<'EOF'\n(.*?)\nEOF\n", script, re.S)
    assert body, "scripts/demo no longer writes init.lua with a quoted heredoc"
    path = tmp_path / "init.lua"
    path.write_text(body.group(1) + "\n", encoding="utf-8")
    return path


def open_demo(nvim_bin: str, tmp_path: Path) -> tuple[pynvim.Nvim, Screen]:
    """Neovim as the demo opens it, on the sample, in an 80x24 terminal."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "inventory.py").write_text(
        (ROOT / "scripts" / "sample" / "inventory.py").read_text(encoding="utf-8")
    )
    env = dict(os.environ)
    for sub in ("config", "data", "state", "cache"):
        (tmp_path / sub).mkdir()
        env[f"XDG_{sub.upper()}_HOME"] = str(tmp_path / sub)
    for name in ("ZEKE_API_BASE", "OLLAMA_HOST", "ZEKE_DEMO_MODE"):
        env.pop(name, None)
    argv = [nvim_bin, "--embed", "-u", str(demo_init(tmp_path)), "-i", "NONE", "-n",
            "--cmd", f"set rtp^={ROOT}", "inventory.py"]  # fmt: skip
    # pynvim starts the child with this process's environment and working directory
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)
    os.chdir(project)
    os.environ.clear()
    os.environ.update(env)
    try:
        # without --headless, Neovim starts (VimEnter, the welcome) once a UI attaches
        nvim = pynvim.attach("child", argv=argv)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return nvim, Screen(nvim, 80, 24)


def test_the_demo_welcome_fits_an_80_column_terminal(nvim_bin: str, tmp_path: Path) -> None:
    nvim, screen = open_demo(nvim_bin, tmp_path)
    try:
        synced = screen.sync()
        mode = nvim.api.get_mode()
        text = screen.text()
        assert synced and mode["mode"] == "n", (mode, text)  # "r": a hit-enter prompt
        assert "Press ENTER" not in text, text
        last = screen.lines()[-1]
        assert last.startswith("zeke: ") and last.endswith(":qa quits."), text  # all of it
    finally:
        nvim.close()


def test_the_demo_hint_selects_exactly_the_function_it_names(nvim_bin: str, tmp_path: Path):
    nvim, screen = open_demo(nvim_bin, tmp_path)
    try:
        assert screen.sync()
        hint = screen.lines()[-1]
        found = re.search(r"(\S+) selects (\w+)", hint)
        assert found, hint
        keys, name = found.groups()
        tree = ast.parse((ROOT / "scripts" / "sample" / "inventory.py").read_text())
        func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        nvim.input(keys)
        assert screen.sync()
        selected = nvim.exec_lua(
            "local a, b = vim.fn.getpos('v')[2], vim.fn.getpos('.')[2];"
            "return { vim.api.nvim_get_mode().mode, math.min(a, b), math.max(a, b) }"
        )
        assert selected == ["V", func.lineno, func.end_lineno], (hint, selected)
    finally:
        nvim.close()


# -- a session of the plugin with a UI --------------------------------------------------


def start(make_nvim, omen, project: Path, width: int = 80, height: int = 24, **config):
    nv = make_nvim({"api_base": omen.url, "fallback": False, **config})
    nv.cmd(f"cd {project}")
    nv.open_file(project / "calc.py", SOURCE)
    nv.lua("vim.o.laststatus = 2; vim.o.statusline = ...", STATUSLINE)
    return nv, Screen(nv.nvim, width, height)


def test_a_command_from_visual_mode_leaves_no_mode_message(make_nvim, omen, project) -> None:
    omen.queue(fo.stream("An answer."))
    nv, screen = start(make_nvim, omen, project)
    nv.nvim.input("Vj")
    assert screen.sync() and "-- VISUAL LINE --" in screen.text()
    # the <Plug> map runs the command with visual mode still on (a <Cmd> mapping)
    nv.lua("vim.api.nvim_feedkeys(vim.keycode('<Plug>(zeke-explain)'), 'm', false)")
    last = nv.wait_done()
    assert last["state"] == "done"
    assert screen.sync()
    assert nv.nvim.api.get_mode()["mode"] == "n"
    assert "-- VISUAL" not in screen.text(), screen.text()
    assert "zeke ✓" in screen.text()  # the screen did redraw with the answer


def badge_rows(screen: Screen) -> list[str]:
    return [line for line in screen.lines() if "zeke ✓" in line]


def test_windows_have_short_names_and_the_badge_shows_once_on_the_screen(
    make_nvim, omen, project
) -> None:
    omen.queue(fo.stream("Shorter:\n\n```python\ndef total(xs):\n    return sum(xs)  # ok\n```\n"))
    nv, screen = start(make_nvim, omen, project, width=160, height=40)
    nv.cmd("1,2ZekeRefactor")
    last = nv.wait_done()
    wait_for(lambda: nv.lua("return vim.tbl_count(require('zeke.review').pending)") == 1)
    assert screen.sync()
    text = screen.text()
    assert "zeke: refactor #1" in text and "zeke: review calc.py" in text, text
    assert last["id"] not in text and not UUID.search(text), text
    # once on the screen: the answer's header, not also a statusline
    rows = badge_rows(screen)
    assert len(rows) == 1, text
    assert sum(line.count("zeke ✓") for line in rows) == 1, text
    answer_win = nv.lua("return vim.fn.bufwinid(require('zeke').last().buf)")
    winbar_row = nv.lua("return vim.fn.win_screenpos(...)[1] - 1", answer_win)
    assert "zeke ✓" in screen.lines()[winbar_row], text
    # with the answer closed, the statusline still tells
    nv.lua("vim.api.nvim_win_close(..., true)", answer_win)
    assert screen.sync()
    assert len(badge_rows(screen)) == 1, screen.text()


# -- :ZekeModel ------------------------------------------------------------------------

CAPTURE_SELECT = """
_G.picked = nil
vim.ui.select = function(items, opts, on_choice)
  local lines = {}
  for i, item in ipairs(items) do lines[i] = opts.format_item(item) end
  _G.picked = lines
  on_choice(nil, nil)
end
"""

ALIASES = {
    "fast": {"provider": "ollama", "model": "qwen2.5-coder:1.5b"},
    "a-very-long-alias-name": {
        "provider": "openrouter",
        "model": "anthropic/claude-3-5-sonnet-20241022-extended",
    },
    "wide": {"provider": "ollama", "model": "模型-7b"},
}


def test_the_model_picker_lines_up_long_and_wide_names(make_nvim, omen, project) -> None:
    nv, _screen = start(make_nvim, omen, project, aliases=ALIASES)
    nv.lua(CAPTURE_SELECT)
    nv.cmd("ZekeModel")
    lines = wait_for(lambda: nv.lua("return _G.picked"), message="the picker")
    assert all(any(name in line.split()[:2] for line in lines) for name in ALIASES), lines

    def column(line: str, needle: str) -> int:
        before = line[: line.index(needle)]
        return nv.lua("return vim.fn.strdisplaywidth(...)", before)

    facts = {column(line, "no requests yet") for line in lines}
    assert len(facts) == 1, "\n".join(lines)
    models = {
        column(line, spec["model"][:6])
        for name, spec in ALIASES.items()
        for line in lines
        if name in line.split()[:2]
    }
    assert len(models) == 1, "\n".join(lines)
    widest = max(nv.lua("return vim.fn.strdisplaywidth(...)", line) for line in lines)
    assert widest < 120, "\n".join(lines)  # a long name is cut, not the whole table pushed


# -- :checkhealth zeke -----------------------------------------------------------------


def test_checkhealth_counts_in_words_and_names_the_alias_in_use(
    make_nvim, omen, project, tmp_path
) -> None:
    omen.models = omen.models[:1]
    nv, _screen = start(
        make_nvim, omen, project, aliases=ALIASES, ollama_host=omen.url, timeouts={"connect": 1}
    )
    nv.cmd("ZekeModel fast")
    wait_for(lambda: "grim now uses fast" in nv.messages(), message="the alias to be chosen")
    nv.cmd("checkhealth zeke")
    lines = nv.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")
    text = "\n".join(lines)
    assert any("OMEN models:" in ln and "1 model listed" in ln for ln in lines), text
    assert "1 models" not in text, text
    assert any(
        "OK" in ln and "grim uses the alias fast (chosen with :ZekeModel)" in ln for ln in lines
    ), text


def test_checkhealth_names_the_configured_alias_when_none_was_chosen(
    make_nvim, omen, project
) -> None:
    nv, _screen = start(make_nvim, omen, project, aliases=ALIASES, alias="wide")
    nv.cmd("checkhealth zeke")
    lines = nv.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")
    assert any("grim uses the alias wide (the config's `alias`)" in ln for ln in lines), lines
