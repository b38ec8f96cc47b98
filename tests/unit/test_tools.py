"""Tool policy: what the model is offered, where it may write, what a write would change."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeke.errors import ZekeError
from zeke.tools.mcp import ToolInfo
from zeke.tools.names import DESTRUCTIVE_TOOLS, READ_TOOLS, WRITE_TOOLS, classify
from zeke.tools.policy import (
    ProposedWrite,
    args_digest,
    confine_path,
    looks_like_path,
    offered_tools,
    path_arguments,
    proposed_write,
    refuse_git_internals,
    schema_path_keys,
    to_openai_tools,
    tool_paths,
)


def _tool(name: str) -> ToolInfo:
    return ToolInfo(name=name, description=f"{name} tool", input_schema={"type": "object"})


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize("name", sorted(READ_TOOLS))
def test_read_tools_are_read(name: str) -> None:
    assert classify(name) == "read"


@pytest.mark.parametrize(
    "name", ["write_file", "edit_file", "apply_patch", "create_directory", "move_file"]
)
def test_write_tools_are_write(name: str) -> None:
    assert classify(name) == "write"


@pytest.mark.parametrize(
    "name",
    [
        "delete_file",
        "shell_execute",
        "http_request",
        # names an unknown server might use for the same dangers
        "exec_command",
        "run_shell",
        "run_command",
        "fetch",
        "fetchUrl",
        "remove_directory",
        "deleteBranch",
        "http_get",
        "rm",
        "git-rm",
    ],
)
def test_dangerous_names_are_destructive(name: str) -> None:
    assert classify(name) == "destructive"


@pytest.mark.parametrize("name", ["read_media_file", "git_status", "format_code", "confirm"])
def test_other_names_are_unknown(name: str) -> None:
    assert classify(name) == "unknown"


def test_sets_do_not_overlap() -> None:
    assert not (READ_TOOLS & WRITE_TOOLS)
    assert not (READ_TOOLS & DESTRUCTIVE_TOOLS)
    assert not (WRITE_TOOLS & DESTRUCTIVE_TOOLS)


# ------------------------------------------------------------------ offering

GLYPH_TOOLS = [
    "echo",
    "read_file",
    "write_file",
    "list_directory",
    "delete_file",
    "shell_execute",
    "http_request",
]


def test_glyph_tools_offered_without_destructive_ones() -> None:
    offered = offered_tools([_tool(n) for n in GLYPH_TOOLS])
    assert [t.name for t in offered] == ["echo", "read_file", "write_file", "list_directory"]


def test_destructive_and_unknown_only_when_enabled() -> None:
    tools = [_tool(n) for n in [*GLYPH_TOOLS, "read_media_file"]]
    offered = offered_tools(tools, enable=["shell_execute", "read_media_file"])
    names = [t.name for t in offered]
    assert "shell_execute" in names
    assert "read_media_file" in names
    assert "delete_file" not in names
    assert "http_request" not in names


def test_duplicate_server_tools_offered_once() -> None:
    offered = offered_tools([_tool("read_file"), _tool("read_file")])
    assert [t.name for t in offered] == ["read_file"]


def test_openai_tool_shape() -> None:
    schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
    tools = to_openai_tools(
        [ToolInfo("read_file", "Read a file", schema), ToolInfo("echo", "", {})]
    )
    assert tools[0] == {
        "type": "function",
        "function": {"name": "read_file", "description": "Read a file", "parameters": schema},
    }
    # an empty schema still gives the router a valid object schema
    assert tools[1]["function"]["parameters"] == {"type": "object", "properties": {}}


# ------------------------------------------------------------------ confinement


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A project root and a directory outside it, with links from inside to outside."""
    root = tmp_path / "project"
    outside = tmp_path / "outside"
    (root / "src").mkdir(parents=True)
    outside.mkdir()
    (root / "src" / "main.py").write_text("print(1)\n")
    (outside / "secret.txt").write_text("secret\n")
    (root / "link_dir").symlink_to(outside, target_is_directory=True)
    (root / "link_file").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to(outside / "not_yet.txt")
    (root / "inner_link").symlink_to(root / "src", target_is_directory=True)
    return root, outside


