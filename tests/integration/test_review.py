"""Reviewing proposed changes in a real headless Neovim (docs/design.md §8).

Without Glyph: an answer's fenced code becomes a diff to review (review buffer and
inline preview), nothing changes until :ZekeApply, which replaces exactly the
original (found by content) as one undo step. With Glyph: the accepted change is
written on disk through the tool server, checked first, audited, then reloaded.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import kit
from fakes import omen as fo
from nvimharness import STABLE, every_build, wait_for

REPO = Path(__file__).resolve().parents[2]
FS_SERVER = REPO / ".cache" / "npm" / "node_modules" / ".bin" / "mcp-server-filesystem"
FS_INSTALL = "npm install --prefix .cache/npm @modelcontextprotocol/server-filesystem@2026.8.31"

SOURCE = """\
import os


def total(xs):
    s = 0
    for x in xs:
        s += x
    return s


def other():
    return 1
"""
# lines 4-8 (1-based) are total(); the answer rewrites them
NEW_TOTAL = ["def total(xs):", "    return sum(xs)"]
ANSWER = (
    "Sure, here is a shorter version:\n\n"
    "```python\n" + "\n".join(NEW_TOTAL) + "\n```\n\n"
    "It uses the built-in `sum`, which is clearer."
)


DEFAULT_BUILDS = [STABLE]  # the key tests run on every build (@every_build)


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def with_total_replaced(text: str) -> list[str]:
    """SOURCE's lines with total() replaced by NEW_TOTAL: computed here, by hand."""
    lines = lines_of(text)
    start = lines.index("def total(xs):")
    return lines[:start] + NEW_TOTAL + lines[start + 5 :]


# Fixtures and helpers -------------------------------------------------------------


start = functools.partial(kit.start, text=SOURCE, filetype="python", notes=True)


def wait_note(nv, needle: str, *, since: int = 0, timeout: float = 10.0) -> dict[str, Any]:
    return wait_for(
        lambda: next((n for n in nv.notes()[since:] if needle in n["msg"]), None),
        timeout=timeout,
        message=f"a message containing {needle!r}",
    )


def apply_now(nv, command: str = "ZekeApply") -> dict[str, Any]:
    """Run :ZekeApply and wait for its outcome: the "applied" note or an error."""
    before = len(nv.notes())
    nv.cmd(command)

    def outcome():
        for n in nv.notes()[before:]:
            if "applied" in n["msg"] or n["level"] >= 4:  # vim.log.levels.ERROR
                return n
        return None

    return wait_for(outcome, message=f"the outcome of :{command}")


def set_buf_lines(nv, path: Path, start: int, end: int, lines: list[str]) -> None:
    nv.lua(
        "local p, s, e, l = ...; vim.api.nvim_buf_set_lines(vim.fn.bufnr(p), s, e, false, l)",
        str(path),
        start,
        end,
        lines,
    )


def review(nv) -> dict[str, Any] | None:
    """The current pending change as the review UI holds it."""
    return nv.lua(
        "local r = require('zeke.review'); local p = r.current and r.pending[r.current];"
        "if not p then return vim.NIL end;"
        "return { id = p.id, proposal = p.proposal }"
    )


def decision(nv, rid: str, index: int) -> str | None:
    return nv.lua(
        "local id, i = ...; local d = require('zeke.review').pending[id].decisions[i];"
        "if d == nil then return vim.NIL end; return d",
        rid,
        index,
    )


def pending_ids(nv) -> list[str]:
    return nv.lua("return vim.tbl_keys(require('zeke.review').pending)")


def review_buffer_lines(nv, rid: str) -> list[str] | None:
    return nv.lua(
        "for _, b in ipairs(vim.api.nvim_list_bufs()) do"
        "  if vim.b[b].zeke_review == ... then return vim.api.nvim_buf_get_lines(b, 0, -1, false) end"
        " end return vim.NIL",
        rid,
    )


