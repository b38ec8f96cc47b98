"""Where generated tests go (test_target) and how they land in the file (merge_tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zeke.changes.testfile import TestTarget, merge_tests, test_target
from zeke.errors import ZekeError


def _touch(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ---------------------------------------------------------------------- test_target


def test_python_goes_to_root_tests(tmp_path: Path) -> None:
    src = tmp_path / "pkg" / "sub" / "calc.py"
    got = test_target(str(src), "python", str(tmp_path))
    assert got == TestTarget(str(tmp_path / "tests" / "test_calc.py"), False, "create")
    _touch(tmp_path / "tests" / "test_calc.py", "import calc\n")
    got = test_target(str(src), "python", str(tmp_path))
    assert got == TestTarget(str(tmp_path / "tests" / "test_calc.py"), True, "append")


def test_relative_source_path_is_under_root(tmp_path: Path) -> None:
    got = test_target("pkg/calc.py", "python", str(tmp_path))
    assert got.path == str(tmp_path / "tests" / "test_calc.py")


def test_go_beside_the_source(tmp_path: Path) -> None:
    src = tmp_path / "internal" / "store" / "db.go"
    got = test_target(str(src), "go", str(tmp_path))
    assert got == TestTarget(str(src.with_name("db_test.go")), False, "create")


@pytest.mark.parametrize(
    ("name", "filetype", "expected"),
    [
        ("util.js", "javascript", "util.test.js"),
        ("util.mjs", "javascript", "util.test.mjs"),
        ("api.ts", "typescript", "api.test.ts"),
        ("Button.jsx", "javascriptreact", "Button.test.jsx"),
        ("Button.tsx", "typescriptreact", "Button.test.tsx"),
    ],
)
def test_js_ts_beside_the_source_same_extension(
    tmp_path: Path, name: str, filetype: str, expected: str
) -> None:
    src = tmp_path / "src" / name
    got = test_target(str(src), filetype, str(tmp_path))
    assert got.path == str(tmp_path / "src" / expected)
    assert got.mode == "create"


def test_lua_spec_under_root_tests(tmp_path: Path) -> None:
    src = tmp_path / "lua" / "zeke" / "config.lua"
    _touch(tmp_path / "tests" / "config_spec.lua", "describe('x', function() end)\n")
    got = test_target(str(src), "lua", str(tmp_path))
    assert got == TestTarget(str(tmp_path / "tests" / "config_spec.lua"), True, "append")


def test_rust_is_the_source_itself_in_rust_mod_mode(tmp_path: Path) -> None:
    src = tmp_path / "src" / "lib.rs"
    _touch(src, "pub fn f() {}\n")
    got = test_target(str(src), "rust", str(tmp_path))
    assert got == TestTarget(str(src), True, "rust_mod")


def test_rust_integration_test_file_is_appended_to(tmp_path: Path) -> None:
    src = tmp_path / "tests" / "api.rs"
    _touch(src, "#[test]\nfn t() {}\n")
    got = test_target(str(src), "rust", str(tmp_path))
    assert got == TestTarget(str(src), True, "append")


@pytest.mark.parametrize(
    ("rel", "filetype"),
    [
        ("tests/test_calc.py", "python"),
        ("pkg/calc_test.py", "python"),
        ("store/db_test.go", "go"),
        ("src/api.test.ts", "typescript"),
        ("src/api.spec.js", "javascript"),
        ("src/__tests__/api.tsx", "typescriptreact"),
        ("tests/config_spec.lua", "lua"),
    ],
)
def test_a_test_file_is_its_own_target(tmp_path: Path, rel: str, filetype: str) -> None:
    src = tmp_path / rel
    _touch(src, "x\n")
    got = test_target(str(src), filetype, str(tmp_path))
    assert got == TestTarget(str(src), True, "append")


def test_override_pattern_for_an_unknown_filetype(tmp_path: Path) -> None:
    src = tmp_path / "lib" / "shop" / "cart.rb"
    got = test_target(str(src), "ruby", str(tmp_path), {"ruby": "{root}/spec/{stem}_spec.{ext}"})
    assert got == TestTarget(str(tmp_path / "spec" / "cart_spec.rb"), False, "create")
    got = test_target(str(src), "ruby", str(tmp_path), {"ruby": "{dir}/test_{stem}.{ext}"})
    assert got.path == str(tmp_path / "lib" / "shop" / "test_cart.rb")


def test_relative_override_is_relative_to_root(tmp_path: Path) -> None:
    got = test_target("app/cart.rb", "ruby", str(tmp_path), {"ruby": "spec/{stem}_spec.rb"})
    assert got.path == str(tmp_path / "spec" / "cart_spec.rb")


def test_override_wins_over_the_builtin_convention(tmp_path: Path) -> None:
    got = test_target(
        str(tmp_path / "src" / "calc.py"),
        "python",
        str(tmp_path),
        {"python": "{dir}/{stem}_test.{ext}"},
    )
    assert got.path == str(tmp_path / "src" / "calc_test.py")


def test_source_matching_the_override_is_its_own_target(tmp_path: Path) -> None:
    src = tmp_path / "spec" / "cart_spec.rb"
    _touch(src, "describe Cart do\nend\n")
    got = test_target(str(src), "ruby", str(tmp_path), {"ruby": "{root}/spec/{stem}_spec.{ext}"})
    assert got == TestTarget(str(src), True, "append")


def test_unknown_filetype_names_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(ZekeError) as err:
        test_target(str(tmp_path / "a.rb"), "ruby", str(tmp_path))
    assert err.value.kind == "config"
    assert "test_paths.ruby" in err.value.message
    # Overrides for other filetypes do not help.
    with pytest.raises(ZekeError) as err:
        test_target(str(tmp_path / "a.ex"), "elixir", str(tmp_path), {"ruby": "{stem}"})
    assert "test_paths.elixir" in err.value.message


def test_bad_override_pattern_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ZekeError) as err:
        test_target(str(tmp_path / "a.rb"), "ruby", str(tmp_path), {"ruby": "{name}_spec.rb"})
    assert err.value.kind == "config"
    assert "test_paths.ruby" in err.value.message and "{stem}" in err.value.message


# ---------------------------------------------------------------------- merge_tests


def test_create_adds_one_trailing_newline() -> None:
    assert merge_tests(None, "def test_a():\n    pass", "create", "python") == (
        "def test_a():\n    pass\n"
    )
    assert merge_tests(None, "x\n\n\n", "create", "lua") == "x\n"


def test_append_with_one_blank_line() -> None:
    got = merge_tests("it('a', function() end)\n\n\n", "it('b', function() end)", "append", "lua")
    assert got == "it('a', function() end)\n\nit('b', function() end)\n"


def test_append_python_drops_imports_the_file_has() -> None:
    existing = (
        "import pytest\nfrom calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    generated = (
        "import pytest\n"
        "from calc import add, sub\n"
        "from calc import add\n"
        "import math\n"
        "\n"
        "def test_sub():\n"
        "    assert sub(3, 1) == 2\n"
    )
    got = merge_tests(existing, generated, "append", "python")
    assert got == existing + (
        "\n\nfrom calc import add, sub\nimport math\n\ndef test_sub():\n    assert sub(3, 1) == 2\n"
    )


def test_append_python_keeps_multiline_imports_whole() -> None:
    existing = "from calc import (\n    add,\n)\n"
    generated = "from calc import (\n    add,\n)\n\ndef test_x():\n    pass\n"
    got = merge_tests(existing, generated, "append", "python")
    assert got == existing + "\n\n" + generated


def test_append_python_drops_future_import_mid_file() -> None:
    got = merge_tests(
        "def test_a():\n    pass\n",
        "from __future__ import annotations\n\ndef test_b():\n    pass",
        "append",
        "python",
    )
    assert got == "def test_a():\n    pass\n\n\ndef test_b():\n    pass\n"


def test_append_go_drops_the_duplicate_package_line_only() -> None:
    existing = 'package store\n\nimport "testing"\n\nfunc TestA(t *testing.T) {}\n'
    generated = 'package store\n\nimport "testing"\n\nfunc TestB(t *testing.T) {}\n'
    got = merge_tests(existing, generated, "append", "go")
    assert got == existing + '\nimport "testing"\n\nfunc TestB(t *testing.T) {}\n'


def test_append_to_missing_or_empty_file_is_create() -> None:
    assert merge_tests(None, "package x", "append", "go") == "package x\n"
    assert merge_tests("\n", "import os", "append", "python") == "import os\n"


RUST_SRC = """pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        let s = "}"; // a brace } in a comment
        let c = '}';
        assert_eq!(add(1, 2), 3);
    }
}