def test_relative_path_inside_is_resolved(project: tuple[Path, Path]) -> None:
    root, _ = project
    assert confine_path("src/main.py", str(root)) == str((root / "src" / "main.py").resolve())


def test_new_file_inside_is_allowed(project: tuple[Path, Path]) -> None:
    root, _ = project
    assert confine_path("src/new/deep.txt", str(root)) == str(root.resolve() / "src/new/deep.txt")


def test_absolute_path_inside_is_allowed(project: tuple[Path, Path]) -> None:
    root, _ = project
    path = str(root / "src" / "main.py")
    assert confine_path(path, str(root)) == str(Path(path).resolve())


def test_dotdot_inside_is_allowed(project: tuple[Path, Path]) -> None:
    root, _ = project
    assert confine_path("src/../src/main.py", str(root)) == str((root / "src/main.py").resolve())


def test_symlink_staying_inside_is_allowed(project: tuple[Path, Path]) -> None:
    root, _ = project
    assert confine_path("inner_link/main.py", str(root)) == str((root / "src/main.py").resolve())


def test_root_itself_is_allowed(project: tuple[Path, Path]) -> None:
    root, _ = project
    assert confine_path(".", str(root)) == str(root.resolve())


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "src/../../outside/secret.txt",
        "..",
        "link_dir/secret.txt",  # symlinked directory pointing outside
        "link_file",  # symlinked file pointing outside
        "link_dir/new_file.txt",  # not-yet-existing file in a symlinked dir outside
        "link_dir/sub/new.txt",
        "dangling",  # dangling link: writing through it would create a file outside
        "link_dir/../outside/secret.txt",  # lexically inside; ".." applies after the link
    ],
)
def test_escapes_are_refused(project: tuple[Path, Path], path: str) -> None:
    root, _ = project
    with pytest.raises(ZekeError) as info:
        confine_path(path, str(root))
    assert info.value.kind == "refused"
    assert "outside the project root" in info.value.message


def test_absolute_path_outside_is_refused(project: tuple[Path, Path]) -> None:
    root, outside = project
    for path in (str(outside / "secret.txt"), "/etc/passwd"):
        with pytest.raises(ZekeError, match="outside the project root"):
            confine_path(path, str(root))


def test_sibling_with_common_prefix_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    sibling = tmp_path / "proj-evil"
    root.mkdir()
    sibling.mkdir()
    with pytest.raises(ZekeError, match="outside the project root"):
        confine_path(str(sibling / "x"), str(root))


def test_root_given_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "a").mkdir(parents=True)
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    assert confine_path("a/b.txt", str(alias)) == os.path.join(str(real.resolve()), "a", "b.txt")


@pytest.mark.parametrize("path", ["", "   ", "a\0b"])
def test_empty_or_nul_paths_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ZekeError) as info:
        confine_path(path, str(tmp_path))
    assert info.value.kind == "refused"


def test_tool_paths_lists_every_path_argument() -> None:
    assert tool_paths("read_file", {"path": "a.txt"}) == ["a.txt"]
    assert tool_paths("move_file", {"source": "a", "destination": "b"}) == ["a", "b"]
    assert tool_paths("read_multiple_files", {"paths": ["x", "y"]}) == ["x", "y"]
    assert tool_paths("shell_execute", {"command": "ls", "cwd": "/tmp"}) == ["/tmp"]
    assert tool_paths("echo", {"message": "hi"}) == []


@pytest.mark.parametrize("args", [{"path": 3}, {"paths": "a"}, {"paths": ["a", 1]}])
def test_tool_paths_refuses_malformed_paths(args: dict) -> None:
    with pytest.raises(ZekeError) as info:
        tool_paths("read_file", args)
    assert info.value.kind == "refused"


# ------------------------------------------------------------------ which arguments are paths

