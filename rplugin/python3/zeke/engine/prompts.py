"""System prompts and default instructions, one per intent.

Short and precise on purpose: small local models follow a few firm rules far
better than a long essay, and every token here is paid for on every request.
The answer formats they ask for are what ``answer.py`` parses (one fenced block
for ``code`` and ``tests``).
"""

from __future__ import annotations

from zeke.errors import ZekeError

INTENTS = ("code", "tests", "reason", "vision")
#: The intents whose request packs code context (vision sends an image instead).
CODE_INTENTS = ("code", "tests", "reason")

# Neovim filetype -> language name the model knows.
_LANGUAGES: dict[str, str] = {
    "python": "Python",
    "lua": "Lua",
    "go": "Go",
    "rust": "Rust",
    "javascript": "JavaScript",
    "javascriptreact": "JavaScript (React, JSX)",
    "typescript": "TypeScript",
    "typescriptreact": "TypeScript (React, TSX)",
    "c": "C",
    "cpp": "C++",
    "cs": "C#",
    "java": "Java",
    "kotlin": "Kotlin",
    "ruby": "Ruby",
    "php": "PHP",
    "sh": "shell (POSIX sh)",
    "bash": "Bash",
    "zsh": "Zsh",
    "zig": "Zig",
    "swift": "Swift",
    "elixir": "Elixir",
    "haskell": "Haskell",
    "sql": "SQL",
    "vim": "Vim script",
}

# Filetype -> how tests are written there.
_TEST_STYLES: dict[str, str] = {
    "python": "pytest (plain `def test_...` functions and `assert`; fixtures and "
    "`pytest.mark.parametrize` where they help)",
    "go": "the standard `testing` package (`go test`): `func TestXxx(t *testing.T)` in the "
    "same package, table-driven where it helps",
    "rust": "a `#[cfg(test)] mod tests { use super::*; ... }` module with `#[test]` functions",
    "javascript": "Jest-style `describe`/`it`/`expect` (also valid under Vitest)",
    "javascriptreact": "Jest-style `describe`/`it`/`expect` (also valid under Vitest)",
    "typescript": "Jest-style `describe`/`it`/`expect` (also valid under Vitest), typed",
    "typescriptreact": "Jest-style `describe`/`it`/`expect` (also valid under Vitest), typed",
    "lua": "busted (`describe`/`it`/`assert.are.same`), loading the module with `require`",
    "ruby": "RSpec",
    "java": "JUnit 5",
    "kotlin": "JUnit 5 with kotlin.test assertions",
    "cs": "xUnit",
    "php": "PHPUnit",
    "elixir": "ExUnit",
    "zig": "`test` blocks with `std.testing`",
    "swift": "XCTest",
    "cpp": "GoogleTest",
    "sh": "bats",
    "bash": "bats",
}


def language_name(filetype: str) -> str:
    """A readable language name for a Neovim filetype ("" -> "the file's language")."""
    ft = (filetype or "").strip()
    if not ft:
        return "the file's language"
    return _LANGUAGES.get(ft, ft)


def _check_intent(intent: str) -> None:
    if intent not in INTENTS:
        raise ZekeError(
            f"Unknown intent {intent!r}: expected one of {', '.join(INTENTS)}.", kind="internal"
        )


def system_prompt(intent: str, filetype: str) -> str:
    """The system message for ``intent`` ("code" | "tests" | "reason" | "vision")."""
    _check_intent(intent)
    lang = language_name(filetype)
    tag = (filetype or "").strip() or "text"
    if intent == "code":
        return (
            f"You are an expert {lang} programmer editing code inside the user's editor.\n"
            "The user message holds an instruction, the SELECTED code, and surrounding "
            "context lines.\n"
            "Rules:\n"
            f"1. Answer with the complete replacement for the selected code in exactly ONE "
            f"fenced code block tagged `{tag}`. It replaces the selection verbatim, so "
            "return all of it, not just the changed lines, and nothing else.\n"
            "2. Keep the original indentation and the interface the surrounding code relies on "
            "(names, signatures, return values) unless the instruction asks to change it.\n"
            "3. Never include the context lines in the block; they are there for reference "
            "only. If the selection is part of a line, return only the replacement for "
            "that part.\n"
            "4. After the block, at most 3 short sentences on what changed and why. No other "
            "code blocks."
        )
    if intent == "tests":
        style = _TEST_STYLES.get(
            (filetype or "").strip(), f"the usual test framework for {lang} projects"
        )
        return (
            f"You are an expert {lang} programmer writing tests for the user's code.\n"
            "The user message holds an instruction, the SELECTED code to test, its file path, "
            "and surrounding context lines.\n"
            "Rules:\n"
            f"1. Write the tests in exactly ONE fenced code block tagged `{tag}`, using "
            f"{style}.\n"
            "2. The block is a self-contained test file: it imports (or includes) the code "
            "under test from its module, derived from the file path; never copy the code "
            "under test into it.\n"
            "3. Cover normal behaviour, edge cases and error cases; each test checks one "
            "thing and has a descriptive name. No network, no sleeps.\n"
            "4. After the block, at most 3 short sentences. No other code blocks."
        )
    if intent == "vision":
        return (
            "You are an expert software engineer looking at an image the user shares from "
            "their editor (a screenshot, a diagram, a mockup, a plot).\n"
            "Rules:\n"
            "1. Answer the user's question about the image clearly and briefly in Markdown; "
            "lead with the direct answer.\n"
            "2. Describe only what you can see; say so when something is unreadable or you "
            "are unsure.\n"
            "3. When the image shows code, errors or UI, name the relevant parts precisely."
        )
    return (
        f"You are an expert {lang} programmer explaining code to a colleague.\n"
        "The user message holds a question, the SELECTED code with its line numbers, and "
        "surrounding context lines.\n"
        "Rules:\n"
        "1. Answer clearly and briefly in Markdown; lead with the direct answer.\n"
        "2. Refer to code by line number (e.g. `L42`) rather than quoting long passages.\n"
        "3. Do not rewrite the code unless the user asks for it; a short snippet is fine "
        "when it makes a point clearer.\n"
        "4. Point out bugs, edge cases and risks you notice, and say so when you are unsure."
    )


def default_instruction(intent: str) -> str:
    """What to ask when the user gave no instruction."""
    _check_intent(intent)
    if intent == "code":
        return (
            "Improve this code: make it clearer, simpler and more idiomatic without changing "
            "its behaviour. Fix any obvious bug you find and say so."
        )
    if intent == "tests":
        return (
            "Write unit tests for this code, covering normal cases, edge cases and error handling."
        )
    if intent == "vision":
        return "Explain what this image shows, and anything in it that looks wrong or notable."
    return "Explain what this code does, how it works, and anything surprising or risky in it."
