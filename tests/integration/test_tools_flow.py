"""The tool-call loop end to end in a real headless Neovim (docs/design.md §8).

The fake OMEN emits tool calls as OpenAI fragments by index, then answers on the
next request; the Glyph double (stdio) runs them. vim.ui.select / vim.ui.input are
replaced in the test Neovim to record the consent prompt and pick an answer.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kit
from fakes import omen as fo
from nvimharness import STABLE, every_build, wait_for

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUILDS = [STABLE]  # the key tests run on every build (@every_build)
LABELS = [
    "Allow once",
    "Allow write_file for this session",
    "Reject (tell the model why)",
    "Cancel all tool calls",
]
SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"


@pytest.fixture
def project(project: Path) -> Path:
    """The shared project, with files for the tools to read and write."""
    (project / "data.txt").write_text("API_TOKEN=hunter2\nbeta\n")
    (project / "notes.txt").write_text("old\n")
    return project


UI_RECORDER = """
_G.prompts, _G.inputs, _G.choices, _G.answers = {}, {}, {}, {}
vim.ui.select = function(items, opts, on_choice)
  local labels = {}
  for i, item in ipairs(items) do
    labels[i] = opts.format_item and opts.format_item(item) or tostring(item)
  end
  local b = vim.fn.bufnr('zeke: consent')
  table.insert(_G.prompts, {
    prompt = opts.prompt or '',
    kind = opts.kind or '',
    labels = labels,
    shown = b ~= -1 and vim.api.nvim_buf_get_lines(b, 0, -1, false) or {},
  })
  local want = table.remove(_G.choices, 1)
  local pick, idx = nil, nil
  for i, l in ipairs(labels) do
    if want and vim.startswith(l, want) then
      pick, idx = items[i], i
      break
    end
  end
  vim.schedule(function() on_choice(pick, idx) end) -- later, as real pickers do
end
vim.ui.input = function(opts, on_confirm)
  table.insert(_G.inputs, opts.prompt or '')
  local answer = table.remove(_G.answers, 1)
  vim.schedule(function() on_confirm(answer) end)
end
"""


start = functools.partial(
    kit.start, glyph=True, text=SOURCE, filetype="python", notes=True, lua=UI_RECORDER
)
""":ZekeRefactor on calc.py with the Glyph double rooted at the project, the UI recorded."""


def call(name: str, args: dict | str) -> tuple[str, str]:
    return (name, args if isinstance(args, str) else json.dumps(args))


def tool_turn(*calls: tuple[str, str]) -> fo.StreamReply:
    """One assistant turn that only asks for tools (OpenAI fragments by index)."""
    return fo.stream("", tool_calls=list(calls), finish_reason="tool_calls")


def choose(nv, *labels: str, answers: tuple[str, ...] = ()) -> None:
    nv.lua("_G.choices = ...; _G.answers = select(2, ...)", list(labels), list(answers))


def prompts(nv) -> list[dict[str, Any]]:
    return nv.lua("return _G.prompts")


def notes_text(nv) -> str:
    return "\n".join(n["msg"] for n in nv.notes())


def ask(nv, rng: str = "1,5", command: str = "ZekeRefactor", timeout: float = 15.0):
    nv.cmd(f"{rng}{command}")
    return nv.wait_done(timeout=timeout)


def tool_messages(omen_server, n: int = -1) -> list[dict[str, Any]]:
    """The role "tool" messages of the n-th chat request."""
    body = omen_server.chat_requests()[n].body
    return [m for m in body["messages"] if m.get("role") == "tool"]


def offered(omen_server, n: int = 0) -> set[str]:
    body = omen_server.chat_requests()[n].body
    return {t["function"]["name"] for t in body.get("tools") or []}


def audit(nv, rid: str, count: int) -> list[tuple[str, str, str]]:
    """(tool, decision, result) of the request's audit rows, once ``count`` are in and
    the request's own stats row (recorded after the last tool call) is written."""
    wait_for(
        lambda: len(nv.db_rows("SELECT id FROM tool_calls WHERE request_id = ?", rid)) >= count,
        message=f"{count} audit rows",
    )
    wait_for(
        lambda: nv.db_rows("SELECT id FROM routing_stats WHERE request_id = ?", rid),
        message="the request's stats row",
    )
    rows = nv.db_rows("SELECT * FROM tool_calls WHERE request_id = ?", rid)
    # rows are written from worker threads: their order is not the calls' order
    return sorted((r["tool"], r["decision"], r["result_status"]) for r in rows)


