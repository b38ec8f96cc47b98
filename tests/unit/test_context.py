"""pack(): what the model is shown, and what is refused."""

from __future__ import annotations

import base64
import random
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeke.engine.context import Packed, PackRequest, estimate_tokens, pack, size_hint
from zeke.errors import ZekeError

ROOT = "/home/dev/proj"


def buffer(n: int = 200) -> list[str]:
    # Each line says its own number, so tests can see which lines were sent.
    return [f"value_{i} = compute({i})  # line {i}" for i in range(1, n + 1)]


def req(**kw: Any) -> PackRequest:
    base: dict[str, Any] = {
        "intent": "code",
        "instruction": "make it faster",
        "lines": buffer(),
        "window_start": 1,
        "start_line": 100,
        "end_line": 102,
        "path": f"{ROOT}/src/app/main.py",
        "root": ROOT,
        "filetype": "python",
    }
    base.update(kw)
    return PackRequest(**base)


def user(p: Packed) -> str:
    assert [m["role"] for m in p.messages] == ["system", "user"]
    return p.messages[1]["content"]


def sent_lines(p: Packed) -> set[int]:
    """Buffer line numbers whose full text appears in the prompt."""
    return {int(n) for n in re.findall(r"# line (\d+)\b", user(p))}


# ---------------------------------------------------------------- message shape


def test_user_message_has_instruction_relative_path_range_and_fenced_selection() -> None:
    p = pack(req(total_lines=200))
    text = user(p)
    assert text.startswith("make it faster")
    assert "src/app/main.py" in text and ROOT not in text
    assert "python" in text
    assert "lines 100-102 of 200" in text
    selection = "\n".join(buffer()[99:102])
    assert f"```python\n{selection}\n```" in text
    assert p.selection == selection


def test_empty_instruction_gets_a_default_per_intent() -> None:
    prompts = {i: user(pack(req(intent=i, instruction="  "))) for i in ("code", "tests", "reason")}
    firsts = {i: t.split("\n", 1)[0] for i, t in prompts.items()}
    assert all(len(f) > 20 for f in firsts.values())
    assert len(set(firsts.values())) == 3


def test_system_prompt_matches_the_intent() -> None:
    code = pack(req(intent="code")).messages[0]["content"]
    tests = pack(req(intent="tests")).messages[0]["content"]
    assert "ONE fenced code block" in code and "context" in code
    assert "pytest" in tests


def test_unknown_intent_is_an_error() -> None:
    with pytest.raises(ZekeError):
        pack(req(intent="vision"))


def test_path_outside_root_and_no_name() -> None:
    assert "/elsewhere/x.py" in user(pack(req(path="/elsewhere/x.py")))
    assert "[No Name]" in user(pack(req(path=None)))


def test_reason_numbers_lines_and_code_does_not() -> None:
    reason = user(pack(req(intent="reason")))
    assert "100 | value_100 = compute(100)" in reason
    assert "\n99 | value_99 = compute(99)" in reason
    code = user(pack(req(intent="code")))
    assert "| value_100" not in code


def test_fence_is_longer_than_backticks_inside_the_selection() -> None:
    lines = ["# Title", "```lua", "print(1)", "```", "end"]
    p = pack(req(lines=lines, start_line=1, end_line=5, filetype="markdown"))
    assert "````markdown\n# Title\n```lua\nprint(1)\n```\nend\n````" in user(p)


def test_upward_selection_is_normalised() -> None:
    p = pack(req(start_line=102, end_line=100))
    assert p.selection == "\n".join(buffer()[99:102])


def test_selection_outside_the_window_is_a_clear_error() -> None:
    with pytest.raises(ZekeError) as e:
        pack(req(lines=buffer()[:50], start_line=100, end_line=101))
    assert "lines 100-101" in e.value.message


# ---------------------------------------------------------------- context


def test_context_is_nearest_first_and_balanced() -> None:
    p = pack(req(context_lines=3))
    assert sent_lines(p) == {97, 98, 99, 100, 101, 102, 103, 104, 105}
    text = user(p)
    # Buffer order in the prompt: before, selection, after.
    assert text.index("# line 97") < text.index("# line 99") < text.index("# line 100")
    assert text.index("# line 102") < text.index("# line 103") < text.index("# line 105")
    assert "Context before the selection (lines 97-99)" in text
    assert "Context after the selection (lines 103-105)" in text
    assert "do not change" in text
    assert not p.trimmed


def test_token_budget_keeps_the_nearest_lines_on_both_sides() -> None:
    line_cost = len(buffer()[99]) + 1  # chars, all lines are about this long
    budget_tokens = (4 * line_cost + 3) // 4  # room for exactly four lines
    p = pack(req(context_lines=40, max_context_tokens=budget_tokens))
    assert sent_lines(p) == {98, 99, 100, 101, 102, 103, 104}
    assert p.trimmed
    assert "context trimmed to 4 lines" in p.notes


