"""Stats by outcome on a real Neovim with the real host (issue 16, item 4): after one
:ZekeRefactor applied (one of its two hunks rejected with `r`) and one rejected whole,
:ZekeStats shows changes proposed, hunks accepted / rejected, the apply rate and the
cost per applied change; :ZekeModel shows the apply rate next to the alias."""

from __future__ import annotations

from pathlib import Path

import kit
from fakes import omen as fo
from nvimharness import one_build, wait_for, wait_rows

SOURCE = """\
def total(xs):
    s = 0
    for x in xs:
        s += x
    return s


def other():
    return 1
"""
# two hunks: total()'s body and other()'s
TWO_HUNKS = "```python\ndef total(xs):\n    return sum(xs)\n\n\ndef other():\n    return 2\n```"
ONE_HUNK = "```python\ndef other():\n    return 3\n```"

PICKER_RECORDER = """
_G.picked = {}
vim.ui.select = function(items, opts, on_choice)
  local labels = {}
  for i, item in ipairs(items) do
    labels[i] = opts.format_item and opts.format_item(item) or tostring(item)
  end
  table.insert(_G.picked, { kind = opts.kind or '', labels = labels })
  vim.schedule(function() on_choice(nil, nil) end)
end
"""

OUTCOMES = "SELECT request_id, proposed, hunks_accepted, hunks_rejected FROM routing_stats"


PENDING = "local r = require('zeke.review').pending[...]; return r and #r.proposal.hunks or vim.NIL"


def note(nv, text: str) -> None:
    wait_for(lambda: any(text in n["msg"] for n in nv.notes()), message=repr(text))


@one_build
def test_stats_and_the_picker_show_what_became_of_the_changes(
    make_nvim, omen, project, tmp_path: Path
):
    db = tmp_path / "cache" / "zeke.db"
    omen.queue(fo.stream(TWO_HUNKS), fo.stream(ONE_HUNK))
    nv = kit.start(
        make_nvim,
        omen,
        project,
        {"alias": "code-smart"},
        db=db,
        text=SOURCE,
        filetype="python",
        notes=True,
        lua=PICKER_RECORDER,
    )
    nv.cmd("1,9ZekeRefactor")
    first = nv.wait_done()
    assert first["state"] == "done", first
    assert wait_for(lambda: nv.lua(PENDING, first["id"]), message="the change") == 2
    # the review's `r` on the second hunk, then apply the rest
    nv.lua("require('zeke.review').decide(..., 1, 'reject')", first["id"])
    nv.cmd("ZekeApply")
    note(nv, "applied 1 of 2 hunks")

    nv.cmd("5,6ZekeRefactor")  # other(), after total() shrank to two lines
    second = nv.wait_done()
    assert second["state"] == "done", second
    assert wait_for(lambda: nv.lua(PENDING, second["id"]), message="the change") == 1
    nv.cmd("ZekeReject")
    note(nv, "rejected the change")

    def settled():
        rows = {r["request_id"]: tuple(r)[1:] for r in wait_rows(db, 2, OUTCOMES)}
        return rows if all(v[1] is not None for v in rows.values()) else None

    rows = wait_for(settled, message="both outcomes recorded")
    assert rows == {first["id"]: (1, 1, 1), second["id"]: (1, 0, 1)}

    nv.cmd("ZekeStats")
    stats = wait_for(lambda: nv.buf_lines("zeke: stats"), message="the stats table")
    header = next(x for x in stats if x.startswith("alias"))
    assert header.split()[-5:] == ["chg", "acc", "rej", "applied", "$/applied"], header
    row = next(x for x in stats if x.startswith("code-smart"))
    cells = row.split()
    assert cells[-5:-1] == ["2", "1", "2", "50%"], row
    assert cells[-1].startswith("$"), row  # both requests' cost / the one applied change
    # columns line up by display width
    assert header.index("$/applied") + len("$/applied") == len(row), (header, row)

    nv.cmd("ZekeModel")
    picked = wait_for(
        lambda: [p for p in nv.lua("return _G.picked") if p["kind"] == "zeke.alias"],
        message="the picker",
    )
    smart = next(x for x in picked[0]["labels"] if "code-smart" in x)
    assert "applied 50%" in smart, smart
    fast = next(x for x in picked[0]["labels"] if "code-fast" in x)
    assert "applied" not in fast  # no requests yet