# As the real mcp-server-git (PyPI) describes two of its tools.
GIT_STATUS_SCHEMA = {
    "type": "object",
    "properties": {"repo_path": {"title": "Repo Path", "type": "string"}},
    "required": ["repo_path"],
}
GIT_ADD_SCHEMA = {
    "type": "object",
    "properties": {
        "repo_path": {"type": "string"},
        "files": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
}


def test_path_arguments_by_name_whatever_the_server_calls_them() -> None:
    assert schema_path_keys(GIT_STATUS_SCHEMA) == {"repo_path"}
    assert schema_path_keys(GIT_ADD_SCHEMA) == {"repo_path", "files"}
    names = ["repo_path", "workingDirectory", "dirPath", "filepath", "subdir", "root",
             "repository", "sourceFiles", "dest"]  # fmt: skip
    props = {n: {"type": "string"} for n in [*names, "message", "branch_name", "max_count"]}
    assert schema_path_keys({"type": "object", "properties": props}) == set(names)


def test_path_arguments_by_what_the_schema_says() -> None:
    schema = {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The directory to search in"},
            "target": {"type": "string", "format": "file-path"},
            "where": {"type": "array", "items": {"type": "string", "description": "a path"}},
            "revision": {"type": "string", "description": "A commit, e.g. HEAD~1"},
            "options": {
                "type": "object",
                "properties": {"base": {"type": "string", "description": "Base folder"}},
            },
        },
    }
    assert schema_path_keys(schema) == {"location", "target", "where", "base"}
    args = {"location": "src", "target": "x", "where": ["a", "b"], "revision": "HEAD~1",
            "options": {"base": "lib"}}  # fmt: skip
    assert path_arguments("search", args, schema) == [
        ("location", "src"),
        ("target", "x"),
        ("where[0]", "a"),
        ("where[1]", "b"),
        ("options.base", "lib"),
    ]


def test_git_server_repo_path_is_a_path() -> None:
    """The call that read another repository with consent = "allow"."""
    args = {"repo_path": "/home/me/other-repo"}
    assert tool_paths("git_status", args, GIT_STATUS_SCHEMA) == ["/home/me/other-repo"]
    assert tool_paths("git_status", args) == ["/home/me/other-repo"]  # by its name alone
    add = {"repo_path": ".", "files": ["a.py", "../x/b.py"]}
    assert path_arguments("git_add", add, GIT_ADD_SCHEMA) == [
        ("repo_path", "."),
        ("files[0]", "a.py"),
        ("files[1]", "../x/b.py"),
    ]


@pytest.mark.parametrize(
    "value",
    ["/etc/passwd", "~/.ssh/id_rsa", "~", "./x", "../x", "..", ".", "a/b", "origin/main",
     "file:///etc/passwd", "FILE:/etc/hosts", "C:/Windows"],
)  # fmt: skip
def test_strings_that_look_like_paths(value: str) -> None:
    assert looks_like_path(value)


@pytest.mark.parametrize(
    "value",
    ["fix the /etc/passwd parser", "HEAD~1", "main", "hello world", "", "x" * 5000,
     "/* comment */\nint x;", "line one\n/etc/passwd", "a\tb/c", "3.14", "--force"],
)  # fmt: skip
def test_ordinary_text_is_not_taken_for_a_path(value: str) -> None:
    assert not looks_like_path(value)


def test_a_word_is_a_path_when_it_names_something_in_the_project(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "My Notes.txt").write_text("x")
    (tmp_path / "link").symlink_to("/nonexistent-target")  # dangling: a link still counts
    for word in ("notes.txt", "My Notes.txt", "link"):
        assert looks_like_path(word, str(tmp_path)), word
    assert not looks_like_path("other.txt", str(tmp_path))
    assert not looks_like_path("notes.txt")  # no root: nothing is looked up


def test_any_string_argument_that_looks_like_a_path_is_one(tmp_path: Path) -> None:
    args = {
        "query": "../../etc",  # a text-ish name: its value is not looked at
        "ref": "../outside",
        "opts": {"deep": [{"x": "~/.aws/credentials"}], "n": 3, "flag": True},
        "url": "file:///etc/shadow",
        "message": "see /etc/passwd",
        "content": "/build",
        "edits": [{"oldText": "../x", "newText": "/y"}],
        "revision": "HEAD~2",
    }
    home = os.path.expanduser("~")
    assert path_arguments("custom", args, root=str(tmp_path)) == [
        ("ref", "../outside"),
        ("opts.deep[0].x", f"{home}/.aws/credentials"),
        ("url", "/etc/shadow"),
    ]