# Reads, consent, policies -----------------------------------------------------------------


@every_build
def test_read_file_runs_without_asking_and_result_goes_back(make_nvim, omen, project):
    omen.queue(tool_turn(call("read_file", {"path": "data.txt"})), fo.stream("It is a token."))
    nv = start(make_nvim, omen, project)
    last = ask(nv)
    assert last["state"] == "done", last
    assert prompts(nv) == []
    assert "It is a token." in nv.scratch_text()

    _first, second = omen.chat_requests()
    assert offered(omen, 0) == {"echo", "read_file", "write_file", "list_directory"}
    assistant = next(m for m in second.body["messages"] if m.get("tool_calls"))
    assert assistant["tool_calls"][0]["id"] == "call_fake0"
    assert assistant["tool_calls"][0]["function"]["name"] == "read_file"
    (msg,) = tool_messages(omen)
    assert msg["tool_call_id"] == "call_fake0"
    assert msg["content"] == "API_TOKEN=hunter2\nbeta\n"
    assert [(c["name"], c["decision"], c["status"]) for c in last["tool_calls"]] == [
        ("read_file", "allow", "ok")
    ]
    assert audit(nv, last["id"], 1) == [("read_file", "allow", "ok")]
    # the audit keeps a digest of the arguments and never what the file holds
    (row,) = nv.db_rows("SELECT * FROM tool_calls WHERE request_id = ?", last["id"])
    assert "hunter2" not in repr(tuple(row))


@every_build
def test_write_asks_with_the_diff_and_allow_once_writes(make_nvim, omen, project):
    omen.queue(
        tool_turn(call("write_file", {"path": "notes.txt", "content": "new\n"})),
        fo.stream("Updated the notes."),
    )
    nv = start(make_nvim, omen, project)
    nv.cmd(f"split {project / 'notes.txt'}")  # open, no unsaved edits: reloaded after the write
    nv.cmd("wincmd p")
    choose(nv, "Allow once")
    last = ask(nv)
    assert last["state"] == "done", last

    (p,) = prompts(nv)
    assert "write_file" in p["prompt"] and "notes.txt" in p["prompt"]
    assert p["labels"] == LABELS
    assert "-old" in p["shown"] and "+new" in p["shown"]
    assert nv.lua("return vim.fn.bufnr('zeke: consent')") == -1  # closed after the answer
    assert (project / "notes.txt").read_text() == "new\n"
    wait_for(
        lambda: (
            nv.lua(
                "return vim.api.nvim_buf_get_lines(vim.fn.bufnr(...), 0, -1, false)",
                str(project / "notes.txt"),
            )
            == ["new"]
        ),
        message="the open buffer to show the new content",
    )
    (msg,) = tool_messages(omen)
    assert msg["tool_call_id"] == "call_fake0" and "Successfully wrote" in msg["content"]
    assert audit(nv, last["id"], 1) == [("write_file", "allow", "ok")]


def test_reject_with_a_reason_goes_back_to_the_model(make_nvim, omen, project):
    omen.queue(
        tool_turn(call("write_file", {"path": "notes.txt", "content": "new\n"})),
        fo.stream("Understood."),
    )
    nv = start(make_nvim, omen, project)
    choose(nv, "Reject", answers=("keep the old wording",))
    last = ask(nv)
    assert last["state"] == "done", last
    assert len(prompts(nv)) == 1 and len(nv.lua("return _G.inputs")) == 1
    assert (project / "notes.txt").read_text() == "old\n"
    (msg,) = tool_messages(omen)
    assert "rejected" in msg["content"] and "keep the old wording" in msg["content"]
    assert audit(nv, last["id"], 1) == [("write_file", "reject", "not_run")]


