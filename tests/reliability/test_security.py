"""Security: the router key stays secret, secrets in the code stay on the machine,
tool calls stay inside the project, and an "ask" write never happens without a yes.

Every check searches what a user (or an attacker with the same access) could read:
other processes' argv, zeke's log, the cache, the messages and the answer buffer.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
from pathlib import Path

import pytest

from fakes import omen as fo
from faultkit import SOURCE, frame, start
from kit import glyph_config
from nvimharness import db_rows, one_build, wait_for, wait_rows


def all_cmdlines() -> dict[int, bytes]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):  # the process went away meanwhile
                out[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
    return out


def children(pid: int) -> list[int]:
    """Child processes of ``pid``, whichever of its threads started them."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(x) for x in (task / "children").read_text().split()]
    return out


def everything_the_user_can_see(nv) -> str:
    """Messages, the answer buffers, last() and the status variable, as one text."""
    return "\n".join(
        [
            nv.messages(),
            nv.lua(
                "local out = {}"
                " for _, b in ipairs(vim.api.nvim_list_bufs()) do"
                "   if vim.b[b].zeke_view then"
                "     table.insert(out, table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\\n'))"
                "   end"
                " end return table.concat(out, '\\n')"
            ),
            repr(nv.last()),
            repr(nv.lua("return vim.g.zeke_status")),
        ]
    )


# Not shaped like any known token (no sk-, no Bearer), so the checks below prove zeke
# hides *its own* key, not just strings that look like keys.
KEY = "omenlive_" + secrets.token_hex(12)


@one_build
def test_api_key_never_in_argv_log_cache_or_messages(omen, project, make_nvim):
    omen.api_key = KEY  # the router checks it: a wrong or missing key would fail here
    (project / "notes.txt").write_text("hello\n")

    def echo_key(rec):
        # a careless router echoing the credential it was given
        auth = rec.headers.get("authorization", "")
        return fo.error(500, {"error": {"message": f"upstream said no to {auth} ({KEY})",
                                        "type": "api_error", "code": 500}})  # fmt: skip

    omen.queue(
        fo.stream("Reading. ", tool_calls=[("read_file", '{"path": "notes.txt"}')],
                  finish_reason="tool_calls"),
        fo.stream("All good."),
        echo_key,
        echo_key,  # the retry with the concrete model sees the same
        fo.stall_after([frame("before the crash")]),
    )  # fmt: skip
    nv = start(
        make_nvim,
        omen,
        project,
        config={"glyph": glyph_config(), "consent": "allow", "log_level": "debug"},
        env={"ZEKE_API_KEY": KEY},
    )
    nv.cmd("1ZekeRefactor")  # tools offered: the tool server starts too
    ok = nv.wait_done(timeout=20)
    assert ok["state"] == "done" and ok["tool_calls"][0]["status"] == "ok"
    assert omen.chat_requests()[0].headers["authorization"] == f"Bearer {KEY}"

    host = nv.host_pid()
    tool_server = children(host)
    assert tool_server, "the tool server should be running"
    leaks = {pid for pid, argv in all_cmdlines().items() if KEY.encode() in argv}
    assert not leaks, f"the key is in the argv of {leaks}"

    omen.api_key = "something-else"  # now the router refuses us: 401, empty body
    nv.cmd("1ZekeExplain")
    denied = nv.wait_done()
    assert denied["state"] == "error" and "ZEKE_API_KEY" in denied["error"]
    omen.api_key = KEY

    nv.cmd("1ZekeExplain")
    echoed = nv.wait_done()
    assert echoed["state"] == "error" and "500" in echoed["error"]

    nv.cmd("1ZekeExplain")
    wait_for(lambda: "before the crash" in nv.scratch_text(), message="text before the crash")
    os.kill(host, signal.SIGKILL)
    crashed = nv.wait_done()
    assert crashed["state"] == "error" and "host exited" in crashed["error"]

    log = nv.log_file()
    assert log.exists() and "request" in log.read_text()  # debug logging was on
    db = nv.db_path()
    assert db_rows(db, "SELECT COUNT(*) FROM routing_stats")[0][0] >= 3
    places = {
        "what the user sees (messages, answer buffers, last(), status)": everything_the_user_can_see(
            nv
        ).encode(),
        "zeke's log": log.read_bytes(),
        "the cache": b"".join(f.read_bytes() for f in (db, Path(f"{db}-wal")) if f.exists()),
        "a process's argv": b"\0".join(all_cmdlines().values()),
    }
    leaks = [where for where, data in places.items() if KEY.encode() in data]
    assert leaks == [], f"the key leaked into: {leaks}"


