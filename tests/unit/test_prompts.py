"""System prompts and default instructions: one per intent, naming the language and
the fence tag answer.py looks for, and the test style of the file's language."""

from __future__ import annotations

import pytest

from zeke.engine import prompts
from zeke.errors import ZekeError


@pytest.mark.parametrize(
    ("filetype", "name"),
    [("python", "Python"), ("typescriptreact", "TypeScript (React, TSX)"), ("nim", "nim")],
)
def test_language_names_known_and_unknown(filetype: str, name: str) -> None:
    assert prompts.language_name(filetype) == name


def test_no_filetype_is_the_files_language_and_a_text_fence() -> None:
    assert prompts.language_name("  ") == "the file's language"
    code = prompts.system_prompt("code", "")
    assert "expert the file's language programmer" in code
    assert "fenced code block tagged `text`" in code


@pytest.mark.parametrize("intent", ["code", "tests"])
def test_code_and_tests_ask_for_one_block_tagged_with_the_filetype(intent: str) -> None:
    text = prompts.system_prompt(intent, "go")
    assert "exactly ONE fenced code block tagged `go`" in text
    assert "Go programmer" in text


def test_tests_use_the_languages_framework_or_a_generic_one() -> None:
    assert "pytest" in prompts.system_prompt("tests", "python")
    assert "busted" in prompts.system_prompt("tests", "lua")
    assert "the usual test framework for nim projects" in prompts.system_prompt("tests", "nim")


def test_reason_explains_and_does_not_ask_for_a_block() -> None:
    text = prompts.system_prompt("reason", "rust")
    assert "explaining code" in text and "fenced code block" not in text


def test_each_intent_has_its_own_prompt_and_instruction() -> None:
    systems = {prompts.system_prompt(i, "python") for i in prompts.INTENTS}
    defaults = {prompts.default_instruction(i) for i in prompts.INTENTS}
    assert len(systems) == len(defaults) == len(prompts.INTENTS) == 4


@pytest.mark.parametrize("fn", [prompts.system_prompt, prompts.default_instruction])
def test_an_unknown_intent_is_an_internal_error(fn) -> None:
    args = ("bogus", "python") if fn is prompts.system_prompt else ("bogus",)
    with pytest.raises(ZekeError, match="Unknown intent 'bogus'") as info:
        fn(*args)
    assert info.value.kind == "internal"
