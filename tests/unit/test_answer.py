"""extract_code: which fenced block of a model's answer becomes the proposed change."""

from __future__ import annotations

import pytest

from zeke.changes.answer import ExtractedCode, canonical_language, extract_code

FIX = "def area(r):\n    return 3.14159 * r * r"


def test_picks_the_matching_language_over_an_install_command() -> None:
    answer = (
        "First install the dependency:\n\n"
        "```bash\npip install numpy scipy matplotlib pandas requests httpx\n```\n\n"
        f"Then:\n\n```python\n{FIX}\n```\n"
    )
    got = extract_code(answer, "python")
    assert got == ExtractedCode(code=FIX, language="python", complete=True)


def test_longest_matching_block_wins_over_a_usage_example() -> None:
    answer = f"```py\n{FIX}\n```\n\nUsage:\n\n```python\nprint(area(2))\n```\n"
    got = extract_code(answer, "python")
    assert got is not None
    assert got.code == FIX
    assert got.language == "py"


def test_longest_wins_even_when_it_comes_second() -> None:
    answer = f"Usage:\n```python\narea(1)\n```\nFull version:\n```python\n{FIX}\n```\n"
    got = extract_code(answer, "python")
    assert got is not None and got.code == FIX


@pytest.mark.parametrize(
    ("tag", "filetype"),
    [
        ("js", "javascript"),
        ("javascript", "javascript"),
        ("ts", "typescript"),
        ("tsx", "typescriptreact"),
        ("typescript", "typescriptreact"),
        ("jsx", "javascriptreact"),
        ("bash", "sh"),
        ("sh", "zsh"),
        ("zsh", "bash"),
        ("rs", "rust"),
        ("lua", "lua"),
        ("golang", "go"),
        ("c", "c"),
        ("c++", "cpp"),
        ("cpp", "cpp"),
        ("Python", "python"),
        ("python", "python.django"),
    ],
)
def test_language_aliases_match_the_filetype(tag: str, filetype: str) -> None:
    answer = f"```text\nsome other longer untagged-ish output here\n```\n```{tag}\nx = 1\n```\n"
    got = extract_code(answer, filetype)
    assert got is not None
    assert got.code == "x = 1"
    assert got.language == tag


def test_a_block_in_another_language_is_never_the_code() -> None:
    answer = "Run this:\n\n```bash\npip install thing\n```\n"
    assert extract_code(answer, "python") is None


def test_untagged_block_is_used_when_nothing_is_tagged_for_the_filetype() -> None:
    answer = f"```\nshort\n```\n```bash\nrm -rf build && make all\n```\n```\n{FIX}\n```\n"
    got = extract_code(answer, "python")
    assert got is not None
    assert got.code == FIX
    assert got.language is None


def test_untagged_longest_without_filetype() -> None:
    answer = f"```\nx\n```\ntext\n```\n{FIX}\n```"
    got = extract_code(answer)
    assert got is not None and got.code == FIX


def test_no_filetype_takes_the_longest_block_of_any_tag() -> None:
    answer = f"```bash\nls\n```\n```python\n{FIX}\n```\n"
    got = extract_code(answer, None)
    assert got is not None and got.code == FIX


def test_unknown_filetype_accepts_a_tagged_block() -> None:
    answer = "```nginx\nserver { listen 80; }\n```\n"
    got = extract_code(answer, "nginx")
    assert got is not None and got.code == "server { listen 80; }"
    got = extract_code("```conf\nkey = value\n```", "someft")
    assert got is not None and got.code == "key = value"


def test_no_fences_is_none() -> None:
    assert extract_code("def f():\n    return 1\n", "python") is None
    assert extract_code("", "python") is None
    assert extract_code("Use `x` and ``y``.", "python") is None


def test_empty_block_is_not_code() -> None:
    assert extract_code("```python\n```\n", "python") is None
    assert extract_code("```python\n\n   \n```\n", "python") is None


