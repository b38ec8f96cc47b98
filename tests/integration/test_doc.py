"""`:help zeke` is complete and cannot drift from the code.

A real Neovim builds the tags of doc/zeke.txt, opens every |link| with `:help`,
and reports the config schema, the user commands and the <Plug> maps that the
plugin really defines; each must be documented with its tag (and each config
key with its default), and each documented one must exist.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "doc" / "zeke.txt"
DEFAULTS = ROOT / "rplugin" / "python3" / "zeke" / "defaults.json"
GENERATOR = ROOT / "scripts" / "config_doc.lua"
README = ROOT / "README.md"

pytestmark = pytest.mark.nvim

# Runs inside `nvim -l`: builds the tags, opens each link, reports what the code defines.
PROBE_LUA = r"""
local root, docdir, links_json = arg[1], arg[2], arg[3]
local out = { helptags_error = vim.NIL, unresolved = {}, keys = {}, defaults = {} }

-- Only the copy under test and Neovim's own runtime: a stale doc/tags in the
-- repository must not make a broken link look fine.
vim.opt.rtp = { vim.fs.dirname(docdir), vim.env.VIMRUNTIME }
local ok, err = pcall(vim.cmd.helptags, docdir)
if not ok then out.helptags_error = tostring(err) end

for _, link in ipairs(vim.json.decode(links_json)) do
  local opened = pcall(vim.cmd.help, link)
  -- :help also accepts partial matches: the cursor must be on this exact tag
  local line = opened and vim.fn.getline(".") or ""
  if not opened or not line:find("*" .. link .. "*", 1, true) then
    table.insert(out.unresolved, link)
  end
  if opened then vim.cmd("silent! helpclose") end
end

package.path = root .. "/lua/?.lua;" .. package.path
local config = require("zeke.config")
out.fields = {}
for key, spec in pairs(config.schema) do
  table.insert(out.keys, key)
  if spec.fields then out.fields[key] = vim.tbl_keys(spec.fields) end
