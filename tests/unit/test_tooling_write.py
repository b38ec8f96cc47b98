"""Writing an accepted change through a tool server (Tooling.write_change), against a
scripted server: which tools it has decides how the file is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zeke.changes import diffing
from zeke.changes import proposal as changes
from zeke.errors import ZekeError
from zeke.protocol import Events
from zeke.settings import Settings
from zeke.tools.mcp import ToolInfo, ToolResult
from zeke.tools.service import ApplyInBuffer, Tooling


class ScriptedServer:
    """Tools that act on the real disk like simple servers do: reads and writes UTF-8;
    ``edit_file`` (when offered) rewrites every line end as LF; ``write_file`` never
    makes directories."""

    name = "scripted"

    def __init__(self, tools: set[str]) -> None:
        self.tools = tools
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def list_tools(self) -> list[ToolInfo]:
        return [ToolInfo(name, "", {}) for name in sorted(self.tools)]

    async def call_tool(self, name: str, args: dict[str, Any]) -> ToolResult:
        self.calls.append((name, args))
        path = Path(args["path"])
        try:
            if name in ("read_file", "read_text_file"):
                return ToolResult(path.read_bytes().decode("utf-8", "replace"), False, {})
            if name == "write_file":
                path.write_bytes(args["content"].encode("utf-8"))
            elif name == "edit_file":
                text = path.read_bytes().decode().replace("\r\n", "\n")
                for e in args["edits"]:
                    old = e["oldText"].replace("\r\n", "\n")
                    text = text.replace(old, e["newText"].replace("\r\n", "\n"), 1)
                path.write_bytes(text.encode())
            elif name == "create_directory":
                path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return ToolResult(f"{type(e).__name__}: {e}", True, {})
        return ToolResult("ok", False, {})


def _tooling(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> Tooling:
    t = Tooling(
        settings=lambda: Settings.from_lua({"glyph": {"cmd": ["x"]}}),
        events=Events(lambda *a: None),
        audit=lambda r: None,
    )

    async def client(root: str) -> ScriptedServer:
        return server

    monkeypatch.setattr(t, "client", client)
    return t


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    return tmp_path.resolve()


def _change(path: Path, buffer: list[str], proposed: list[str], *, create: bool = False):
    prop = changes.Proposal(
        id="r1",
        kind="file",
        path=str(path),
        original=[] if create else buffer,
        proposed=proposed,
        hunks=diffing.compute_hunks([] if create else buffer, proposed),
        create=create,
    )
    applied = changes.apply(prop, [""] if create else buffer, range(len(prop.hunks)))
    return prop, applied


@pytest.mark.anyio
async def test_write_file_keeps_crlf_and_the_missing_final_newline(project, monkeypatch) -> None:
    path = project / "a.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree")
    server = ScriptedServer({"read_text_file", "write_file", "edit_file"})
    prop, applied = _change(path, ["one", "two", "three"], ["one", "TWO", "three"])
    notes = await _tooling(server, monkeypatch).write_change(
        prop, ["one", "two", "three"], applied, fileformat="dos"
    )
    assert notes == []
    assert path.read_bytes() == b"one\r\nTWO\r\nthree"
    assert [c[0] for c in server.calls] == ["read_text_file", "write_file"]


@pytest.mark.anyio
async def test_edit_file_only_server_says_when_it_changed_the_line_ends(
    project, monkeypatch
) -> None:
    path = project / "a.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    server = ScriptedServer({"read_text_file", "edit_file"})
    prop, applied = _change(path, ["one", "two"], ["one", "TWO"])
    notes = await _tooling(server, monkeypatch).write_change(
        prop, ["one", "two"], applied, fileformat="dos"
    )
    assert path.read_bytes() == b"one\nTWO\n"  # that server's doing: and the user is told
    (note,) = notes
    assert "edit_file" in note and "line ends" in note and "a.txt" in note


@pytest.mark.anyio
async def test_new_file_in_a_missing_directory_without_create_directory(
    project, monkeypatch
) -> None:
    path = project / "tests" / "unit" / "test_a.py"
    server = ScriptedServer({"read_text_file", "write_file"})
    prop, applied = _change(path, [], ["def test_a():", "    pass"], create=True)
    await _tooling(server, monkeypatch).write_change(prop, [""], applied)
    assert path.read_text() == "def test_a():\n    pass\n"
    assert [c[0] for c in server.calls] == ["write_file"]


@pytest.mark.anyio
async def test_new_file_in_a_missing_directory_with_create_directory(project, monkeypatch) -> None:
    path = project / "tests" / "test_a.py"
    server = ScriptedServer({"read_text_file", "write_file", "create_directory"})
    prop, applied = _change(path, [], ["x = 1"], create=True)
    await _tooling(server, monkeypatch).write_change(prop, [""], applied)
    assert path.read_text() == "x = 1\n"
    assert server.calls[0] == ("create_directory", {"path": str(project / "tests")})


@pytest.mark.anyio
async def test_missing_directory_through_a_symlink_out_of_the_project(
    project, monkeypatch, tmp_path_factory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (project / "tests").symlink_to(outside / "gone")  # dangling, leads outside
    path = project / "tests" / "test_a.py"
    server = ScriptedServer({"write_file"})
    prop, applied = _change(path, [], ["x = 1"], create=True)
    with pytest.raises(ZekeError) as err:
        await _tooling(server, monkeypatch).write_change(prop, [""], applied)
    assert err.value.kind == "refused"
    assert not (outside / "gone").exists()
    assert server.calls == []


@pytest.mark.anyio
async def test_latin1_file_is_applied_in_the_buffer(project, monkeypatch) -> None:
    path = project / "a.py"
    path.write_bytes("# café\nx = 1\n".encode("latin-1"))
    server = ScriptedServer({"read_text_file", "write_file"})
    buffer = ["# café", "x = 1"]
    prop, applied = _change(path, buffer, ["# café", "x = 2"])
    with pytest.raises(ApplyInBuffer) as err:
        await _tooling(server, monkeypatch).write_change(
            prop, buffer, applied, fileencoding="latin1"
        )
    assert "latin1" in err.value.message and "UTF-8" in err.value.message
    assert "reload" not in err.value.message
    assert path.read_bytes() == "# café\nx = 1\n".encode("latin-1")
    assert server.calls == []


@pytest.mark.anyio
async def test_ascii_text_in_a_latin1_file_is_written(project, monkeypatch) -> None:
    path = project / "a.py"
    path.write_bytes(b"x = 1\n")
    server = ScriptedServer({"read_text_file", "write_file"})
    prop, applied = _change(path, ["x = 1"], ["x = 2"])
    await _tooling(server, monkeypatch).write_change(
        prop, ["x = 1"], applied, fileencoding="latin1"
    )
    assert path.read_bytes() == b"x = 2\n"