def test_home_is_spelled_out_in_path_arguments() -> None:
    home = os.path.expanduser("~")
    assert tool_paths("read_file", {"path": "~/x"}) == [f"{home}/x"]


def test_a_write_inside_dot_git_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".git" / "hooks").mkdir(parents=True)
    (tmp_path / "sub" / ".git").mkdir(parents=True)
    (tmp_path / "hooklink").symlink_to(tmp_path / ".git" / "hooks")
    for path in (".git/hooks/pre-commit", ".git", "sub/.git/config", "hooklink/post-merge"):
        real = confine_path(path, str(tmp_path))
        with pytest.raises(ZekeError, match=r"\.git"):
            refuse_git_internals(real, str(tmp_path))
    for path in ("src/a.py", ".gitignore", ".github/workflows/ci.yml", "."):
        refuse_git_internals(confine_path(path, str(tmp_path)), str(tmp_path))


# ------------------------------------------------------------------ proposed writes


def test_write_file_new_and_existing() -> None:
    assert proposed_write("write_file", {"path": "a.txt", "content": "x\n"}, None) == ProposedWrite(
        "a.txt", None, "x\n"
    )
    assert proposed_write(
        "write_file", {"path": "a.txt", "content": "new"}, "old"
    ) == ProposedWrite("a.txt", "old", "new")


def test_write_file_needs_content_and_path() -> None:
    with pytest.raises(ZekeError, match="content"):
        proposed_write("write_file", {"path": "a.txt"}, None)
    with pytest.raises(ZekeError, match="path"):
        proposed_write("write_file", {"content": "x"}, None)


def test_edit_file_applies_edits_in_order() -> None:
    current = "def f():\n    return 1\n\ndef g():\n    return 2\n"
    edits = [
        {"oldText": "return 1", "newText": "return 10"},
        {"oldText": "return 10\n\ndef g", "newText": "return 10\n\ndef h"},
    ]
    result = proposed_write("edit_file", {"path": "m.py", "edits": edits}, current)
    assert result.old == current
    assert result.new == "def f():\n    return 10\n\ndef h():\n    return 2\n"


def test_edit_file_replaces_only_first_occurrence() -> None:
    result = proposed_write(
        "edit_file", {"path": "m", "edits": [{"oldText": "x", "newText": "y"}]}, "x x x"
    )
    assert result.new == "y x x"


def test_edit_file_matches_ignoring_indentation() -> None:
    # A model that got the indentation wrong: the line is found once stripped, and the
    # new line takes the file's indentation.
    current = "def f():\n    return 1\n"
    edits = [{"oldText": "  return 1  ", "newText": "return 2"}]
    result = proposed_write("edit_file", {"path": "a.py", "edits": edits}, current)
    assert result.new == "def f():\n    return 2\n"


def test_edit_file_reindents_like_the_filesystem_server() -> None:
    # Later lines move by how much their indentation grew against the old line at the
    # same position - @modelcontextprotocol/server-filesystem's rule, so the preview is
    # what that server writes (checked against it in tests/integration).
    current = "class A:\n    def f(self):\n        return 1\n"
    edits = [
        {
            "oldText": "  def f(self):\n      return 1",
            "newText": "  def f(self):\n        if x:\n            return 2",
        }
    ]
    result = proposed_write("edit_file", {"path": "a.py", "edits": edits}, current)
    assert result.new == "class A:\n    def f(self):\n      if x:\n            return 2\n"


def test_edit_file_keeps_crlf_line_ends() -> None:
    current = "one\r\ntwo\r\nthree\r\n"
    edits = [{"oldText": "one\ntwo", "newText": "one\n2"}]
    result = proposed_write("edit_file", {"path": "w.txt", "edits": edits}, current)
    assert result.new == "one\r\n2\r\nthree\r\n"


def test_edit_that_no_longer_matches_is_refused() -> None:
    edits = [
        {"oldText": "alpha", "newText": "ALPHA"},
        {"oldText": "gamma", "newText": "GAMMA"},
    ]
    with pytest.raises(ZekeError) as info:
        proposed_write("edit_file", {"path": "notes.txt", "edits": edits}, "alpha\nbeta\n")
    assert info.value.kind == "refused"
    assert info.value.message.startswith("edit 2 no longer matches notes.txt")