def preview_marks(nv, path: Path) -> list[dict[str, Any]]:
    """zeke's extmarks in the source buffer: {row, hl, virt} each."""
    return nv.lua(
        """
        local b = vim.fn.bufnr(...)
        local ns = vim.api.nvim_create_namespace('zeke.review')
        local out = {}
        for _, m in ipairs(vim.api.nvim_buf_get_extmarks(b, ns, 0, -1, { details = true })) do
          local virt = {}
          for _, vl in ipairs(m[4].virt_lines or {}) do
            local s = ''
            for _, chunk in ipairs(vl) do s = s .. chunk[1] end
            table.insert(virt, s)
          end
          table.insert(out, { row = m[2], hl = m[4].line_hl_group or vim.NIL, virt = virt })
        end
        return out
        """,
        str(path),
    )


def audit_rows(nv, rid: str, count: int) -> list[sqlite3.Row]:
    """The request's audit rows once there are at least ``count`` (written asynchronously)."""
    wait_for(
        lambda: len(nv.db_rows("SELECT id FROM tool_calls WHERE request_id = ?", rid)) >= count,
        message=f"{count} audit rows",
    )
    rows = nv.db_rows("SELECT * FROM tool_calls WHERE request_id = ?", rid)
    # written from worker threads: the row order is not the call order
    return sorted(rows, key=lambda r: r["tool"])


# Review without Glyph ---------------------------------------------------------------


@every_build
def test_refactor_is_reviewed_then_applied_as_one_undo_step(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER, split="random"))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor make it shorter")
    last = nv.wait_done()
    assert last["state"] == "done", last

    # the review: one hunk, the old lines against the new ones, nothing applied
    rv = review(nv)
    assert rv is not None and rv["id"] == last["id"]
    (hunk,) = rv["proposal"]["hunks"]
    assert hunk["old_lines"] == ["    s = 0", "    for x in xs:", "        s += x", "    return s"]
    assert hunk["new_lines"] == ["    return sum(xs)"]
    shown = review_buffer_lines(nv, last["id"])
    assert shown is not None
    assert "-    s = 0" in shown and "+    return sum(xs)" in shown
    assert not any("Sure" in s or "```" in s or "built-in" in s for s in shown)
    # the inline preview: old rows marked in place, the new line shown under them
    marks = preview_marks(nv, path)
    assert sorted(m["row"] for m in marks if m["hl"] == "DiffDelete") == [4, 5, 6, 7]
    assert [v for m in marks for v in m["virt"]] == ["    return sum(xs)"]
    assert nv.buf_lines(path) == lines_of(SOURCE)
    assert nv.lua("return vim.bo[vim.fn.bufnr(...)].modified", str(path)) is False

    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    assert nv.buf_lines(path) == with_total_replaced(SOURCE)
    assert path.read_text() == SOURCE  # not saved: the disk is untouched
    assert nv.lua("return vim.bo[vim.fn.bufnr(...)].modified", str(path)) is True
    assert preview_marks(nv, path) == []
    assert review_buffer_lines(nv, last["id"]) is None
    assert pending_ids(nv) == []

    nv.cmd(f"buffer {path}")
    nv.cmd("undo")
    assert nv.buf_lines(path) == lines_of(SOURCE)


def test_hunk_by_hunk_reject_one_with_the_review_key(make_nvim, omen, project):
    source = (
        "def stats(xs):\n"
        "    n = len(xs)\n"
        "    total = 0\n"
        "    for x in xs:\n"
        "        total += x\n"
        "    return n, total\n"
    )
    proposed = [
        "def stats(xs):",
        '    """Count and sum."""',
        "    n = len(xs)",
        "    total = 0",
        "    for x in xs:",
        "        total += x",
        "    return n, float(total)",
    ]
    omen.queue(fo.stream("Two tweaks:\n\n```python\n" + "\n".join(proposed) + "\n```\n"))
    nv = start(make_nvim, omen, project, file="stats.py", text=source)
    path = project / "stats.py"
    nv.cmd("1,6ZekeRefactor")
    last = nv.wait_done()
    rv = review(nv)
    assert rv is not None
    hunks = rv["proposal"]["hunks"]
    assert [h["new_lines"] for h in hunks] == [
        ['    """Count and sum."""'],
        ["    return n, float(total)"],
    ]

    # in the review buffer, cursor on hunk 1, press r
    shown = review_buffer_lines(nv, last["id"])
    row = next(i for i, s in enumerate(shown) if "hunk 1" in s)
    win = nv.lua(
        "for _, b in ipairs(vim.api.nvim_list_bufs()) do"
        "  if vim.b[b].zeke_review == ... then return vim.fn.bufwinid(b) end"
        " end return -1",
        last["id"],
    )
    assert win != -1
    nv.lua("vim.api.nvim_set_current_win(...)", win)
    nv.nvim.current.window.cursor = (row + 1, 0)
    nv.cmd("normal r")
    assert decision(nv, last["id"], 0) == "reject"
    assert decision(nv, last["id"], 1) is None
    shown = review_buffer_lines(nv, last["id"])
    assert any("hunk 1" in s and "[rejected]" in s for s in shown)
    assert not any("hunk 2" in s and "[rejected]" in s for s in shown)
    # the rejected hunk leaves the inline preview
    assert [v for m in preview_marks(nv, path) for v in m["virt"]] == ["    return n, float(total)"]

    outcome = apply_now(nv)
    assert "applied 1 of 2 hunks" in outcome["msg"], outcome
    expected = lines_of(source)
    expected[-1] = "    return n, float(total)"
    assert nv.buf_lines(path) == expected