def test_both_limits_hold_on_long_and_uneven_lines() -> None:
    rng = random.Random(3)
    lines = [f"x{i} = '{'y' * rng.randint(0, 300)}'  # line {i + 1}" for i in range(400)]
    for context_lines, budget in [(10, 10_000), (40, 500), (0, 3000), (5, 0)]:
        p = pack(
            req(
                lines=lines,
                start_line=200,
                end_line=200,
                context_lines=context_lines,
                max_context_tokens=budget,
            )
        )
        ctx = sent_lines(p) - {200}
        before = [n for n in ctx if n < 200]
        after = [n for n in ctx if n > 200]
        assert len(before) <= context_lines and len(after) <= context_lines
        assert sum(len(lines[n - 1]) + 1 for n in ctx) <= budget * 4
        # Nearest first: what was sent on each side is contiguous with the selection.
        assert sorted(before) == list(range(200 - len(before), 200))
        assert sorted(after) == list(range(201, 201 + len(after)))


def test_context_stops_at_the_window_edges() -> None:
    p = pack(req(lines=buffer(5), start_line=1, end_line=1, context_lines=40))
    assert sent_lines(p) == {1, 2, 3, 4, 5}
    assert "Context before" not in user(p)
    assert not p.trimmed


def test_window_offset_is_respected() -> None:
    window = buffer(2000)[999:1100]  # buffer lines 1000..1100
    p = pack(req(lines=window, window_start=1000, start_line=1050, end_line=1050, context_lines=2))
    assert p.selection == "value_1050 = compute(1050)  # line 1050"
    assert sent_lines(p) == {1048, 1049, 1050, 1051, 1052}


class FarGuard(list):
    """A window that fails the test if a line far from the selection is read."""

    def __init__(self, items: list[str], lo: int, hi: int) -> None:
        super().__init__(items)
        self.lo, self.hi = lo, hi

    def __getitem__(self, key: Any) -> Any:
        idx = range(len(self))[key] if isinstance(key, slice) else [key]
        for i in idx:
            assert self.lo <= i <= self.hi, f"line index {i} read, far from the selection"
        return super().__getitem__(key)

    def __iter__(self) -> Any:
        raise AssertionError("the whole window was iterated")


def test_only_lines_near_the_selection_are_read_in_a_huge_window() -> None:
    n = 100_000
    lines = [f"row {i}" for i in range(n)]
    guard = FarGuard(lines, 50_000 - 250, 50_010 + 50)
    p = pack(req(lines=guard, start_line=50_001, end_line=50_010, context_lines=40))
    assert p.selection.startswith("row 50000")


# ---------------------------------------------------------------- diagnostics


def test_diagnostics_in_or_within_three_lines_are_listed() -> None:
    diags = [
        {
            "lnum": 99,
            "col": 4,
            "severity": 1,
            "message": "undefined name 'x'",
            "source": "pyflakes",
        },
        {"lnum": 96, "col": 0, "severity": 2, "message": "three above", "source": "lint"},
        {"lnum": 95, "col": 0, "severity": 2, "message": "four above", "source": "lint"},
        {"lnum": 104, "col": 0, "severity": 4, "message": "three below\nsecond line"},
        {"lnum": 105, "col": 0, "severity": 3, "message": "four below", "source": "lint"},
        {"bogus": True},
    ]
    text = user(pack(req(diagnostics=diags)))
    assert "L100: error: undefined name 'x' [pyflakes]" in text
    assert "L97: warning: three above [lint]" in text
    assert "L105: hint: three below second line" in text
    assert "four above" not in text and "four below" not in text


def test_no_diagnostics_section_without_diagnostics() -> None:
    assert "Diagnostics" not in user(pack(req(diagnostics=[])))


# ---------------------------------------------------------------- charwise


def byte_col(s: str, char_index: int) -> int:
    return len(s[:char_index].encode("utf-8"))


def test_charwise_selection_slices_on_utf8_byte_columns() -> None:
    line = "naïve = «héllo» + '✓ 日本語' + rest  # line 100"
    lines = buffer()
    lines[99] = line
    start = line.index("«")
    end = line.index("語") + 1  # exclusive
    p = pack(
        req(
            lines=lines,
            start_line=100,
            end_line=100,
            start_col=byte_col(line, start),
            end_col=byte_col(line, end),
        )
    )
    assert p.selection == "«héllo» + '✓ 日本語"
    text = user(p)
    assert "characterwise" in text
    # The unselected parts of the line are context, not selection.
    assert "naïve = " in text and "' + rest" in text


def test_charwise_over_several_lines() -> None:
    lines = ["def f(ä):", "    return ä * 2", "print(f(3))"]
    p = pack(
        req(
            lines=lines,
            start_line=1,
            end_line=2,
            start_col=byte_col(lines[0], 6),
            end_col=byte_col(lines[1], lines[1].index("ä") + 1),  # exclusive
        )
    )
    assert p.selection == "ä):\n    return ä"