@one_build
def test_a_router_and_a_tool_server_that_echo_the_key_leave_it_nowhere(omen, project, make_nvim):
    """Servers that hand the key back wherever they can: routing headers, routing
    metadata, the model name, the answer (cut in two), tool call arguments, a tool
    result. It must reach no place a user or another program could read."""
    omen.api_key = KEY
    (project / ".env").write_text(f"OMEN_API_KEY={KEY}\n")  # what the tool server prints
    echo = {
        "headers": {"X-OMEN-Provider": KEY, "X-OMEN-Trace-Echo": f"Bearer {KEY}"},
        "routing_metadata": {"provider": KEY, "model_used": KEY, "routing_reason": f"for {KEY}"},
    }
    half = len(KEY) // 2
    calls = [
        ("write_file", json.dumps({"path": "echo.txt", "content": f"key={KEY}\n"})),
        ("shell_execute", json.dumps({"command": "cat .env missing.txt"})),
    ]
    omen.queue(
        fo.stream(["Checking ", KEY[:half], KEY[half:], " now. "], tool_calls=calls,
                  finish_reason="tool_calls", **echo),
        fo.stream(["Done: ", KEY[:3], KEY[3:], "."], model=KEY, **echo),
    )  # fmt: skip
    config = {
        "glyph": glyph_config(),
        "consent": "allow",
        "tools": {"enable": ["shell_execute"]},
        "log_level": "debug",
    }
    nv = start(make_nvim, omen, project, config=config, env={"ZEKE_API_KEY": KEY})
    nv.cmd("1ZekeRefactor")
    last = nv.wait_done(timeout=30)
    assert last["state"] == "done", last
    assert [(c["name"], c["status"]) for c in last["tool_calls"]] == [
        ("write_file", "ok"),
        ("shell_execute", "error"),  # cat: missing.txt: no such file (after printing .env)
    ]
    # the echoes were there, and arrived as [redacted]
    assert "Checking [redacted] now." in nv.scratch_text()
    assert (project / "echo.txt").read_text() == "key=[redacted]\n"
    results = [
        m["content"] for m in omen.chat_requests()[1].body["messages"] if m["role"] == "tool"
    ]
    assert "OMEN_API_KEY=[redacted]" in results[1]

    db = nv.db_path()
    wait_for(lambda: db_rows(db, "SELECT COUNT(*) FROM routing_trace")[0][0] >= 1
             and db_rows(db, "SELECT COUNT(*) FROM tool_calls")[0][0] >= 2,
             message="the trace and audit rows")  # fmt: skip
    log = nv.log_file()
    places = {
        "what the user sees (messages, answer buffers, last(), status)": everything_the_user_can_see(
            nv
        ).encode(),
        "zeke's log": log.read_bytes(),
        "the cache (every table, and its WAL)": b"".join(
            f.read_bytes() for f in (db, Path(f"{db}-wal")) if f.exists()
        ),
        "a file the tool server wrote": (project / "echo.txt").read_bytes(),
    }
    leaks = [where for where, data in places.items() if KEY.encode() in data]
    assert leaks == [], f"the key leaked into: {leaks}"


@one_build
def test_tool_server_does_not_inherit_the_router_key(omen, project, make_nvim):
    """The MCP server is third-party code with a shell tool; it has no use for the
    router's key, so it must not find it in its environment."""
    omen.queue(fo.stream("ok"))
    # the defaults, and a name the user chose with api_key_env
    config = {"glyph": glyph_config(), "api_key_env": ["MY_ROUTER_KEY", "ZEKE_API_KEY"]}
    nv = start(make_nvim, omen, project, config=config,
               env={"ZEKE_API_KEY": KEY, "OMEN_API_KEY": KEY, "MY_ROUTER_KEY": KEY})  # fmt: skip
    nv.cmd("1ZekeRefactor")
    assert nv.wait_done(timeout=20)["state"] == "done"
    (server,) = children(nv.host_pid())
    environ = Path(f"/proc/{server}/environ").read_bytes()
    assert b"glyph.py" in Path(f"/proc/{server}/cmdline").read_bytes()
    assert KEY.encode() not in environ, "the tool server was handed the router key"


SECRET_FILE = """\
import os

DATABASE_URL = "postgres://app:hunter2-db-pass@db.internal/app"
api_key = "abcd1234efgh5678ijkl9012mnop"
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY


def connect():
    return os.environ.get("DATABASE_URL")


PRIVATE = '''
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAzfakekeymaterialZZ1234567890abcdefFAKE
c2VjcmV0LWtleS1ib2R5LWxpbmUtdHdvLW5vdC1yZWFsLWF0LWFsbA
-----END RSA PRIVATE KEY-----
'''
"""
SECRET_VALUES = [
    "hunter2-db-pass",
    "abcd1234efgh5678ijkl9012mnop",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "MIIEowIBAAKCAQEAzfakekeymaterialZZ1234567890abcdefFAKE",
    "c2VjcmV0LWtleS1ib2R5LWxpbmUtdHdvLW5vdC1yZWFsLWF0LWFsbA",
]


