"""zeke's tool loop in a real Neovim against the MCP reference servers: ``mcp-server-time``
and ``mcp-server-git`` (PyPI) and ``@modelcontextprotocol/server-filesystem`` (npm),
with a scripted model that asks for tools, straight and through LiteLLM's real proxy
(which re-streams the model's tool-call fragments in its own way)."""

from __future__ import annotations

import functools
import json
import subprocess
from datetime import datetime, timezone

import pytest

import kit
from fakes import omen as fo
from nvimharness import one_build, wait_for
from realprograms import FS_SERVER, GIT_SERVER, MASTER_KEY, TIME_SERVER, require

pytestmark = [pytest.mark.mcpreal, pytest.mark.nvim]

SOURCE = "def total(xs):\n    return sum(xs)\n"
UI_RECORDER = """
_G.prompts = {}
vim.ui.select = function(items, opts, on_choice)
  table.insert(_G.prompts, opts.prompt or '')
  vim.schedule(function() on_choice(items[1], 1) end) -- the first choice: allow once
end
"""

start = functools.partial(kit.start, text=SOURCE, notes=True, lua=UI_RECORDER)


@pytest.fixture
def project(project):
    (project / "notes.txt").write_text("old\n")
    return project


@pytest.fixture
def time_server():
    return require(TIME_SERVER, "install it with: pip install mcp-server-time (make test-deps)")


@pytest.fixture
def git_server():
    return require(GIT_SERVER, "install it with: pip install mcp-server-git (make test-deps)")


@pytest.fixture
def fs_server():
    return require(FS_SERVER, "install it with: make test-deps (npm)")


def call(name: str, args: dict) -> tuple[str, str]:
    return (name, json.dumps(args))


def tool_turn(*calls: tuple[str, str]) -> fo.StreamReply:
    return fo.stream("", tool_calls=list(calls), finish_reason="tool_calls")


def tool_messages(server, n: int = -1) -> list[dict]:
    """The role "tool" messages the model got in the n-th chat request."""
    return [m for m in server.chat_requests()[n].body["messages"] if m.get("role") == "tool"]


def audit(nv, request_id: str, n: int) -> list[tuple[str, str, str, str]]:
    """(server, tool, decision, status) of the request's tool calls, once there are n."""
    rows = wait_for(
        lambda: (lambda rows: rows if len(rows) >= n else None)(
            nv.db_rows("SELECT * FROM tool_calls WHERE request_id = ? ORDER BY id", request_id)
        ),
        timeout=30,
        message=f"{n} audit rows",
    )
    return [(r["server"], r["tool"], r["decision"], r["result_status"]) for r in rows]


def refactor(nv, timeout: float = 60.0) -> dict:
    nv.cmd("1,2ZekeRefactor")  # tools are offered to code and tests requests
    return nv.wait_done(timeout=timeout)


@one_build
def test_the_time_server_answers_the_models_call(make_nvim, omen, project, time_server):
    omen.queue(tool_turn(call("get_current_time", {"timezone": "UTC"})), fo.stream("Noted."))
    config = {"glyph": {"cmd": [str(time_server)]}, "tools": {"enable": ["get_current_time"]}}
    nv = start(make_nvim, omen, project, config)
    last = refactor(nv)
    assert last["state"] == "done", last
    (message,) = tool_messages(omen)
    result = json.loads(message["content"])
    assert result["timezone"] == "UTC"
    said = datetime.fromisoformat(result["datetime"])
    assert abs((datetime.now(timezone.utc) - said).total_seconds()) < 600, result
    assert audit(nv, last["id"], 1)[0][:2] == ("mcp-server-time", "get_current_time")
    assert audit(nv, last["id"], 1)[0][3] == "ok"


@one_build
def test_a_time_zone_the_server_refuses_goes_back_to_the_model_as_an_error(
    make_nvim, omen, project, time_server
):
    omen.queue(
        tool_turn(call("get_current_time", {"timezone": "Mars/Olympus_Mons"})),
        fo.stream("That zone does not exist."),
    )
    config = {"glyph": {"cmd": [str(time_server)]}, "tools": {"enable": ["get_current_time"]}}
    nv = start(make_nvim, omen, project, config)
    last = refactor(nv)
    assert last["state"] == "done", last  # the model got the error and answered
    (message,) = tool_messages(omen)
    assert "Mars/Olympus_Mons" in message["content"], message
    assert "That zone does not exist." in nv.scratch_text()
    (row,) = audit(nv, last["id"], 1)
    assert row[3] == "error", row


@one_build
def test_tool_calls_through_litellm_run_on_the_filesystem_server(
    make_nvim, project, backend, litellm, fs_server
):
    backend.queue(tool_turn(call("read_text_file", {"path": "notes.txt"})), fo.stream("Read."))
    config = {"alias": "code-fast", "glyph": {"cmd": [str(fs_server), str(project)]}}
    nv = start(make_nvim, litellm, project, config, env={"ZEKE_API_KEY": MASTER_KEY})
    last = refactor(nv)
    assert last["state"] == "done", last
    assert len(backend.chat_requests()) == 2
    (message,) = tool_messages(backend)
    assert message["content"] == "old\n"
    assert "Read." in nv.scratch_text()
    # turn 2 asked LiteLLM for the same group: the deployment it named is no model it takes
    assert [r.body["model"] for r in backend.chat_requests()] == ["deepseek-coder-v2-lite"] * 2
    assert audit(nv, last["id"], 1) == [("mcp-server-filesystem", "read_text_file", "allow", "ok")]
    assert (project / "notes.txt").read_text() == "old\n"


@one_build
def test_the_git_server_through_litellm_sees_the_project_only(
    make_nvim, project, backend, litellm, git_server, tmp_path
):
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    other = tmp_path / "elsewhere"
    other.mkdir()
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    backend.queue(
        tool_turn(
            call("git_status", {"repo_path": str(project)}),
            call("git_status", {"repo_path": str(other)}),
        ),
        fo.stream("Clean."),
    )
    config = {
        "alias": "code-fast",
        "glyph": {"cmd": [str(git_server)]},
        "tools": {"enable": ["git_status"]},
    }
    nv = start(make_nvim, litellm, project, config, env={"ZEKE_API_KEY": MASTER_KEY})
    last = refactor(nv)
    assert last["state"] == "done", last
    inside, outside = (m["content"] for m in tool_messages(backend))
    assert "notes.txt" in inside, inside  # untracked in the project's repository
    assert "outside the project root" in outside, outside
    rows = audit(nv, last["id"], 2)
    assert {(r[1], r[3]) for r in rows} == {("git_status", "ok"), ("git_status", "not_run")}
    assert {r[0] for r in rows} == {"mcp-server-git"}