fn after() {}
"""

RUST_GENERATED = """```rust
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_negative() {
        assert_eq!(add(-1, -2), -3);
    }
}
"""


def test_rust_inserts_into_the_existing_tests_module() -> None:
    generated = RUST_GENERATED.removeprefix("```rust\n")
    got = merge_tests(RUST_SRC, generated, "rust_mod", "rust")
    assert got == RUST_SRC.replace(
        "        assert_eq!(add(1, 2), 3);\n    }\n}\n",
        "        assert_eq!(add(1, 2), 3);\n    }\n\n"
        "    #[test]\n"
        "    fn adds_negative() {\n"
        "        assert_eq!(add(-1, -2), -3);\n"
        "    }\n"
        "}\n",
    )
    assert got.count("use super::*;") == 1
    assert got.count("mod tests") == 1


def test_rust_inserts_bare_test_functions() -> None:
    generated = "#[test]\nfn zero() {\n    assert_eq!(add(0, 0), 0);\n}\n"
    got = merge_tests(RUST_SRC, generated, "rust_mod", "rust")
    assert got.endswith(
        "        assert_eq!(add(1, 2), 3);\n    }\n\n"
        "    #[test]\n    fn zero() {\n        assert_eq!(add(0, 0), 0);\n    }\n}\n"
        "\nfn after() {}\n"
    )