def test_tilde_fences_and_info_string_attributes() -> None:
    answer = '~~~lua title="init.lua"\nlocal M = {}\nreturn M\n~~~\n'
    got = extract_code(answer, "lua")
    assert got == ExtractedCode(code="local M = {}\nreturn M", language="lua", complete=True)


def test_closing_fence_must_be_at_least_as_long() -> None:
    # A ```` fence holds ``` lines as content (e.g. Markdown about Markdown).
    answer = "````markdown\nExample:\n```python\nx = 1\n```\n````\n"
    got = extract_code(answer, "markdown")
    assert got is not None
    assert got.code == "Example:\n```python\nx = 1\n```"
    assert got.complete


def test_tilde_block_is_not_closed_by_backticks() -> None:
    answer = "~~~python\nx = '''\n```\n'''\n~~~\n"
    got = extract_code(answer, "python")
    assert got is not None and got.code == "x = '''\n```\n'''"


def test_longer_closing_fence_closes() -> None:
    got = extract_code("```python\nx = 1\n``````\nafter", "python")
    assert got == ExtractedCode(code="x = 1", language="python", complete=True)


def test_fence_with_text_after_is_not_a_closer() -> None:
    got = extract_code("```python\ns = 1\n``` not a fence\ny = 2\n```\n", "python")
    assert got is not None and got.code == "s = 1\n``` not a fence\ny = 2"


def test_deeply_indented_fence_inside_code_does_not_close_the_block() -> None:
    code = 'def f():\n    """Example:\n\n    ```\n    f()\n    ```\n    """'
    got = extract_code(f"```python\n{code}\n```\n", "python")
    assert got is not None and got.code == code and got.complete


def test_inner_indentation_and_blank_lines_kept_single_trailing_newline_dropped() -> None:
    code = "    if x:\n\n        return 1\n"  # ends in a blank line the model meant
    got = extract_code(f"```python\n{code}\n```", "python")
    assert got is not None
    assert got.code == code


def test_indented_fence_in_a_list_item_loses_only_the_list_indent() -> None:
    answer = "1. Replace it:\n\n   ```python\n   def f():\n       return 2\n   ```\n"
    got = extract_code(answer, "python")
    assert got is not None and got.code == "def f():\n    return 2"


def test_crlf_answer() -> None:
    got = extract_code("```python\r\nx = 1\r\ny = 2\r\n```\r\n", "python")
    assert got is not None and got.code == "x = 1\ny = 2"


def test_unclosed_fence_is_incomplete() -> None:
    answer = "Here:\n\n```python\ndef f():\n    return"
    got = extract_code(answer, "python")
    assert got == ExtractedCode(code="def f():\n    return", language="python", complete=False)


def test_unclosed_fence_final_newline_is_not_a_blank_code_line() -> None:
    got = extract_code("```python\nx = 1\n", "python")
    assert got is not None and got.code == "x = 1" and not got.complete


def test_truncated_answer_marks_even_an_earlier_closed_choice_incomplete() -> None:
    answer = f"```python\n{FIX}\n```\nAnd a test:\n```python\nassert area(1)"
    got = extract_code(answer, "python")
    assert got is not None
    assert got.code == FIX
    assert got.complete is False


def test_text_tag_counts_as_untagged() -> None:
    got = extract_code("```text\nhello world\n```", "python")
    assert got is not None and got.code == "hello world"


def test_filename_after_colon_in_info_string() -> None:
    got = extract_code("```python:src/app.py\nx = 1\n```", "python")
    assert got is not None and got.code == "x = 1" and got.language == "python"


def test_canonical_language() -> None:
    assert canonical_language("py") == canonical_language("python") == "python"
    assert canonical_language("bash") == canonical_language("zsh") == "sh"
    assert canonical_language("C++") == "cpp"
    assert canonical_language("weird") == "weird"
    assert canonical_language(None) is None