def test_hunk_decisions_through_the_lua_api(make_nvim, omen, project):
    source = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n"
    omen.queue(fo.stream("```python\na = 10\nb = 2\nc = 3\nd = 4\ne = 50\n```"))
    nv = start(make_nvim, omen, project, file="vals.py", text=source)
    path = project / "vals.py"
    nv.cmd("1,5ZekeRefactor")
    last = nv.wait_done()
    assert len(review(nv)["proposal"]["hunks"]) == 2
    nv.lua("require('zeke.review').decide(..., 1, 'reject')", last["id"])
    outcome = apply_now(nv)
    assert "applied 1 of 2 hunks" in outcome["msg"]
    assert nv.buf_lines(path) == ["a = 10", "b = 2", "c = 3", "d = 4", "e = 5"]


def test_edits_above_the_selection_while_streaming(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER, delay=0.05))  # ~30 deltas: over a second of streaming
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    wait_for(lambda: "Sure" in nv.scratch_text(), message="the answer to start")
    assert nv.last()["state"] == "streaming"
    added = ['"""Calculator."""', "import sys", ""]
    set_buf_lines(nv, path, 0, 0, added)
    assert nv.wait_done()["state"] == "done"

    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    assert nv.buf_lines(path) == added + with_total_replaced(SOURCE)


def test_inline_preview_follows_lines_added_above(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER, delay=0.05))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    wait_for(lambda: "Sure" in nv.scratch_text(), message="the answer to start")
    set_buf_lines(nv, path, 0, 0, ["import sys", ""])
    assert nv.wait_done()["state"] == "done"
    # total() now starts at row 5 (0-based): its old body is marked where it is now
    marks = preview_marks(nv, path)
    assert sorted(m["row"] for m in marks if m["hl"] == "DiffDelete") == [6, 7, 8, 9]
    assert [v for m in marks for v in m["virt"]] == ["    return sum(xs)"]


def test_identical_code_above_does_not_take_the_change(make_nvim, omen, project):
    """Two identical methods; the second is selected, lines are added at the top while
    the answer streams: the change must land on the selected one, not its twin."""
    source = (
        "class A:\n"
        "    def size(self):\n"
        "        return len(self.items)\n"
        "\n"
        "class B:\n"
        "    def size(self):\n"
        "        return len(self.items)\n"
    )
    answer = "```python\n    def size(self):\n        return len(self.entries)\n```"
    omen.queue(fo.stream(answer, delay=0.15))
    nv = start(make_nvim, omen, project, file="shapes.py", text=source)
    path = project / "shapes.py"
    nv.cmd("6,7ZekeRefactor")
    wait_for(lambda: "```python" in nv.scratch_text(), message="the answer to start")
    assert nv.last()["state"] == "streaming"
    added = ["import dataclasses", "import typing", ""]
    set_buf_lines(nv, path, 0, 0, added)
    assert nv.wait_done()["state"] == "done"

    apply_now(nv)
    expected = added + lines_of(source)
    expected[-1] = "        return len(self.entries)"
    assert nv.buf_lines(path) == expected