def test_allow_for_the_session_is_not_asked_again(make_nvim, omen, project):
    omen.queue(
        tool_turn(call("write_file", {"path": "a.txt", "content": "A\n"})),
        fo.stream("Wrote a."),
        tool_turn(call("write_file", {"path": "b.txt", "content": "B\n"})),
        fo.stream("Wrote b."),
    )
    nv = start(make_nvim, omen, project)
    choose(nv, "Allow write_file for this session")
    first = ask(nv)
    second = ask(nv)
    assert second["state"] == "done", second
    assert len(prompts(nv)) == 1
    assert (project / "a.txt").read_text() == "A\n"
    assert (project / "b.txt").read_text() == "B\n"
    assert audit(nv, first["id"], 1) == [("write_file", "allow_session", "ok")]
    assert audit(nv, second["id"], 1) == [("write_file", "allow_session", "ok")]


def test_cancel_all_stops_the_loop(make_nvim, omen, project):
    omen.queue(
        tool_turn(
            call("write_file", {"path": "notes.txt", "content": "new\n"}),
            call("write_file", {"path": "more.txt", "content": "more\n"}),
        ),
        fo.stream("should never be asked for"),
    )
    nv = start(make_nvim, omen, project)
    choose(nv, "Cancel all")
    last = ask(nv)
    assert last["state"] in ("done", "cancelled"), last
    assert len(prompts(nv)) == 1
    assert len(omen.chat_requests()) == 1  # nothing more was sent to the model
    assert (project / "notes.txt").read_text() == "old\n"
    assert not (project / "more.txt").exists()
    assert "cancelled" in notes_text(nv)
    # the user's decision is recorded like any other, for every call it stopped
    assert [(c["name"], c["decision"], c["status"]) for c in last["tool_calls"]] == [
        ("write_file", "cancel", "not_run")
    ] * 2
    assert audit(nv, last["id"], 2) == [("write_file", "cancel", "not_run")] * 2


@pytest.mark.parametrize("consent", ["ask", "allow", "function"])
def test_a_write_to_a_buffer_with_unsaved_edits_is_refused(make_nvim, omen, project, consent):
    """Whatever the consent mode: the write would land under the user's unsaved edits."""
    omen.queue(
        tool_turn(call("write_file", {"path": "notes.txt", "content": "new\n"})),
        fo.stream("Fine."),
    )
    nv = start(
        make_nvim, omen, project, config={"consent": "allow" if consent == "allow" else "ask"}
    )
    if consent == "function":
        nv.lua("require('zeke').setup({ consent = function() return true end })")
    nv.cmd(f"split {project / 'notes.txt'}")
    nv.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'my unsaved words' })")
    nv.cmd("wincmd p")
    last = ask(nv)
    assert last["state"] == "done", last
    assert prompts(nv) == []  # refused before asking
    assert (project / "notes.txt").read_text() == "old\n"
    buf = nv.lua(
        "return vim.api.nvim_buf_get_lines(vim.fn.bufnr(...), 0, -1, false)",
        str(project / "notes.txt"),
    )
    assert buf == ["my unsaved words"]
    (msg,) = tool_messages(omen)
    assert "unsaved edits" in msg["content"]
    assert audit(nv, last["id"], 1) == [("write_file", "reject", "not_run")]


def test_dismissing_the_prompt_rejects(make_nvim, omen, project):
    omen.queue(
        tool_turn(call("write_file", {"path": "notes.txt", "content": "new\n"})),
        fo.stream("Fine."),
    )
    nv = start(make_nvim, omen, project)
    choose(nv)  # <Esc>: no choice
    last = ask(nv)
    assert last["state"] == "done", last
    assert len(prompts(nv)) == 1
    assert (project / "notes.txt").read_text() == "old\n"
    assert audit(nv, last["id"], 1) == [("write_file", "reject", "not_run")]


def test_consent_allow_writes_without_a_prompt(make_nvim, omen, project):
    omen.queue(
        tool_turn(call("write_file", {"path": "notes.txt", "content": "new\n"})),
        fo.stream("Done."),
    )
    nv = start(make_nvim, omen, project, config={"consent": "allow"})
    last = ask(nv)
    assert prompts(nv) == []
    assert (project / "notes.txt").read_text() == "new\n"
    assert audit(nv, last["id"], 1) == [("write_file", "policy", "ok")]