def test_charwise_end_past_the_line_takes_the_rest() -> None:
    lines = ["abc ✓", "next"]
    p = pack(req(lines=lines, start_line=1, end_line=1, start_col=4, end_col=2**31 - 1))
    assert p.selection == "✓"


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30),
    st.data(),
)
@settings(max_examples=100, deadline=None)
def test_charwise_slicing_matches_character_slicing(line: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(line) - 1))
    j = data.draw(st.integers(i, len(line) - 1))
    p = pack(
        req(
            lines=[line],
            start_line=1,
            end_line=1,
            start_col=byte_col(line, i),
            end_col=byte_col(line, j + 1),  # exclusive
            filetype="",
        )
    )
    assert p.selection == line[i : j + 1]


# ---------------------------------------------------------------- refusals


def test_binary_selection_is_refused_with_what_to_do() -> None:
    lines = buffer()
    lines[99] = "PK\x03\x04\x00\x00binary"
    with pytest.raises(ZekeError) as e:
        pack(req(lines=lines))
    assert e.value.kind == "refused"
    assert "binary" in e.value.message and "Select" in e.value.message


def test_selection_full_of_unreadable_bytes_is_refused() -> None:
    junk = b"\xff\xfe\x81\x82\x83ab\x84\x85\x86\x87\x88".decode("utf-8", "surrogateescape")
    with pytest.raises(ZekeError) as e:
        pack(req(lines=[junk], start_line=1, end_line=1))
    assert e.value.kind == "refused"


def test_a_few_odd_characters_are_still_text() -> None:
    lines = ["s = 'caf\ufffd'  # one replacement char in a long line of ordinary text"]
    assert pack(req(lines=lines, start_line=1, end_line=1)).selection == lines[0]


def test_oversized_selection_is_refused_with_what_to_do() -> None:
    lines = ["x" * 399] * 100  # 40,000 chars ~ 10,000 tokens
    with pytest.raises(ZekeError) as e:
        pack(req(lines=lines, start_line=1, end_line=100, max_selection_tokens=5000))
    assert e.value.kind == "refused"
    assert "Select less" in e.value.message
    assert pack(req(lines=lines, start_line=1, end_line=100, max_selection_tokens=10_000))


# ---------------------------------------------------------------- redaction


def test_secrets_never_reach_the_messages_but_the_selection_keeps_them() -> None:
    lines = buffer()
    key_in_context = "sk-" + "proj" + "A1b2C3d4E5f6G7h8I9j0K1l2M3"
    key_in_selection = "gh" + "p_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    lines[97] = f'OPENAI_KEY = "{key_in_context}"'
    lines[100] = f'GITHUB = "{key_in_selection}"'
    diag_secret = "hunter2hunter2"
    diags = [{"lnum": 100, "severity": 1, "message": f"bad password='{diag_secret}'"}]
    instr_secret = "AK" + "IA" + "ABCDEFGHIJKLMNOP"
    p = pack(req(lines=lines, diagnostics=diags, instruction=f"rotate {instr_secret}"))
    blob = "\n".join(m["content"] for m in p.messages)
    for secret in (key_in_context, key_in_selection, diag_secret, instr_secret):
        assert secret not in blob
    assert key_in_selection in p.selection  # what the diff is computed against
    assert p.redactions == 4
    assert "4 secrets redacted" in p.notes


def test_selection_in_the_middle_of_a_private_key_is_hidden() -> None:
    rng = random.Random(1)
    body = [base64.b64encode(rng.randbytes(48)).decode() for _ in range(30)]
    lines = [
        "fixture = '''",
        "-----BEGIN RSA PRIVATE KEY-----",
        *body,
        "-----END RSA PRIVATE KEY-----",
        "'''",
        "def use(): pass",
    ]
    # Select body lines 10-12 only, with little context: no marker in the slices.
    p = pack(req(lines=lines, start_line=12, end_line=14, context_lines=3))
    blob = "\n".join(m["content"] for m in p.messages)
    assert not any(b in blob for b in body)
    assert p.selection == "\n".join(lines[11:14])


# ---------------------------------------------------------------- sizes


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("x" * 4000) == 1000


@pytest.mark.parametrize(
    ("tokens", "hint"),
    [
        (0, "tiny"),
        (256, "tiny"),
        (257, "small"),
        (2048, "small"),
        (2049, "medium"),
        (8192, "medium"),
        (8193, "large"),
        (10**6, "large"),
    ],
)
def test_size_hint_boundaries(tokens: int, hint: str) -> None:
    assert size_hint(tokens) == hint


def test_packed_size_covers_the_whole_prompt() -> None:
    small = pack(req(context_lines=2))
    lines = ["y" * 200] * 400
    big = pack(req(lines=lines, start_line=1, end_line=200, context_lines=40))
    for p in (small, big):
        chars = sum(len(m["content"]) for m in p.messages)
        assert chars / 4 <= p.tokens_est <= chars / 4 + 20
        assert p.size_hint == size_hint(p.tokens_est)
    assert small.size_hint == "small"
    assert big.size_hint == "large"