def test_secrets_in_the_selection_and_context_are_redacted(omen, project, make_nvim):
    omen.queue(fo.stream("Looks fine."))
    nv = start(make_nvim, omen, project)
    nv.open_file(project / "settings.py", SECRET_FILE)
    # the selection holds the api_key line and the key block; the rest is context
    nv.cmd("4,17ZekeExplain what does this do?")
    assert nv.wait_done()["state"] == "done"
    (req,) = omen.chat_requests()
    sent = req.raw.decode("utf-8", "replace")
    for value in SECRET_VALUES:
        assert value not in sent, f"{value!r} left the machine"
    assert "def connect():" in sent and "what does this do?" in sent
    assert "BEGIN RSA PRIVATE KEY" in sent or "redacted" in sent  # marked, not silently cut
    assert "secret" in nv.messages() and "redacted" in nv.messages()  # the user is told


@one_build
def test_tool_calls_cannot_escape_the_project_root(omen, project, make_nvim, tmp_path):
    """The escapes test_tools_flow.py does not try (it covers ``../x``, ``link/x`` writes
    and ``..``/absolute reads), plus a write inside that must go through."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    (project / "link").symlink_to(outside, target_is_directory=True)
    (project / "sub").mkdir()
    escapes = [
        ("write_file", {"path": str(outside / "pwned1.txt"), "content": "x"}),
        ("write_file", {"path": "sub/../../outside/pwned2.txt", "content": "x"}),
        ("write_file", {"path": "sub/../link/pwned3.txt", "content": "x"}),
        ("read_file", {"path": "link/secret.txt"}),
        ("read_file", {"path": "./sub/../link/../link/secret.txt"}),
        ("list_directory", {"path": ".."}),
        ("list_directory", {"path": "link"}),
        # inside the project, but code git runs: no tool call may write there
        ("write_file", {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\nrm -rf ~\n"}),
        ("write_file", {"path": "sub/../.git/config", "content": "[core]\n"}),
    ]
    calls = [(n, json.dumps(a)) for n, a in escapes]
    calls.append(("write_file", json.dumps({"path": "sub/inside.txt", "content": "fine\n"})))
    omen.queue(fo.stream("Working. ", tool_calls=calls, finish_reason="tool_calls"),
               fo.stream("Done."))  # fmt: skip
    nv = start(make_nvim, omen, project, config={"glyph": glyph_config(), "consent": "allow"})
    nv.cmd("1ZekeRefactor")
    last = nv.wait_done(timeout=30)
    assert last["state"] == "done", last

    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]  # nothing written there
    assert (project / "sub" / "inside.txt").read_text() == "fine\n"  # the loop itself works
    decisions = [(c["name"], c["decision"], c["status"]) for c in last["tool_calls"]]
    assert decisions == [(n, "refused", "not_run") for n, _ in escapes] + [
        ("write_file", "policy", "ok")
    ]
    results = [m for m in omen.chat_requests()[1].body["messages"] if m["role"] == "tool"]
    assert len(results) == len(calls)
    # nothing read or listed from outside (a listing would show "[FILE] secret.txt")
    assert not any("TOP SECRET" in m["content"] or "[FILE]" in m["content"] for m in results)
    outside, dot_git = results[: len(escapes) - 2], results[len(escapes) - 2 : -1]
    assert all("outside the project" in m["content"] for m in outside)
    assert all("inside a .git directory" in m["content"] for m in dot_git)
    assert sorted(p.name for p in (project / ".git").iterdir()) == []
    db = nv.db_path()
    wait_rows(db, len(calls), "SELECT id FROM tool_calls")
    audit = db_rows(db, "SELECT decision FROM tool_calls ORDER BY id")
    assert [d for (d,) in audit] == ["refused"] * len(escapes) + ["policy"]


def no_project(tmp_path: Path) -> Path:
    """A directory outside any git repository, like $HOME."""
    home = tmp_path / "home"
    home.mkdir()
    if any((p / ".git").exists() for p in home.parents):
        pytest.skip("the temp dir is inside a git checkout")
    return home


@one_build
@pytest.mark.parametrize("configured", [False, True], ids=["no-root", "project.root"])
def test_outside_any_project_a_tool_call_cannot_plant_a_file(omen, make_nvim, tmp_path, configured):
    """Started outside any repository (from $HOME), the current directory is no
    project: without project.root, tools are off and the user is told how to fix it."""
    home = no_project(tmp_path)
    call = ("write_file", json.dumps({"path": "planted.txt", "content": "x\n"}))
    omen.queue(fo.stream("Writing. ", tool_calls=[call], finish_reason="tool_calls"),
               fo.stream("Done."))  # fmt: skip
    config: dict = {"glyph": glyph_config(), "consent": "allow"}
    root = home / "work"
    root.mkdir()
    if configured:
        config["project"] = {"name": "work", "root": str(root)}
    nv = start(make_nvim, omen, home, config=config)
    nv.cmd("1ZekeRefactor")
    last = nv.wait_done(timeout=20)
    assert last["state"] == "done", last
    if configured:  # an explicit root: tools work, there and only there
        assert (root / "planted.txt").read_text() == "x\n"
        assert not (home / "planted.txt").exists()
        assert [c["status"] for c in last["tool_calls"]] == ["ok"]
        assert "zeke: config key" not in nv.messages()  # the table is a valid value
        return
    assert not (home / "planted.txt").exists()
    assert last["tool_calls"] == []
    assert "tools" not in omen.chat_requests()[0].body  # none offered
    seen = everything_the_user_can_see(nv)
    assert "not inside a project" in seen and "project = { root =" in seen, seen


ANSWER = "Shorter:\n\n```python\ndef total(xs):\n    return sum(xs)\n```\n"


@one_build
def test_outside_any_project_an_accepted_change_is_not_written_by_the_tool_server(
    omen, make_nvim, tmp_path
):
    home = no_project(tmp_path)
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, home, config={"glyph": glyph_config()})
    nv.cmd("setfiletype python")
    nv.cmd("1,5ZekeRefactor")
    assert nv.wait_done()["state"] == "done"
    nv.cmd("ZekeApply")
    refusal = wait_for(
        lambda: next((m for m in nv.zeke_messages() if "Nothing was written" in m), None),
        message="the refusal",
    )
    assert "calc.py is not inside a project" in refusal and "project = { root =" in refusal
    assert (home / "calc.py").read_text() == SOURCE
    assert db_rows(nv.db_path(), "SELECT tool FROM tool_calls") == []  # not even a read


# The consent prompt is vim.ui.select: replaced here by a script of answers.
UI_LUA = r"""
_G.prompts = 0
_G.pending = nil
vim.ui.select = function(items, opts, on_choice)
  _G.prompts = _G.prompts + 1
  local how = _G.answer
  if how == 'dismiss' then on_choice(nil)
  elseif how == 'never' then _G.pending = { items = items, cb = on_choice }
  else
    for _, it in ipairs(items) do
      if it.key == how then return on_choice(it) end
    end
    error('no item ' .. how)
  end
