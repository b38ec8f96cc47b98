"""Charwise selections (`v`), without Neovim: the span cut out of its lines and
replaced exactly (changes/span.py), what is sent for it (engine/context.py), the
change proposed and applied (changes/proposal.py), and the engine end to end on a
payload with byte columns (end exclusive, as protocol.RequestPayload says)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enginekit import ScriptedModel, answer, request, serving
from zeke import protocol
from zeke.changes import proposal as changes
from zeke.changes import span
from zeke.engine.context import PackRequest, pack
from zeke.errors import ZekeError


def col(line: str, char_index: int) -> int:
    """The byte column of a character index (Neovim's columns are bytes)."""
    return len(line[:char_index].encode("utf-8"))


def around(line: str, text: str) -> tuple[int, int]:
    """The byte columns [start, end) of ``text`` in ``line``."""
    i = line.index(text)
    return col(line, i), col(line, i + len(text))


# -- span.py: the cut and the replacement ----------------------------------------------


def test_a_span_of_multibyte_characters_is_cut_and_replaced_on_byte_columns() -> None:
    line = "naïve = «héllo» + '✓ 日本語' # ü"
    s, e = around(line, "«héllo» + '✓ 日本語'")
    c = span.cut([line], span.Span(1, s, 1, e))
    assert (c.before, c.text, c.after) == ("naïve = ", "«héllo» + '✓ 日本語'", " # ü")
    assert span.replace(c, "größe") == ["naïve = größe # ü"]


def test_a_column_inside_a_character_keeps_the_whole_character() -> None:
    line = "a日b"  # 日 is bytes 1..3
    c = span.cut([line], span.Span(1, 2, 1, 2))  # both inside 日
    assert (c.before, c.text, c.after) == ("a", "日", "b")


def test_a_whole_line_span_replaces_the_line_and_nothing_else() -> None:
    lines = ["before", "x = compute(1)", "after"]
    c = span.cut(lines, span.Span(2, 0, 2, len(lines[1])))
    assert (c.before, c.text, c.after) == ("", "x = compute(1)", "")
    assert c.lines == ["x = compute(1)"]
    assert span.replace(c, "x = 2") == ["x = 2"]


def test_a_multi_line_span_keeps_the_text_before_and_after_it() -> None:
    lines = ["def f(a,", "      b):", "    return a + b  # sum"]
    c = span.cut(lines, span.Span(1, 6, 3, lines[2].index("  #")), first=1)
    assert c.text == "a,\n      b):\n    return a + b"
    assert (c.before, c.after) == ("def f(", "  # sum")
    assert c.lines == lines
    assert span.replace(c, "*args): return sum(args)") == ["def f(*args): return sum(args)  # sum"]
    # and a replacement of several lines for a span of one
    one = span.cut(lines, span.Span(3, 11, 3, 16))
    assert one.text == "a + b"
    assert span.replace(one, "(\n        a + b\n    )") == [
        "    return (",
        "        a + b",
        "    )  # sum",
    ]


def test_a_span_to_the_end_of_the_line_leaves_the_next_line_alone() -> None:
    lines = ["total = a + b", "print(total)"]
    c = span.cut(lines, span.Span(1, 8, 1, len(lines[0])))
    assert (c.text, c.after) == ("a + b", "")
    assert c.lines == ["total = a + b"]
    assert span.replace(c, span.fit(c, "sum((a, b))")) == ["total = sum((a, b))"]
    # a column past the end stops at it: the newline is taken only by the next line
    assert span.cut(lines, span.Span(1, 8, 1, 2**31 - 1)).text == "a + b"


def test_an_empty_replacement_removes_the_span_only() -> None:
    lines = ["call(a, b, c)"]
    s, e = around(lines[0], ", b")
    c = span.cut(lines, span.Span(1, s, 1, e))
    assert span.replace(c, "") == ["call(a, c)"]


def test_a_span_that_takes_the_newline_joins_when_emptied_and_keeps_it_for_code() -> None:
    # `v$` from "= " on line 1: the span ends at column 0 of line 2
    lines = ["x = old", "y = 2"]
    c = span.cut(lines, span.Span(1, 4, 2, 0))
    assert c.text == "old\n" and (c.before, c.after) == ("x = ", "y = 2")
    assert c.lines == lines
    assert span.replace(c, "") == ["x = y = 2"]  # as deleting it in Neovim would
    # a code block has no final newline: the span's own stays, the lines stay apart
    assert span.fit(c, "new") == "new\n"
    assert span.replace(c, span.fit(c, "new")) == ["x = new", "y = 2"]
    # and a span without one gets none from a block that ends with an empty line
    no_nl = span.cut(lines, span.Span(1, 4, 1, 7))
    assert span.fit(no_nl, "new\n") == "new"


def test_a_span_on_an_empty_line_is_its_newline() -> None:
    lines = ["a", "", "b"]
    c = span.cut(lines, span.Span(2, 0, 3, 0))
    assert c.text == "\n" and c.lines == ["", "b"]
    assert span.replace(c, "") == ["b"]


def test_a_span_given_backwards_is_the_same_span() -> None:
    lines = ["one two", "three"]
    assert span.cut(lines, span.Span(2, 3, 1, 4)) == span.cut(lines, span.Span(1, 4, 2, 3))


def test_a_span_outside_the_lines_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        span.cut(["only"], span.Span(1, 0, 2, 0))


# -- context.py: what is sent -----------------------------------------------------------


def pack_line(lines: list[str], line: int, text: str, **over: Any) -> Any:
    s, e = around(lines[line - 1], text)
    fields: dict[str, Any] = {
        "intent": "code",
        "instruction": "",
        "lines": lines,
        "window_start": 1,
        "start_line": line,
        "end_line": line,
        "start_col": s,
        "end_col": e,
        "filetype": "python",
    }
    fields.update(over)
    return pack(PackRequest(**fields))


def test_the_selection_sent_is_exactly_the_span_and_its_line_is_context() -> None:
    lines = ["def area(r):", "    return 3.14159 * r * r  # π r²", "", "print(area(2))"]
    p = pack_line(lines, 2, "3.14159 * r * r")
    assert p.selection == "3.14159 * r * r"
    assert p.around == ("    return ", "  # π r²")
    user = p.messages[-1]["content"]
    selected = user.split("Selected code")[1].split("Context after")[0]
    assert "3.14159 * r * r" in selected and "return" not in selected
    # where it sits: the rest of its line, before and after, is there as context
    before = user.split("Context before")[1].split("Selected code")[0]
    after = user.split("Context after")[1]
    assert "def area(r):" in before and "    return " in before
    assert "# π r²" in after and "print(area(2))" in after


def test_whole_lines_have_no_span() -> None:
    lines = ["a = 1", "b = 2"]
    p = pack(
        PackRequest(
            intent="code", instruction="", lines=lines, window_start=1, start_line=1, end_line=2
        )
    )
    assert p.selection == "a = 1\nb = 2" and p.around is None


# -- proposal.py: the change and applying it -------------------------------------------

BUFFER = ["import math", "", "def area(r):", "    return 3.14159 * r * r  # area", "", "x = 1"]
EXPR = "3.14159 * r * r"


def charwise_proposal(code: str, buffer: list[str] = BUFFER) -> changes.Proposal:
    s, e = around(buffer[3], EXPR)
    c = span.cut(buffer[3:4], span.Span(4, s, 4, e), first=4)
    prop, note = changes.from_answer(
        pid="p1",
        intent="code",
        text=f"```python\n{code}\n```",
        filetype="python",
        selection=[c.text],
        start_line=4,
        path=None,
        root="",
        test_paths={},
        read_file=lambda _p: None,
        cut=c,
    )
    assert note is None and prop is not None
    return prop


def applied(prop: changes.Proposal, buffer: list[str]) -> list[str]:
    result = changes.apply(prop, buffer, [h.index for h in prop.hunks])
    lines = list(buffer)
    lines[result.start : result.end] = result.lines
    return lines


def test_the_change_shows_the_whole_line_and_replaces_only_the_span() -> None:
    prop = charwise_proposal("math.pi * r ** 2")
    (hunk,) = prop.hunks
    # the review shows the line as it is and as it will be, not a bare expression
    assert list(hunk.old_lines) == ["    return 3.14159 * r * r  # area"]
    assert list(hunk.new_lines) == ["    return math.pi * r ** 2  # area"]
    after = applied(prop, BUFFER)
    assert after == [*BUFFER[:3], "    return math.pi * r ** 2  # area", *BUFFER[4:]]


def test_the_change_is_found_again_after_lines_above_it_moved() -> None:
    prop = charwise_proposal("math.pi * r ** 2")
    moved = ["# a comment added since", *BUFFER]
    assert applied(prop, moved)[4] == "    return math.pi * r ** 2  # area"


def test_a_multi_line_code_for_a_span_keeps_the_line_around_it() -> None:
    prop = charwise_proposal("(\n        math.pi * r ** 2\n    )")
    assert applied(prop, BUFFER)[3:6] == [
        "    return (",
        "        math.pi * r ** 2",
        "    )  # area",
    ]


@pytest.mark.parametrize(
    "edited",
    [
        "    return 3.14159 * r * r  # the area",  # outside the span
        "    return 3.14159 * r * r  # area   ",  # only trailing blanks: still refused
        "    return 3.1416 * r * r  # area",  # the span itself
    ],
)
def test_a_line_edited_since_is_refused_and_nothing_is_lost(edited: str) -> None:
    prop = charwise_proposal("math.pi * r ** 2")
    buffer = [*BUFFER[:3], edited, *BUFFER[4:]]
    with pytest.raises(ZekeError) as e:
        changes.apply(prop, buffer, [0])
    assert e.value.kind == "refused"
    assert "edited since" in e.value.message and "nothing was changed" in e.value.message


# -- the engine: a payload with byte columns ---------------------------------------------


def test_the_protocol_defines_the_columns() -> None:
    fields = protocol.RequestPayload.__annotations__
    assert "start_col" in fields and "end_col" in fields


@pytest.mark.anyio
async def test_the_engine_sends_the_span_and_proposes_the_span_replaced(tmp_path: Path) -> None:
    root = tmp_path / "grim"
    (root / ".git").mkdir(parents=True)
    line = "    total = price * (1 + tax) + fee  # ✓ ok"
    s, e = around(line, "price * (1 + tax)")
    model = ScriptedModel()
    model.omen(answer("```python\nprice * 1.2\n```"))
    cfg = {"alias": "auto", "db_path": str(tmp_path / "zeke.db")}
    async with serving(cfg, model) as (engine, rec):
        await engine.run_request(
            request(
                "r1",
                root,
                intent="code",
                lines=["def f(price, tax, fee):", line, "    return total"],
                start_line=2,
                end_line=2,
                start_col=s,
                end_col=e,
                total_lines=3,
            )
        )
    user = model.sent[0].body["messages"][-1]["content"]
    selected = user.split("Selected code")[1].split("Context after")[0]
    assert "price * (1 + tax)" in selected and "total =" not in selected and "fee" not in selected
    done = rec.done("r1")
    assert done["state"] == "done", done
    (hunk,) = done["proposal"]["hunks"]
    assert hunk["old_lines"] == [line]
    assert hunk["new_lines"] == ["    total = price * 1.2 + fee  # ✓ ok"]
