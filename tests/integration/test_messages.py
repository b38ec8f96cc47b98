"""What zeke says when a request ends badly is true, and it is in the log."""

from __future__ import annotations

import functools

import kit
from fakes import omen as fo
from nvimharness import wait_for

start = functools.partial(kit.start, text="def total(xs):\n    return sum(xs)\n")


def test_cancel_before_any_text_does_not_claim_text_was_kept(make_nvim, omen, project):
    omen.queue(fo.hang())
    nv = start(make_nvim, omen, project)
    nv.cmd("1ZekeExplain")
    wait_for(lambda: omen.chat_requests(), message="the request to reach the router")
    nv.cmd("ZekeCancel")
    last = nv.wait_done()
    assert last["state"] == "cancelled"
    assert "text so far is kept" not in last["error"]
    assert "no text had arrived" in last["error"]


def test_cancel_after_some_text_says_it_is_kept(make_nvim, omen, project):
    omen.queue(fo.stall_after([b'data: {"choices":[{"index":0,"delta":{"content":"half"}}]}\n\n']))
    nv = start(make_nvim, omen, project)
    nv.cmd("1ZekeExplain")
    wait_for(lambda: "half" in nv.scratch_text(), message="the first text")
    nv.cmd("ZekeCancel")
    last = nv.wait_done()
    assert last["state"] == "cancelled" and last["text"] == "half"
    assert "the text so far is kept" in last["error"]


def test_a_dropped_stream_without_text_says_so_and_is_logged(make_nvim, omen, project):
    omen.queue(fo.close_after([b": keepalive\n\n"]))
    nv = start(make_nvim, omen, project)
    nv.cmd("1ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "error"
    assert "text so far is kept" not in last["error"]
    log = nv.log_file()
    # the default log level records every failed request, with its message
    logged = wait_for(
        lambda: (
            log.exists() and f"request {last['id']} failed" in log.read_text() and log.read_text()
        ),
        message="the failure in zeke.log",
    )
    assert "stopped before it was complete" in logged or "closed the stream" in logged