end
vim.ui.input = function(opts, on_confirm) on_confirm(nil) end
"""


def write_call(name: str) -> fo.StreamReply:
    args = json.dumps({"path": name, "content": "written\n"})
    return fo.stream("Writing. ", tool_calls=[("write_file", args)], finish_reason="tool_calls")


def test_ask_consent_never_writes_without_a_yes(omen, project, make_nvim):
    omen.queue(
        write_call("rejected.txt"), fo.stream("ok"),
        write_call("unanswered.txt"),
        fo.stream("later request"),
        write_call("allowed.txt"), fo.stream("ok"),
    )  # fmt: skip
    nv = start(make_nvim, omen, project, config={"glyph": glyph_config(), "consent": "ask"})
    nv.lua(UI_LUA)

    # "reject", then the optional reason prompt dismissed (dismissing the consent
    # prompt itself is test_tools_flow.py::test_dismissing_the_prompt_rejects)
    nv.lua("_G.answer = 'reject'")
    nv.cmd("1ZekeRefactor")
    last = nv.wait_done(timeout=20)
    assert last["state"] == "done"
    assert last["tool_calls"][0]["decision"] == "reject"
    assert not (project / "rejected.txt").exists()
    assert nv.lua("return _G.prompts") == 1

    # asked, never answered: nothing happens; cancelling leaves nothing behind either
    nv.lua("_G.answer = 'never'")
    nv.cmd("1ZekeRefactor")
    wait_for(lambda: nv.lua("return _G.pending ~= nil"), message="the consent prompt")
    assert nv.last()["state"] == "streaming"
    assert not (project / "unanswered.txt").exists()
    nv.cmd("ZekeCancel")
    assert nv.wait_done()["state"] == "cancelled"
    # a late "yes" to a prompt whose request is gone must not write anything
    nv.lua(
        "for _, it in ipairs(_G.pending.items) do"
        " if it.key == 'allow' then _G.pending.cb(it) end end"
    )
    nv.cmd("1ZekeExplain")  # the host handles the late reply before this one ends
    assert nv.wait_done()["text"] == "later request"
    assert not (project / "unanswered.txt").exists()

    nv.lua("_G.answer = 'allow'")  # and a yes does write: the prompt is the only gate
    nv.cmd("1ZekeRefactor")
    last = nv.wait_done(timeout=20)
    assert last["tool_calls"][0]["decision"] == "allow"
    assert (project / "allowed.txt").read_text() == "written\n"