@pytest.mark.parametrize("allowed", [False, True])
def test_consent_function_policy(make_nvim, omen, project, allowed):
    omen.queue(
        tool_turn(call("write_file", {"path": "notes.txt", "content": "new\n"})),
        fo.stream("Done."),
    )
    setup = (
        "local allowed = ...; _G.policy_calls = {};"
        "require('zeke').setup({ consent = function(tool, args)"
        "  table.insert(_G.policy_calls, { tool = tool, path = args.path }); return allowed end })"
    )
    nv = start(make_nvim, omen, project)
    nv.lua(setup, allowed)  # before the first command: the host starts with it
    last = ask(nv)
    assert last["state"] == "done", last
    assert prompts(nv) == []
    calls = nv.lua("return _G.policy_calls")
    assert [c["tool"] for c in calls] == ["write_file"]
    assert calls[0]["path"].endswith("notes.txt")
    assert (project / "notes.txt").read_text() == ("new\n" if allowed else "old\n")
    (msg,) = tool_messages(omen)
    if allowed:
        assert audit(nv, last["id"], 1) == [("write_file", "policy", "ok")]
    else:
        assert "rejected" in msg["content"]
        assert audit(nv, last["id"], 1) == [("write_file", "reject", "not_run")]


# Bad input ---------------------------------------------------------------------------------


def test_paths_out_of_the_project_are_refused_whatever_the_policy(
    make_nvim, omen, project, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "secret.txt").write_text("TOPSECRET\n")
    (project / "link").symlink_to(outside, target_is_directory=True)
    omen.queue(
        tool_turn(
            call("write_file", {"path": "../escaped.txt", "content": "x\n"}),
            call("write_file", {"path": "link/evil.txt", "content": "x\n"}),
            call("read_file", {"path": "../secret.txt"}),
            call("read_file", {"path": str(tmp_path / "secret.txt")}),
        ),
        fo.stream("Understood."),
    )
    nv = start(make_nvim, omen, project, config={"consent": "allow"})
    last = ask(nv)
    assert last["state"] == "done", last
    assert not (tmp_path / "escaped.txt").exists()
    assert list(outside.iterdir()) == []
    msgs = tool_messages(omen)
    assert [m["tool_call_id"] for m in msgs] == [f"call_fake{i}" for i in range(4)]
    for m in msgs:
        assert "outside the project root" in m["content"]
        assert "TOPSECRET" not in m["content"]
    assert audit(nv, last["id"], 4) == [
        ("read_file", "refused", "not_run"),
        ("read_file", "refused", "not_run"),
        ("write_file", "refused", "not_run"),
        ("write_file", "refused", "not_run"),
    ]


GIT_SERVER = Path(sys.executable).parent / "mcp-server-git"


@pytest.fixture
def git_server() -> Path:
    """The real mcp-server-git (PyPI): required in CI, skipped with a reason elsewhere."""
    if not os.access(GIT_SERVER, os.X_OK):
        message = f"{GIT_SERVER} is missing; install it with: pip install mcp-server-git"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return GIT_SERVER


def git(*args: str | Path) -> None:
    subprocess.run(["git", *map(str, args)], check=True, capture_output=True)