def test_original_changed_apply_refuses_and_keeps_the_change(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    last = nv.wait_done()
    set_buf_lines(nv, path, 5, 6, ["    for x in reversed(xs):"])  # inside the selection
    edited = nv.buf_lines(path)

    outcome = apply_now(nv)
    assert outcome["level"] >= 4 and "no longer in" in outcome["msg"], outcome
    assert "nothing was changed" in outcome["msg"]
    assert "Traceback" not in outcome["msg"]
    assert nv.buf_lines(path) == edited
    assert pending_ids(nv) == [last["id"]]
    assert path.read_text() == SOURCE


def test_reject_changes_nothing(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    last = nv.wait_done()
    assert preview_marks(nv, path) != []
    before = len(nv.notes())
    nv.cmd("ZekeReject")
    wait_note(nv, "rejected", since=before)
    assert nv.buf_lines(path) == lines_of(SOURCE)
    assert pending_ids(nv) == []
    assert preview_marks(nv, path) == []
    assert review_buffer_lines(nv, last["id"]) is None
    before = len(nv.notes())
    nv.cmd("ZekeApply")
    assert "no change is pending" in wait_note(nv, "pending", since=before)["msg"]
    assert nv.buf_lines(path) == lines_of(SOURCE)


def test_answer_without_a_code_block_is_a_note_not_a_change(make_nvim, omen, project):
    omen.queue(fo.stream("I would use sum(xs) here; it reads better than the loop."))
    nv = start(make_nvim, omen, project)
    nv.cmd("4,8ZekeRefactor")
    last = nv.wait_done()
    assert last["state"] == "done"
    assert "no code block" in wait_note(nv, "no code block")["msg"]
    assert review(nv) is None
    assert review_buffer_lines(nv, last["id"]) is None
    assert preview_marks(nv, project / "calc.py") == []


def test_dropped_indentation_is_restored_inside_a_class(make_nvim, omen, project):
    source = (
        "class Cart:\n"
        "    def total(self):\n"
        "        s = 0\n"
        "        for item in self.items:\n"
        "            s += item.price\n"
        "        return s\n"
    )
    # the model answers flush left
    code = "def total(self):\n    return sum(item.price for item in self.items)"
    omen.queue(fo.stream(f"Here:\n\n```python\n{code}\n```\n"))
    nv = start(make_nvim, omen, project, file="cart.py", text=source)
    path = project / "cart.py"
    nv.cmd("2,6ZekeRefactor")
    nv.wait_done()
    apply_now(nv)
    assert nv.buf_lines(path) == [
        "class Cart:",
        "    def total(self):",
        "        return sum(item.price for item in self.items)",
    ]


# :ZekeTest ----------------------------------------------------------------------------

TESTS_CODE = "from calc import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3"


def test_zeketest_python_new_test_file_in_a_buffer(make_nvim, omen, project):
    omen.queue(fo.stream(f"Tests:\n\n```python\n{TESTS_CODE}\n```\nRun with pytest."))
    nv = start(make_nvim, omen, project)
    target = project / "tests" / "test_calc.py"
    nv.cmd("4,8ZekeTest")
    last = nv.wait_done()
    rv = review(nv)
    assert rv is not None
    assert rv["proposal"]["path"] == str(target) and rv["proposal"]["create"] is True
    assert any("test_calc.py" in s for s in review_buffer_lines(nv, last["id"]))

    outcome = apply_now(nv)
    assert "applied" in outcome["msg"], outcome
    assert nv.buf_lines(target) == lines_of(TESTS_CODE)
    assert not target.exists()  # in a buffer, not on disk until saved
    assert nv.buf_lines(project / "calc.py") == lines_of(SOURCE)
    # the new test file is shown; the cursor stays in the source
    assert nv.lua("return vim.fn.bufwinid(...)", str(target)) != -1
    assert nv.lua("return vim.api.nvim_buf_get_name(0)") == str(project / "calc.py")
    # saving it from that buffer works (the tests/ directory did not exist yet)
    nv.cmd(f"buffer {target}")
    nv.cmd("write")
    assert target.exists() and target.read_text() == TESTS_CODE + "\n"


def test_zeketest_appends_to_an_existing_test_file(make_nvim, omen, project):
    existing = (
        "import pytest\n\nfrom calc import other\n\n\ndef test_other():\n    assert other() == 1\n"
    )
    target = project / "tests" / "test_calc.py"
    target.parent.mkdir()
    target.write_text(existing)
    omen.queue(fo.stream(f"```python\n{TESTS_CODE}\n```"))
    nv = start(make_nvim, omen, project)
    nv.cmd("4,8ZekeTest")
    nv.wait_done()
    assert review(nv)["proposal"]["create"] is False
    apply_now(nv)
    got = nv.buf_lines(target)
    assert got[: len(lines_of(existing))] == lines_of(existing)  # kept as it was
    added = got[len(lines_of(existing)) :]
    assert "def test_total():" in added and "    assert total([1, 2]) == 3" in added
    assert got.count("def test_other():") == 1
    assert target.read_text() == existing  # disk untouched


def test_zeketest_go_goes_next_to_the_file(make_nvim, omen, project):
    source = "package calc\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
    tests = (
        'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n'
        '\tif Add(1, 2) != 3 {\n\t\tt.Fatal("bad")\n\t}\n}'
    )
    omen.queue(fo.stream(f"```go\n{tests}\n```"))
    nv = start(make_nvim, omen, project, file="pkg/calc.go", text=source, filetype="go")
    nv.cmd("3,5ZekeTest")
    nv.wait_done()
    target = project / "pkg" / "calc_test.go"
    assert review(nv)["proposal"]["path"] == str(target)
    apply_now(nv)
    assert nv.buf_lines(target) == lines_of(tests)
    assert not target.exists()


# Writes through Glyph ---------------------------------------------------------------------


@every_build
def test_accept_writes_through_glyph_and_reloads(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project, glyph=True)
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    last = nv.wait_done()
    assert last["state"] == "done", last
    assert path.read_text() == SOURCE  # nothing before the user accepts

    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    expected = with_total_replaced(SOURCE)
    assert path.read_text() == "\n".join(expected) + "\n"
    assert nv.buf_lines(path) == expected
    assert nv.lua("return vim.bo[vim.fn.bufnr(...)].modified", str(path)) is False

    rows = audit_rows(nv, last["id"], 2)
    assert [(r["tool"], r["decision"], r["result_status"]) for r in rows] == [
        ("read_file", "allow", "ok"),
        ("write_file", "allow", "ok"),
    ]
    assert all(r["project"] == "grim" and r["server"] for r in rows)

    nv.cmd("ZekeAudit")
    listing = wait_for(lambda: nv.buf_lines("zeke: audit"), message="the :ZekeAudit listing")
    text = "\n".join(listing)
    assert "read_file" in text and "write_file" in text and "allow" in text


def test_glyph_refuses_a_buffer_with_unsaved_edits(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project, glyph=True)
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    last = nv.wait_done()
    set_buf_lines(nv, path, 11, 12, ["    return 2"])  # elsewhere, not saved
    edited = nv.buf_lines(path)

    outcome = apply_now(nv)
    assert outcome["level"] >= 4 and "unsaved edits" in outcome["msg"], outcome
    assert path.read_text() == SOURCE
    assert nv.buf_lines(path) == edited
    assert pending_ids(nv) == [last["id"]]
    assert nv.db_rows("SELECT * FROM tool_calls WHERE tool = 'write_file'") == []


def test_glyph_refuses_when_the_file_changed_on_disk(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project, glyph=True)
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    last = nv.wait_done()
    elsewhere = SOURCE + "\n\ndef added_by_someone_else():\n    pass\n"
    path.write_text(elsewhere)

    outcome = apply_now(nv)
    assert outcome["level"] >= 4 and "no longer matches" in outcome["msg"], outcome
    assert path.read_text() == elsewhere
    assert nv.buf_lines(path) == lines_of(SOURCE)
    rows = audit_rows(nv, last["id"], 1)
    assert [r["tool"] for r in rows] == ["read_file"]


def fs_server_config(project: Path) -> dict[str, Any]:
    """The real npm filesystem server, rooted at the project (skipped when missing)."""
    if not os.access(FS_SERVER, os.X_OK):
        message = f"{FS_SERVER} is missing; install it with: {FS_INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {"glyph": {"cmd": [str(FS_SERVER), str(project)]}}


def test_real_filesystem_server_writes_the_change(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project, config=fs_server_config(project))
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    last = nv.wait_done(timeout=30)
    assert last["state"] == "done", last

    outcome = apply_now(nv)
    assert "applied" in outcome["msg"], outcome
    expected = with_total_replaced(SOURCE)
    assert path.read_text() == "\n".join(expected) + "\n"
    assert nv.buf_lines(path) == expected
    rows = audit_rows(nv, last["id"], 2)
    # its edit_file would turn every CRLF of the file into LF: the exact text is written
    assert [(r["tool"], r["result_status"]) for r in rows] == [
        ("read_text_file", "ok"),
        ("write_file", "ok"),
    ]


# Line ends, final newlines and encodings are the file's own ----------------------------

STATS = (
    "def stats(xs):\n"
    "    n = len(xs)\n"
    "    total = 0\n"
    "    for x in xs:\n"
    "        total += x\n"
    "    return n, total\n"
)
STATS_ANSWER = (
    "Two tweaks:\n\n```python\n"
    'def stats(xs):\n    """Count and sum."""\n    n = len(xs)\n    total = 0\n'
    "    for x in xs:\n        total += x\n    return n, float(total)\n```\n"
)


def open_bytes(nv, path: Path, data: bytes) -> None:
    """Put ``data`` on disk as it is and edit it (Neovim picks fileformat/encoding)."""
    path.write_bytes(data)
    nv.cmd(f"edit! {path}")
    nv.cmd("setfiletype python")


def test_real_fs_server_crlf_file_changes_only_the_accepted_hunk(make_nvim, omen, project):
    omen.queue(fo.stream(STATS_ANSWER))
    cfg = fs_server_config(project)
    nv = start(make_nvim, omen, project, config=cfg, file="stats.py", text=STATS)
    path = project / "stats.py"
    original = STATS.replace("\n", "\r\n").encode()
    open_bytes(nv, path, original)
    assert nv.lua("return vim.bo.fileformat") == "dos"
    nv.cmd("1,6ZekeRefactor")
    last = nv.wait_done(timeout=30)
    assert len(review(nv)["proposal"]["hunks"]) == 2
    nv.lua("require('zeke.review').decide(..., 0, 'reject')", last["id"])

    outcome = apply_now(nv)
    assert "applied 1 of 2 hunks" in outcome["msg"], outcome
    expected = original.replace(b"    return n, total\r\n", b"    return n, float(total)\r\n")
    assert path.read_bytes() == expected


def test_real_fs_server_mixed_line_ends_stay_line_by_line(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project, config=fs_server_config(project))
    path = project / "calc.py"
    lines = SOURCE.split("\n")[:-1]
    # the header and total() end in CRLF, the rest in LF
    crlf = {0, 1, 2, 3, 4, 5, 6, 7}
    original = "".join(s + ("\r\n" if i in crlf else "\n") for i, s in enumerate(lines))
    open_bytes(nv, path, original.encode())
    assert nv.lua("return vim.bo.fileformat") == "unix"  # mixed: the \r shows in the buffer
    nv.cmd("4,8ZekeRefactor")
    nv.wait_done(timeout=30)
    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    body = "    s = 0\r\n    for x in xs:\r\n        s += x\r\n    return s\r\n"
    assert body in original
    assert path.read_bytes() == original.replace(body, "    return sum(xs)\r\n").encode()


def test_real_fs_server_file_without_a_final_newline(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project, config=fs_server_config(project))
    path = project / "calc.py"
    original = SOURCE.rstrip("\n")  # ends with "    return 1", no newline
    open_bytes(nv, path, original.encode())
    nv.cmd("4,8ZekeRefactor")
    nv.wait_done(timeout=30)
    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    assert path.read_bytes() == "\n".join(with_total_replaced(SOURCE)).encode()


def test_buffer_apply_keeps_the_line_ends_of_lines_the_model_kept(make_nvim, omen, project):
    # total() ends in CRLF in a file that is otherwise LF; the model changes one line
    code = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s or 0"
    omen.queue(fo.stream(f"```python\n{code}\n```"))
    nv = start(make_nvim, omen, project)
    path = project / "calc.py"
    lines = SOURCE.split("\n")[:-1]
    original = "".join(s + ("\r\n" if 3 <= i <= 7 else "\n") for i, s in enumerate(lines))
    open_bytes(nv, path, original.encode())
    nv.cmd("4,8ZekeRefactor")
    nv.wait_done()
    (hunk,) = review(nv)["proposal"]["hunks"]
    assert hunk["old_lines"] == ["    return s\r"]
    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    nv.cmd(f"buffer {path}")
    nv.cmd("write")
    expected = original.replace("    return s\r\n", "    return s or 0\r\n")
    assert path.read_bytes() == expected.encode()


TESTS_CRLF = "import pytest\r\n\r\n\r\ndef test_other():\r\n    assert other() == 1\r\n"


def _crlf_test_file_review(make_nvim, omen, project, config=None):
    target = project / "tests" / "test_calc.py"
    target.parent.mkdir()
    target.write_bytes(TESTS_CRLF.encode())
    omen.queue(fo.stream(f"```python\n{TESTS_CODE}\n```"))
    nv = start(make_nvim, omen, project, config=config)
    nv.cmd("4,8ZekeTest")
    last = nv.wait_done(timeout=30)
    assert last["state"] == "done", last
    (hunk,) = review(nv)["proposal"]["hunks"]
    # only the added tests, as an insertion after the last line: no \r anywhere
    assert hunk["old_lines"] == [] and hunk["old_start"] == 5
    assert not any("\r" in s for s in hunk["new_lines"])
    assert "def test_total():" in hunk["new_lines"]
    return nv, target


def _crlf_with_tests_added() -> bytes:
    # the file as it was, two blank lines (PEP 8), the new tests: every line CRLF
    text = TESTS_CRLF.replace("\r\n", "\n").rstrip("\n") + "\n\n\n" + TESTS_CODE + "\n"
    return text.replace("\n", "\r\n").encode()


def test_zeketest_into_a_crlf_test_file_shows_only_the_added_tests(make_nvim, omen, project):
    nv, target = _crlf_test_file_review(make_nvim, omen, project)
    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    assert nv.lua("return vim.bo[vim.fn.bufnr(...)].fileformat", str(target)) == "dos"
    nv.cmd(f"buffer {target}")
    nv.cmd("write")
    assert target.read_bytes() == _crlf_with_tests_added()


def test_zeketest_into_a_crlf_test_file_through_the_fs_server(make_nvim, omen, project):
    nv, target = _crlf_test_file_review(make_nvim, omen, project, fs_server_config(project))
    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    assert "tool server" in outcome["msg"]
    assert target.read_bytes() == _crlf_with_tests_added()


LATIN1_SOURCE = SOURCE.replace("import os\n", "import os  # café, naïve\n")


def test_latin1_file_with_the_fs_server_is_applied_in_the_buffer(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(make_nvim, omen, project, config=fs_server_config(project))
    path = project / "calc.py"
    open_bytes(nv, path, LATIN1_SOURCE.encode("latin-1"))
    assert nv.lua("return vim.bo.fileencoding") == "latin1"
    nv.cmd("4,8ZekeRefactor")
    nv.wait_done(timeout=30)
    before = len(nv.notes())
    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    seen = [n["msg"] for n in nv.notes()[before:]]
    assert not any("reload" in m for m in seen), seen
    why = next(m for m in seen if "latin1" in m)
    assert "UTF-8" in why and "buffer" in why
    assert path.read_bytes() == LATIN1_SOURCE.encode("latin-1")  # nothing through the server
    assert nv.buf_lines(path) == with_total_replaced(LATIN1_SOURCE)
    nv.cmd(f"buffer {path}")
    nv.cmd("write")
    expected = "\n".join(with_total_replaced(LATIN1_SOURCE)) + "\n"
    assert path.read_bytes() == expected.encode("latin-1")


def test_zeketest_into_a_latin1_test_file(make_nvim, omen, project):
    existing = "# Tests für calc\n\nfrom calc import other\n\n\ndef test_other():\n    pass\n"
    target = project / "tests" / "test_calc.py"
    target.parent.mkdir()
    target.write_bytes(existing.encode("latin-1"))
    omen.queue(fo.stream(f"```python\n{TESTS_CODE}\n```"))
    nv = start(make_nvim, omen, project, config=fs_server_config(project))
    nv.cmd("4,8ZekeTest")
    last = nv.wait_done(timeout=30)
    assert last["state"] == "done", last
    rv = review(nv)
    assert rv is not None, nv.notes()
    (hunk,) = rv["proposal"]["hunks"]
    assert hunk["old_lines"] == []
    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    assert target.read_bytes() == existing.encode("latin-1")  # in the buffer, not written
    nv.cmd(f"buffer {target}")
    nv.cmd("write")
    got = target.read_bytes().decode("latin-1")
    assert got.startswith(existing) and "def test_total():" in got


def test_zeketest_through_the_fs_server_makes_the_tests_directory(make_nvim, omen, project):
    omen.queue(fo.stream(f"```python\n{TESTS_CODE}\n```"))
    nv = start(make_nvim, omen, project, config=fs_server_config(project))
    target = project / "tests" / "test_calc.py"
    assert not target.parent.exists()
    nv.cmd("4,8ZekeTest")
    last = nv.wait_done(timeout=30)
    outcome = apply_now(nv)
    assert "applied" in outcome["msg"], outcome
    assert target.read_text() == TESTS_CODE + "\n"
    assert nv.buf_lines(target) == lines_of(TESTS_CODE)
    rows = audit_rows(nv, last["id"], 2)
    assert [(r["tool"], r["result_status"]) for r in rows] == [
        ("create_directory", "ok"),
        ("write_file", "ok"),
    ]


def test_glyph_crash_while_writing_an_accepted_change(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    nv = start(
        make_nvim,
        omen,
        project,
        glyph=True,
        env={"GLYPH_CRASH_ON": "write_file"},
    )
    path = project / "calc.py"
    nv.cmd("4,8ZekeRefactor")
    last = nv.wait_done()
    outcome = apply_now(nv)
    assert outcome["level"] >= 4 and "write_file" in outcome["msg"], outcome
    assert "Traceback" not in outcome["msg"]
    assert path.read_text() == SOURCE
    assert nv.buf_lines(path) == lines_of(SOURCE)
    assert pending_ids(nv) == [last["id"]]
    # both calls are on record, the failed write included
    rows = audit_rows(nv, last["id"], 2)
    assert [(r["tool"], r["result_status"]) for r in rows] == [
        ("read_file", "ok"),
        ("write_file", "error"),
    ]


def test_glyph_write_keeps_crlf_line_ends(make_nvim, omen, project):
    omen.queue(fo.stream(ANSWER))
    path = project / "calc.py"
    nv = start(make_nvim, omen, project, glyph=True)
    path.write_bytes(SOURCE.replace("\n", "\r\n").encode())
    nv.cmd("edit!")  # read as fileformat=dos
    assert nv.lua("return vim.bo.fileformat") == "dos"
    nv.cmd("4,8ZekeRefactor")
    nv.wait_done()
    outcome = apply_now(nv)
    assert "applied 1 of 1 hunk" in outcome["msg"], outcome
    expected = "\r\n".join(with_total_replaced(SOURCE)) + "\r\n"
    assert path.read_bytes().decode() == expected
    assert nv.buf_lines(path) == with_total_replaced(SOURCE)


def test_zeketest_through_glyph_creates_the_file(make_nvim, omen, project):
    omen.queue(fo.stream(f"```python\n{TESTS_CODE}\n```"))
    nv = start(make_nvim, omen, project, glyph=True)
    target = project / "tests" / "test_calc.py"
    nv.cmd("4,8ZekeTest")
    last = nv.wait_done()
    outcome = apply_now(nv)
    assert "applied" in outcome["msg"], outcome
    assert target.read_text() == TESTS_CODE + "\n"
    assert nv.buf_lines(target) == lines_of(TESTS_CODE)
    rows = audit_rows(nv, last["id"], 1)
    assert [(r["tool"], r["decision"], r["result_status"]) for r in rows] == [
        ("write_file", "allow", "ok")
    ]
