"""Faults in a real headless Neovim with the real host, each checked for what the
user sees and for what must not be lost (the text so far, one stats row per request).

Extends tests/integration/test_core_loop.py (one truncation, one host kill),
test_tools_flow.py (a tool server crash) and test_routing_cache.py (a corrupt cache at
start, a locked cache, two editors on one cache) rather than repeating them. Most run
on one Neovim build: these are faults of the host and the network, not of Neovim's API.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

from fakes import omen as fo
from faultkit import frame, start
from kit import glyph_config
from nvimharness import STATS_ROWS, db_rows, one_build, wait_for, wait_rows


def new_messages(nv, before: list[str]) -> list[str]:
    return nv.zeke_messages()[len(before) :]


@one_build
def test_drop_mid_frame_keeps_whole_frames_and_the_next_request_works(omen, project, make_nvim):
    cut = b'data: {"choices":[{"index":0,"delta":{"content":"gam'  # the connection dies here
    omen.queue(fo.close_after([frame("alpha "), frame("beta "), cut]), fo.stream("recovered"))
    nv = start(make_nvim, omen, project)
    db = nv.db_path()
    nv.cmd("1ZekeExplain")
    first = nv.wait_done()
    assert first["state"] == "error"
    assert first["text"] == "alpha beta "  # nothing of the half frame
    assert "stopped before it was complete" in first["error"]
    shown = nv.scratch_text()
    assert shown.startswith("alpha beta ") and "stopped before it was complete" in shown
    assert "Traceback" not in nv.messages()

    nv.cmd("1ZekeExplain")
    second = nv.wait_done()
    assert second["state"] == "done" and second["text"] == "recovered"
    rows = {r[0]: r for r in wait_rows(db, 2)}
    assert set(rows) == {first["id"], second["id"]}
    assert rows[first["id"]][1] == 0 and "stopped before it was complete" in rows[first["id"]][2]
    assert rows[second["id"]][1] == 1


@one_build
def test_garbage_from_the_router_is_one_clear_message(omen, project, make_nvim):
    noise = b"\x00\xff\xfe<html><body>oops</body></html>\x89PNG\r\n\x1a\n"
    omen.queue(
        fo.raw([noise, noise]),  # 200 text/event-stream, but nothing like SSE
        fo.raw([frame("kept "), b"data: {not json at all\n\n", b"\xff\xfe\n\n", frame("and on")]),
    )
    nv = start(make_nvim, omen, project)
    db = nv.db_path()

    before = nv.zeke_messages()
    nv.cmd("1ZekeExplain")
    junk = nv.wait_done()
    assert junk["state"] == "error" and junk["text"] == ""
    assert "not a stream" in junk["error"] and "Traceback" not in junk["error"]
    (said,) = new_messages(nv, before)  # said once
    assert said.startswith(junk["error"][:40])
    assert junk["error"].splitlines()[0] in nv.scratch_text()

    nv.cmd("1ZekeExplain")
    mixed = nv.wait_done()
    # garbage between good frames neither loses the text around it nor crashes
    assert mixed["text"].startswith("kept ")
    assert "and on" in mixed["text"]
    assert "Traceback" not in nv.messages()
    rows = wait_rows(db, 2)
    assert Counter(r[0] for r in rows) == {junk["id"]: 1, mixed["id"]: 1}


@one_build
def test_stall_past_the_read_timeout_keeps_the_text(omen, project, make_nvim):
    omen.queue(fo.stall_after([frame("half ")]))
    nv = start(make_nvim, omen, project, config={"timeouts": {"read": 1}})
    db = nv.db_path()
    t0 = time.monotonic()
    nv.cmd("1ZekeExplain")
    stalled = nv.wait_done(timeout=10)
    assert time.monotonic() - t0 < 8  # the 1 s read timeout ended it, not a default 60 s
    assert stalled["state"] == "error" and stalled["text"] == "half "
    assert "sent nothing for 1 s" in stalled["error"]
    assert nv.scratch_text().startswith("half ")
    (row,) = wait_rows(db, 1)
    assert row[0] == stalled["id"] and row[1] == 0


@one_build
def test_first_byte_timeout_is_what_bounds_the_wait_for_headers(omen, project, make_nvim):
    """timeouts.first_byte longer than timeouts.read (a slow local model) must be honoured."""
    omen.queue(fo.stream("slow start", first_byte_delay=1.6), fo.hang())
    timeouts = {"connect": 1, "first_byte": 2.5, "read": 1}
    nv = start(make_nvim, omen, project, config={"timeouts": timeouts})
    nv.cmd("1ZekeExplain")
    slow = nv.wait_done(timeout=10)
    assert slow["state"] == "done" and slow["text"] == "slow start", slow
    t0 = time.monotonic()
    nv.cmd("1ZekeExplain")
    hung = nv.wait_done(timeout=10)
    assert time.monotonic() - t0 >= 2.4
    assert hung["state"] == "error" and "did not start answering within 2.5 s" in hung["error"]


def test_5xx_and_429_in_turns_each_one_message_one_row(omen, project, make_nvim):
    turn = {"status": 500}
    bodies = {
        500: {"error": {"message": "Internal server error", "type": "api_error", "code": 500}},
        502: b"<html><head><title>502 Bad Gateway</title></head></html>",
        503: {"error": {"message": "No providers available", "type": "api_error", "code": 503}},
        429: {"error": {"message": "Rate limit exceeded", "type": "api_error", "code": 429}},
    }

    def reply(_rec):
        status = turn["status"]
        if status == 200:
            return fo.stream("finally fine")
        headers = {"retry-after": "7"} if status == 429 else None
        return fo.error(status, bodies[status], headers=headers)

    omen.queue(*[reply] * 30)  # one per HTTP attempt, whatever the retries
    nv = start(make_nvim, omen, project)
    db = nv.db_path()
    expect = {
        500: "failed upstream",
        502: "502 Bad Gateway",
        503: "No providers available",
        429: "Retry in 7 s",
    }
    ids = []
    for status in (500, 502, 503, 429, 500):
        turn["status"] = status
        before = nv.zeke_messages()
        nv.cmd("1ZekeExplain")
        last = nv.wait_done()
        ids.append(last["id"])
        assert last["state"] == "error", (status, last)
        assert str(status) in last["error"] and expect[status] in last["error"]
        assert "Traceback" not in last["error"]
        assert new_messages(nv, before) == [last["error"]], status
        assert expect[status] in nv.scratch_text()
        assert nv.lua("return vim.g.zeke_status.state") == "error"
    turn["status"] = 200
    nv.cmd("1ZekeExplain")
    ok = nv.wait_done()
    assert ok["state"] == "done" and ok["text"] == "finally fine"
    assert not ok["degraded"]  # fallback = false: never routed around
    rows = wait_rows(db, 6)
    assert Counter(r[0] for r in rows) == Counter([*ids, ok["id"]])  # one per request
    assert sorted(r[1] for r in rows) == [0, 0, 0, 0, 0, 1]


def test_host_killed_mid_stream_and_while_idle(omen, project, make_nvim):
    omen.queue(fo.stall_after([frame("before the crash")]), fo.stream("second"), fo.stream("third"))
    nv = start(make_nvim, omen, project)
    db = nv.db_path()
    nv.cmd("1ZekeExplain")
    wait_for(lambda: "before the crash" in nv.scratch_text(), message="first text")
    os.kill(nv.host_pid(), signal.SIGKILL)
    dead = nv.wait_done()
    assert dead["state"] == "error" and dead["text"] == "before the crash"
    assert "host exited" in dead["error"]
    assert nv.lua("return vim.g.zeke_status.state") == "error"
    assert "✗" in nv.badge()
    assert nv.scratch_text().startswith("before the crash")

    nv.cmd("1ZekeExplain")
    second = nv.wait_done()
    assert second["state"] == "done" and second["text"] == "second"
    assert sum("starting a new one" in m for m in nv.zeke_messages()) == 1
    # its stats row is written after "done" reaches Neovim; let it land before the
    # next kill, which would otherwise race the write (a loaded machine loses that race)
    wait_rows(db, 1)

    # a UI call in flight when the host dies gets an answer, not silence
    pid = nv.host_pid()
    os.kill(pid, signal.SIGSTOP)
    nv.lua(
        "_G.reply = nil; require('zeke.host').call('stats', {}, "
        "function(r, e) _G.reply = { err = e or vim.NIL } end)"
    )
    os.kill(pid, signal.SIGKILL)
    reply = wait_for(lambda: nv.lua("return _G.reply"), message="the pending call's callback")
    assert "host exited" in reply["err"]

    nv.cmd("1ZekeExplain")
    third = nv.wait_done()
    assert third["state"] == "done" and third["text"] == "third"
    assert sum("starting a new one" in m for m in nv.zeke_messages()) == 2
    # the killed request never reached the recorder; every finished one did, once
    rows = wait_rows(db, 2)
    assert Counter(r[0] for r in rows) == {second["id"]: 1, third["id"]: 1}


@one_build
def test_tool_server_dies_mid_call_then_comes_back(omen, project, make_nvim):
    """After the crash (what the user sees is in test_tools_flow.py): nothing is lost
    from the request, and the next request gets a fresh server."""
    (project / "notes.txt").write_text("hello\n")
    omen.queue(
        fo.stream("Let me read it. ", tool_calls=[("read_file", '{"path": "notes.txt"}')],
                  finish_reason="tool_calls"),
        fo.stream("Answered without the file."),
        fo.stream("Listing. ", tool_calls=[("list_directory", '{"path": "."}')],
                  finish_reason="tool_calls"),
        fo.stream("Answered with the listing."),
    )  # fmt: skip
    nv = start(
        make_nvim,
        omen,
        project,
        config={"glyph": glyph_config(), "consent": "allow"},
        env={"GLYPH_CRASH_ON": "read_file"},
    )
    db = nv.db_path()
    nv.cmd("1ZekeRefactor")
    crashed = nv.wait_done(timeout=20)
    assert crashed["state"] == "done", crashed
    assert crashed["text"] == "Let me read it. \n\nAnswered without the file."
    assert [(c["name"], c["status"]) for c in crashed["tool_calls"]] == [("read_file", "error")]

    nv.cmd("1ZekeRefactor")
    listed = nv.wait_done(timeout=20)
    assert listed["state"] == "done"
    assert [(c["name"], c["status"]) for c in listed["tool_calls"]] == [("list_directory", "ok")]
    tool_msgs = [m for m in omen.chat_requests()[3].body["messages"] if m["role"] == "tool"]
    assert "notes.txt" in tool_msgs[0]["content"]  # a live server answered

    wait_rows(db, 2)
    sql = "SELECT request_id, tool, result_status FROM tool_calls ORDER BY id"
    audit = [tuple(r) for r in wait_rows(db, 2, sql)]
    assert audit == [
        (crashed["id"], "read_file", "error"),
        (listed["id"], "list_directory", "ok"),
    ]
    assert Counter(r[0] for r in db_rows(db, STATS_ROWS)) == {crashed["id"]: 1, listed["id"]: 1}


def _files(db: Path) -> list[Path]:
    return [Path(f"{db}{s}") for s in ("", "-wal", "-shm")]


@one_build
def test_database_deleted_while_neovim_runs(omen, project, make_nvim):
    omen.queue(fo.stream("one"), fo.stream("two"))
    nv = start(make_nvim, omen, project)
    db = nv.db_path()
    nv.cmd("1ZekeExplain")
    first = nv.wait_done()
    wait_rows(db, 1)
    for f in _files(db):
        f.unlink(missing_ok=True)
    nv.cmd("1ZekeExplain")
    second = nv.wait_done()
    assert second["state"] == "done" and second["text"] == "two"
    # a fresh cache took over: the new request is in it, nothing else
    rows = wait_rows(db, 1)
    assert [r[0] for r in rows] == [second["id"]] and first["id"] != second["id"]


@one_build
def test_database_corrupted_while_neovim_runs(omen, project, make_nvim):
    omen.queue(fo.stream("one"), fo.stream("two"))
    nv = start(make_nvim, omen, project)
    db = nv.db_path()
    nv.cmd("1ZekeExplain")
    nv.wait_done()
    wait_rows(db, 1)
    garbage = b"this is not an SQLite file " * 200
    junk = db.with_name("junk.tmp")
    junk.write_bytes(garbage)
    for f in _files(db)[1:]:
        f.unlink(missing_ok=True)
    os.replace(junk, db)
    nv.cmd("1ZekeExplain")
    second = nv.wait_done()
    assert second["state"] == "done" and second["text"] == "two"
    rows = wait_rows(db, 1)
    assert [r[0] for r in rows] == [second["id"]]
    notice = wait_for(
        lambda: [m for m in nv.zeke_messages() if "corrupt" in m], message="corruption notice"
    )
    assert "moved it aside" in notice[0]
    aside = [p for p in db.parent.iterdir() if p.name.startswith(db.name + ".corrupt-")]
    assert [p.read_bytes() for p in aside if not p.name.endswith(("-wal", "-shm"))] == [garbage]