def test_a_real_git_server_is_kept_to_the_project(make_nvim, omen, project, git_server, tmp_path):
    """mcp-server-git takes its repository as ``repo_path``, a name no fixed list knew:
    with consent = "allow" a call read another repository outside the project."""
    other = tmp_path / "other-repo"
    other.mkdir()
    git("init", "-q", other)
    (other / "their-private-plans.txt").write_text("x\n")
    git("init", "-q", project)
    (project / "mine.txt").write_text("y\n")
    omen.queue(
        tool_turn(
            call("git_status", {"repo_path": str(other)}),
            call("git_status", {"repo_path": f"{project}/../other-repo"}),
            call("git_status", {"repo_path": str(project)}),
        ),
        fo.stream("Done."),
    )
    config = {"glyph": {"cmd": [str(git_server)]}, "consent": "allow",
              "tools": {"enable": ["git_status"]}}  # fmt: skip
    nv = start(make_nvim, omen, project, config=config)
    last = ask(nv, timeout=40)
    assert last["state"] == "done", last
    assert "git_status" in offered(omen, 0)
    assert [(c["decision"], c["status"]) for c in last["tool_calls"]] == [
        ("refused", "not_run"),
        ("refused", "not_run"),
        ("policy", "ok"),
    ]
    outside, dotdot, inside = (m["content"] for m in tool_messages(omen))
    for refused in (outside, dotdot):
        assert "repo_path" in refused and "outside the project root" in refused
        assert "their-private-plans" not in refused
    assert "mine.txt" in inside  # the project's own repository still works
    assert audit(nv, last["id"], 3) == [
        ("git_status", "policy", "ok"),
        ("git_status", "refused", "not_run"),
        ("git_status", "refused", "not_run"),
    ]
    rows = nv.db_rows("SELECT * FROM tool_calls WHERE request_id = ?", last["id"])
    details = [r["detail"] for r in rows if r["decision"] == "refused"]
    assert all("repo_path" in d and "outside the project root" in d for d in details), details
    assert {r["server"] for r in rows} == {"mcp-server-git"}


FS_PACKAGE = (
    REPO / ".cache" / "npm" / "node_modules" / "@modelcontextprotocol" / "server-filesystem"
)


def test_the_audit_names_a_node_server_by_its_package(make_nvim, omen, project):
    """Started as ``node …/dist/index.js``, the server is its package, not "index"."""
    index = FS_PACKAGE / "dist" / "index.js"
    if not index.exists():
        message = f"{index} is missing; install it with: make test-deps"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    omen.queue(tool_turn(call("read_text_file", {"path": "notes.txt"})), fo.stream("Read."))
    nv = start(
        make_nvim, omen, project, config={"glyph": {"cmd": ["node", str(index), str(project)]}}
    )
    last = ask(nv, timeout=30)
    assert last["state"] == "done", last
    assert tool_messages(omen)[0]["content"] == "old\n"
    assert audit(nv, last["id"], 1) == [("read_text_file", "allow", "ok")]
    (row,) = nv.db_rows("SELECT server FROM tool_calls WHERE request_id = ?", last["id"])
    assert row["server"] == "@modelcontextprotocol/server-filesystem"


def test_invented_or_unoffered_tools_are_refused_and_the_model_told(make_nvim, omen, project):
    omen.queue(
        tool_turn(call("format_disk", {}), call("delete_file", {"path": "calc.py"})),
        fo.stream("Sorry."),
    )
    nv = start(make_nvim, omen, project, config={"consent": "allow"})
    last = ask(nv)
    assert last["state"] == "done", last
    assert (project / "calc.py").exists()
    m1, m2 = tool_messages(omen)
    assert "format_disk" in m1["content"] and "no tool" in m1["content"]
    assert "delete_file" in m2["content"] and "no tool" in m2["content"]
    assert audit(nv, last["id"], 2) == [
        ("delete_file", "refused", "not_run"),
        ("format_disk", "refused", "not_run"),
    ]


def test_arguments_that_are_not_json_are_refused(make_nvim, omen, project):
    omen.queue(
        tool_turn(call("write_file", '{"path": "notes.txt", "content": "new')),
        fo.stream("Oops."),
    )
    nv = start(make_nvim, omen, project, config={"consent": "allow"})
    last = ask(nv)
    assert last["state"] == "done", last
    assert (project / "notes.txt").read_text() == "old\n"
    (msg,) = tool_messages(omen)
    assert "not valid JSON" in msg["content"]
    assert audit(nv, last["id"], 1) == [("write_file", "refused", "not_run")]