def test_edit_of_missing_file_is_refused() -> None:
    with pytest.raises(ZekeError, match="does not exist"):
        proposed_write(
            "edit_file", {"path": "x", "edits": [{"oldText": "a", "newText": "b"}]}, None
        )


@pytest.mark.parametrize(
    "edits", [[], "x", [{"oldText": "a"}], [{"oldText": "", "newText": "b"}], [3]]
)
def test_malformed_edits_are_refused(edits: object) -> None:
    with pytest.raises(ZekeError) as info:
        proposed_write("edit_file", {"path": "x", "edits": edits}, "a\n")
    assert info.value.kind == "refused"


def test_apply_patch_applies_a_unified_diff() -> None:
    current = "one\ntwo\nthree\nfour\n"
    patch = (
        "--- a/f.txt\n+++ b/f.txt\n"
        "@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
        "@@ -4,1 +4,2 @@\n four\n+five\n"
    )
    result = proposed_write("apply_patch", {"path": "f.txt", "patch": patch}, current)
    assert result == ProposedWrite("f.txt", current, "one\nTWO\nthree\nfour\nfive\n")


def test_apply_patch_tolerates_shifted_lines() -> None:
    current = "header\nextra\none\ntwo\n"
    patch = "@@ -1,2 +1,2 @@\n one\n-two\n+2\n"
    result = proposed_write("apply_patch", {"path": "f", "patch": patch}, current)
    assert result.new == "header\nextra\none\n2\n"


def test_apply_patch_creates_a_file() -> None:
    patch = "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+hello\n+world\n"
    result = proposed_write("apply_patch", {"path": "new.txt", "patch": patch}, None)
    assert result == ProposedWrite("new.txt", None, "hello\nworld\n")


def test_apply_patch_that_does_not_apply_is_refused() -> None:
    patch = "@@ -1,2 +1,2 @@\n one\n-two\n+2\n"
    with pytest.raises(ZekeError) as info:
        proposed_write("apply_patch", {"path": "f", "patch": patch}, "one\nchanged\n")
    assert info.value.kind == "refused"
    assert "does not apply" in info.value.message


def test_apply_patch_for_several_files_is_refused() -> None:
    patch = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(ZekeError, match="several files"):
        proposed_write("apply_patch", {"path": "x", "patch": patch}, "a\n")


def test_non_content_tools_are_not_previewed() -> None:
    with pytest.raises(ZekeError) as info:
        proposed_write("move_file", {"path": "a", "source": "a", "destination": "b"}, "x")
    assert info.value.kind == "refused"


@settings(max_examples=60, deadline=None)
@given(
    before=st.text(alphabet="ab \n", max_size=30),
    old=st.text(alphabet="abc", min_size=1, max_size=5),
    after=st.text(alphabet="ab \n", max_size=30),
    new=st.text(alphabet="xyz\n", max_size=8),
)
def test_edit_exact_replacement_property(before: str, old: str, after: str, new: str) -> None:
    # "c" never occurs around the edited text, so exact matching must hit this occurrence
    # whenever old contains a "c"; otherwise it may hit an earlier one, still the first.
    current = before + old + after
    result = proposed_write(
        "edit_file", {"path": "p", "edits": [{"oldText": old, "newText": new}]}, current
    )
    i = current.find(old)
    assert result.new == current[:i] + new + current[i + len(old) :]


# ------------------------------------------------------------------ digest


def test_digest_ignores_key_order_and_is_short_hex() -> None:
    a = args_digest({"path": "a.txt", "content": "x", "nested": {"b": 1, "a": [1, 2]}})
    b = args_digest({"nested": {"a": [1, 2], "b": 1}, "content": "x", "path": "a.txt"})
    assert a == b
    assert len(a) == 16
    int(a, 16)


def test_digest_is_sha256_of_canonical_json() -> None:
    args = {"b": "é", "a": 1}
    canonical = '{"a":1,"b":"é"}'
    assert args_digest(args) == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert json.loads(canonical) == args


def test_digest_differs_when_arguments_differ() -> None:
    assert args_digest({"path": "a"}) != args_digest({"path": "b"})
    assert args_digest({"path": "a"}) != args_digest({"path": "a", "x": None})