end
table.sort(out.keys)
local data = vim.fn.stdpath("data")
for key, value in pairs(config.defaults()) do
  if type(value) == "string" and vim.startswith(value, data) then
    value = { stdpath_data_tail = value:sub(#data + 1) }
  end
  out.defaults[key] = value
end
for _, key in ipairs(out.keys) do
  if out.defaults[key] == nil then out.defaults[key] = "<nil>" end
end

vim.cmd.source(root .. "/plugin/zeke.lua")
out.commands = vim.tbl_keys(vim.api.nvim_get_commands({ builtin = false }))
out.plugs = {}
for _, mode in ipairs({ "n", "x" }) do
  for _, map in ipairs(vim.api.nvim_get_keymap(mode)) do
    if vim.startswith(map.lhs, "<Plug>") then out.plugs[map.lhs] = true end
  end
end
out.plugs = vim.tbl_keys(out.plugs)
io.stdout:write(vim.json.encode(out))
"""


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def prose_lines(text: str) -> list[str]:
    """The lines outside example blocks (`>` at a line's end … `<` in column 1)."""
    out: list[str] = []
    in_block = False
    for line in text.splitlines():
        if in_block:
            if line.startswith("<") or (line and not line[0].isspace()):
                in_block = False
                out.append(line[1:] if line.startswith("<") else line)
            continue
        out.append(line)
        if re.search(r"(^|\s)>[a-z]*$", line):
            in_block = True
    return out


def links(text: str) -> list[str]:
    found: list[str] = []
    for line in prose_lines(text):
        # a help link: |tag| with no blanks, bars, quotes or stars inside
        found += re.findall(r"(?<![|\w])\|([^|\s\"*]+)\|(?![|\w])", line)
    return sorted(set(found))


def tags(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w*])\*([^*\s|]+)\*(?![\w*])", text))


def config_section(text: str, key: str) -> str:
    """The doc of one config key: from its tag to the next key's tag or section."""
    start = text.index(f"*zeke-config-{key}*")
    rest = text[start + 1 :]
    ends = [m.start() for m in re.finditer(r"\*zeke-config-[^*]+\*|^=+$", rest, re.M)]
    return rest[: ends[0] if ends else len(rest)]


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


def keys_of(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value] + [k for v in value.values() for k in keys_of(v)]
    return []


def lua_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return f'"{value}"'


_PROBES: dict[str, dict[str, Any]] = {}


@pytest.fixture
def probe(nvim_bin: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One Neovim run per binary, shared by the tests below (it takes a second)."""
    if nvim_bin not in _PROBES:
        _PROBES[nvim_bin] = run_probe(nvim_bin, tmp_path_factory.mktemp("doc"))
    return _PROBES[nvim_bin]


def run_probe(nvim_bin: str, tmp_path: Path) -> dict[str, Any]:
    docdir = tmp_path / "rt" / "doc"
    docdir.mkdir(parents=True)
    shutil.copy(DOC, docdir / "zeke.txt")
    script = tmp_path / "probe.lua"
    script.write_text(PROBE_LUA)
    env = {k: v for k, v in os.environ.items() if k not in ("ZEKE_API_BASE", "OLLAMA_HOST")}
    for sub in ("config", "data", "state", "cache"):
        env[f"XDG_{sub.upper()}_HOME"] = str(tmp_path / sub)
    proc = subprocess.run(
        [
            nvim_bin,
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "-n",
            "-l",
            str(script),
            str(ROOT),
            str(docdir),
            json.dumps(links(doc_text())),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_helptags_build_and_every_link_opens(probe):
    assert probe["helptags_error"] is None, probe["helptags_error"]
    assert len(links(doc_text())) > 40  # the parser really found the links
    assert probe["unresolved"] == [], f"|links| that :help cannot open: {probe['unresolved']}"


def test_every_config_key_is_documented_with_its_default(probe):
    text = doc_text()
    assert len(probe["keys"]) >= 20
    missing = [k for k in probe["keys"] if f"*zeke-config-{k}*" not in text]
    assert missing == [], f"config keys without a *zeke-config-KEY* tag: {missing}"
    wrong: list[str] = []
    for key in probe["keys"]:
        section = config_section(text, key)
        default = probe["defaults"][key]
        if default == "<nil>":
            expected = ["default: nil"]
        elif isinstance(default, dict) and "stdpath_data_tail" in default:
            expected = ['stdpath("data")', f'"{default["stdpath_data_tail"]}"']
        elif default in ({}, []):
            expected = ["{}"]
        else:
            expected = [lua_literal(v) for v in leaves(default)] + keys_of(default)
        wrong += [f"{key}: {e}" for e in expected if e not in section]
    assert wrong == [], f"defaults missing from their key's doc: {wrong}"


def test_documented_config_keys_exist(probe):
    documented = {
        t.removeprefix("zeke-config-") for t in tags(doc_text()) if t.startswith("zeke-config-")
    }
    assert documented, "no *zeke-config-KEY* tags found"
    assert documented - set(probe["keys"]) == set()


def test_every_command_is_documented_and_every_documented_one_exists(probe):
    commands = {c for c in probe["commands"] if c.startswith("Zeke")}
    assert "ZekeRefactor" in commands and len(commands) >= 10
    documented = {t[1:] for t in tags(doc_text()) if t.startswith(":Zeke")}
    assert commands - documented == set(), "commands without a *:Command* tag"
    assert documented - commands == set(), "documented commands that do not exist"


def test_every_plug_map_is_documented_and_every_documented_one_exists(probe):
    plugs = set(probe["plugs"])
    assert "<Plug>(zeke-refactor)" in plugs
    documented = {t for t in tags(doc_text()) if t.startswith("<Plug>(zeke")}
    assert plugs - documented == set(), "<Plug> maps without a tag"
    assert documented - plugs == set(), "documented <Plug> maps that do not exist"


def test_required_sections_are_tagged():
    have = tags(doc_text())
    required = {
        "zeke",
        "zeke-config",
        "zeke-commands",
        "zeke-api",
        "zeke-statusline",
        "zeke-events",
        "zeke-degraded",
        "zeke-consent",
        "zeke-health",
        "zeke-troubleshooting",
        "zeke-install",
        "zeke-mappings",
        "zeke.last()",
        "zeke.statusline()",
        "zeke.setup()",
        "ZekeRequestStart",
        "ZekeRequestDone",
        "ZekeStatus",
    }
    assert required - have == set()


def test_readme_gives_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


def generated(nvim_bin: str, tmp_path: Path) -> dict[str, str]:
    """What `make doc` would write, printed instead of written."""
    env = {k: v for k, v in os.environ.items() if k not in ("ZEKE_API_BASE", "OLLAMA_HOST")}
    for sub in ("config", "data", "state", "cache"):
        env[f"XDG_{sub.upper()}_HOME"] = str(tmp_path / sub)
    proc = subprocess.run(
        [nvim_bin, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-l", str(GENERATOR), "--print"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_config_section_and_the_host_defaults_are_generated_from_the_schema(nvim_bin, tmp_path):
    out = generated(nvim_bin, tmp_path)
    assert out["doc"] == doc_text(), "doc/zeke.txt's *zeke-config* is stale: run `make doc`"
    assert out["defaults"] == DEFAULTS.read_text(encoding="utf-8"), (
        "rplugin/python3/zeke/defaults.json is stale: run `make doc`"
    )


def test_every_field_of_a_table_key_is_documented(probe):
    """timeouts.connect, ui.width, omen.k, glyph.url …: each named in its key's doc."""
    text = doc_text()
    for key, fields in probe["fields"].items():
        section = config_section(text, key)
        missing = [f for f in fields if f != "*" and f"`{f}`:" not in section]
        assert missing == [], f"{key}: fields without their line in the help: {missing}"