def test_a_tool_error_goes_back_to_the_model_as_text(make_nvim, omen, project):
    omen.queue(tool_turn(call("read_file", {"path": "missing.txt"})), fo.stream("No such file."))
    nv = start(make_nvim, omen, project)
    last = ask(nv)
    assert last["state"] == "done", last
    assert len(omen.chat_requests()) == 2
    (msg,) = tool_messages(omen)
    assert "No such file" in msg["content"]
    assert audit(nv, last["id"], 1) == [("read_file", "allow", "error")]


def test_server_crash_mid_call(make_nvim, omen, project):
    omen.queue(
        tool_turn(call("write_file", {"path": "notes.txt", "content": "new\n"})),
        fo.stream("The tool failed."),
    )
    nv = start(
        make_nvim, omen, project, config={"consent": "allow"}, env={"GLYPH_CRASH_ON": "write_file"}
    )
    last = ask(nv)
    assert last["state"] == "done", last
    assert (project / "notes.txt").read_text() == "old\n"
    (msg,) = tool_messages(omen)
    assert "stopped" in msg["content"] and "write_file" in msg["content"]
    assert audit(nv, last["id"], 1) == [("write_file", "policy", "error")]
    # the user is told too, not only the model
    shown = notes_text(nv) + "\n" + nv.scratch_text()
    assert "write_file" in shown and "stopped" in shown


def test_server_hang_times_out(make_nvim, omen, project):
    """A hung tool call ends after the configured tool timeout (timeouts.tool)."""
    omen.queue(
        tool_turn(call("write_file", {"path": "notes.txt", "content": "new\n"})),
        fo.stream("The tool timed out."),
    )
    nv = start(
        make_nvim,
        omen,
        project,
        config={"consent": "allow", "timeouts": {"tool": 1.5}},
        env={"GLYPH_HANG_ON": "write_file"},
    )
    last = ask(nv, timeout=12)
    assert last["state"] == "done", last
    assert (project / "notes.txt").read_text() == "old\n"
    (msg,) = tool_messages(omen)
    assert "did not answer" in msg["content"]
    assert audit(nv, last["id"], 1) == [("write_file", "policy", "timeout")]
    shown = notes_text(nv) + "\n" + nv.scratch_text()
    assert "write_file" in shown and "did not answer" in shown


def test_a_model_that_loops_on_tools_stops_at_max_turns(make_nvim, omen, project):
    def again(rec: fo.Recorded) -> fo.StreamReply:
        return tool_turn(call("read_file", {"path": "data.txt"}))

    omen.queue(*[again] * 10)
    nv = start(make_nvim, omen, project, config={"tools": {"max_turns": 3}})
    last = ask(nv)
    assert last["state"] == "done", last
    assert len(omen.chat_requests()) == 3
    # each turn carried the results of the turns before it
    assert [len(tool_messages(omen, n)) for n in range(3)] == [0, 1, 2]
    notes = notes_text(nv)
    assert "stopped after 3 turns" in notes and "were not run" in notes
    # the third turn's call was never run: its result could not reach the model; it is
    # on record all the same, saying why
    assert audit(nv, last["id"], 3) == [("read_file", "allow", "ok")] * 2 + [
        ("read_file", "refused", "not_run")
    ]
    (row,) = nv.db_rows("SELECT detail FROM tool_calls WHERE result_status = 'not_run'")
    assert "max_turns" in row["detail"]


@pytest.mark.parametrize(
    ("enable", "expected"),
    [
        ([], {"echo", "read_file", "write_file", "list_directory"}),
        (["delete_file"], {"echo", "read_file", "write_file", "list_directory", "delete_file"}),
    ],
    ids=["default", "delete_file-enabled"],
)
def test_destructive_tools_only_when_enabled(make_nvim, omen, project, enable, expected):
    omen.queue(fo.stream("Nothing to do."))
    cfg = {"tools": {"enable": enable}} if enable else {}
    nv = start(make_nvim, omen, project, config=cfg)
    ask(nv)
    assert offered(omen) == expected
    assert not offered(omen) & {"shell_execute", "http_request"}


def test_no_tools_for_explain(make_nvim, omen, project):
    omen.queue(fo.stream("It adds numbers."))
    nv = start(make_nvim, omen, project)
    ask(nv, command="ZekeExplain")
    assert "tools" not in omen.chat_requests()[0].body
