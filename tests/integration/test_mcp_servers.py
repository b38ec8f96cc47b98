"""The MCP client against real servers and the way the host drives it.

- the real ``@modelcontextprotocol/server-filesystem`` (npm) on a temporary directory;
- the Glyph double driven from a blocking portal, as the host's worker thread does,
  through the §8 flow: offer tools, confine the path, read, preview, write.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

from zeke.errors import ZekeError
from zeke.tools.mcp import MCPClient
from zeke.tools.policy import (
    confine_path,
    offered_tools,
    proposed_write,
    to_openai_tools,
    tool_paths,
)

REPO = Path(__file__).resolve().parents[2]
FAKE = REPO / "tests" / "fakes" / "glyph.py"
FS_SERVER = REPO / ".cache" / "npm" / "node_modules" / ".bin" / "mcp-server-filesystem"
INSTALL = "npm install --prefix .cache/npm @modelcontextprotocol/server-filesystem@2026.8.31"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fs_server() -> Path:
    """The npm server: required in CI, skipped with a reason elsewhere."""
    if not os.access(FS_SERVER, os.X_OK):
        message = f"{FS_SERVER} is missing; install it with: {INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return FS_SERVER


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "a.txt").write_text("hello\nworld\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    return root.resolve()


@pytest.fixture
async def fs_client(fs_server: Path, workdir: Path) -> AsyncIterator[MCPClient]:
    client = MCPClient.from_config(
        {"cmd": [str(fs_server), str(workdir)]}, cwd=str(workdir), request_timeout=20
    )
    yield client
    await client.aclose()


@pytest.mark.anyio
async def test_filesystem_server_tools(fs_client: MCPClient) -> None:
    tools = await fs_client.list_tools()
    names = {t.name for t in tools}
    assert {"read_text_file", "write_file", "edit_file", "search_files", "list_directory"} <= names
    offered = {t.name for t in offered_tools(tools)}
    assert {"read_text_file", "write_file", "edit_file"} <= offered
    # a tool zeke does not know is not offered unless enabled
    assert "read_media_file" in names
    assert "read_media_file" not in offered
    edit = next(t for t in to_openai_tools(tools) if t["function"]["name"] == "edit_file")
    assert "edits" in edit["function"]["parameters"]["properties"]


@pytest.mark.anyio
async def test_filesystem_read_text_file(fs_client: MCPClient, workdir: Path) -> None:
    result = await fs_client.call_tool("read_text_file", {"path": str(workdir / "a.txt")})
    assert result.is_error is False
    assert result.text == "hello\nworld\n"


@pytest.mark.anyio
async def test_filesystem_edit_dry_run_returns_a_diff(fs_client: MCPClient, workdir: Path) -> None:
    args = {
        "path": str(workdir / "a.txt"),
        "edits": [{"oldText": "world", "newText": "there"}],
        "dryRun": True,
    }
    result = await fs_client.call_tool("edit_file", args)
    assert not result.is_error
    assert "-world" in result.text and "+there" in result.text
    assert (workdir / "a.txt").read_text() == "hello\nworld\n"  # dry run wrote nothing


@pytest.mark.anyio
async def test_filesystem_edit_matches_our_preview(fs_client: MCPClient, workdir: Path) -> None:
    """What the user is shown (proposed_write) is what the server then writes."""
    path = workdir / "code.py"
    path.write_text(
        "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        pass\n"
    )
    edits = [
        {"oldText": "return 1", "newText": "return 2"},
        {"oldText": "def g(self):\n    pass", "newText": "def g(self):\n    return 3"},
    ]
    args = {"path": str(path), "edits": edits}
    preview = proposed_write("edit_file", args, path.read_text())
    result = await fs_client.call_tool("edit_file", args)
    assert not result.is_error, result.text
    assert path.read_text() == preview.new


@pytest.mark.anyio
async def test_filesystem_write_file(fs_client: MCPClient, workdir: Path) -> None:
    result = await fs_client.call_tool(
        "write_file", {"path": str(workdir / "new.txt"), "content": "fresh\n"}
    )
    assert not result.is_error
    assert (workdir / "new.txt").read_text() == "fresh\n"


@pytest.mark.anyio
async def test_filesystem_path_outside_roots_is_an_error(
    fs_client: MCPClient, workdir: Path
) -> None:
    result = await fs_client.call_tool(
        "read_text_file", {"path": str(workdir.parent / "secret.txt")}
    )
    assert result.is_error is True
    assert "outside allowed directories" in result.text
    assert "outside\n" not in result.text  # the file's content did not leak


def test_glyph_double_through_a_portal_like_the_host(tmp_path: Path) -> None:
    """Calls arrive as separate portal tasks; the connection and its reader outlive them."""
    root = tmp_path
    (root / "main.py").write_text("def f():\n    return 1\n")
    cmd = [sys.executable, str(FAKE), "serve", "--transport", "stdio", "--root", str(root)]
    with start_blocking_portal() as portal:
        client = MCPClient.from_config({"cmd": cmd}, cwd=str(root), request_timeout=10)
        try:
            tools = portal.call(client.list_tools)
            offered = [t["function"]["name"] for t in to_openai_tools(offered_tools(tools))]
            assert offered == ["echo", "read_file", "write_file", "list_directory"]

            # the model asks to edit main.py; Glyph has no edit tool (§8)
            call = {"path": "main.py", "edits": [{"oldText": "return 1", "newText": "return 42"}]}
            for p in tool_paths("edit_file", call):
                confine_path(p, str(root))
            current = portal.call(client.call_tool, "read_file", {"path": "main.py"})
            change = proposed_write("edit_file", call, current.text)
            assert change.new == "def f():\n    return 42\n"
            # the user accepted: re-check the file, then write it whole
            again = portal.call(client.call_tool, "read_file", {"path": "main.py"})
            assert again.text == change.old
            wrote = portal.call(
                client.call_tool, "write_file", {"path": change.path, "content": change.new}
            )
            assert not wrote.is_error
            assert (root / "main.py").read_text() == "def f():\n    return 42\n"

            # a path outside the project is refused before anything is sent
            with pytest.raises(ZekeError, match="outside the project root"):
                confine_path("../elsewhere.txt", str(root))

            # a call started from another thread's future shares the same session
            future = portal.start_task_soon(client.call_tool, "echo", {"message": "bg"})
            assert future.result(timeout=10).text == "bg"
        finally:
            portal.call(client.aclose)