def test_rust_skips_a_use_line_the_module_already_has() -> None:
    existing = (
        "fn f() {}\n\n#[cfg(test)]\nmod tests {\n"
        "    use super::*;\n    use std::collections::HashMap;\n}\n"
    )
    generated = "use std::collections::HashMap;\nuse std::fmt;\n\n#[test]\nfn t() {}\n"
    got = merge_tests(existing, generated, "rust_mod", "rust")
    assert got == (
        "fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n"
        "    use std::collections::HashMap;\n\n"
        "    use std::fmt;\n\n    #[test]\n    fn t() {}\n}\n"
    )


def test_rust_without_tests_module_appends_one() -> None:
    existing = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
    generated = "#[test]\nfn adds() {\n    assert_eq!(add(1, 2), 3);\n}"
    got = merge_tests(existing, generated, "rust_mod", "rust")
    assert got == existing + (
        "\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n"
        "    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n}\n"
    )


def test_rust_without_module_strips_the_models_wrapper() -> None:
    existing = "pub fn add(a: i32, b: i32) -> i32 { a + b }\n"
    got = merge_tests(existing, RUST_GENERATED.removeprefix("```rust\n"), "rust_mod", "rust")
    assert got == existing + (
        "\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n"
        "    #[test]\n    fn adds_negative() {\n        assert_eq!(add(-1, -2), -3);\n    }\n}\n"
    )


def test_rust_mod_tests_in_a_comment_or_string_is_not_the_module() -> None:
    existing = (
        "// #[cfg(test)] mod tests { is planned }\n"
        'const S: &str = "#[cfg(test)] mod tests {";\n'
        "fn f() {}\n"
    )
    got = merge_tests(existing, "#[test]\nfn t() {}", "rust_mod", "rust")
    assert (
        got
        == existing
        + "\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn t() {}\n}\n"
    )


def test_rust_into_an_empty_module() -> None:
    existing = "fn f() {}\n\n#[cfg(test)]\nmod tests {}\n"
    got = merge_tests(existing, "#[test]\nfn t() {}", "rust_mod", "rust")
    assert got == "fn f() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n"


def test_rust_new_file() -> None:
    got = merge_tests(None, "#[test]\nfn t() {}", "rust_mod", "rust")
    assert got == "#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn t() {}\n}\n"


def test_rust_raw_strings_and_lifetimes_do_not_confuse_braces() -> None:
    existing = (
        "fn f<'a>(x: &'a str) -> &'a str { x }\n\n"
        "#[cfg(test)]\nmod tests {\n"
        "    use super::*;\n"
        '    const R: &str = r#"}"#;\n'
        "    /* } /* nested } */ */\n"
        "}\n"
    )
    got = merge_tests(existing, "#[test]\nfn t() {}", "rust_mod", "rust")
    assert got.endswith("    /* } /* nested } */ */\n\n    #[test]\n    fn t() {}\n}\n")


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ZekeError):
        merge_tests("", "x", "prepend", "python")


def test_merged_python_file_still_parses(tmp_path: Path) -> None:
    existing = (
        "from __future__ import annotations\n\nimport pytest\n\n\ndef test_a():\n    assert True\n"
    )
    generated = (
        "from __future__ import annotations\nimport pytest\n\n\ndef test_b():\n    assert True\n"
    )
    got = merge_tests(existing, generated, "append", "python")
    compile(got, os.fspath(tmp_path / "t.py"), "exec")
    assert "def test_a" in got and "def test_b" in got
