"""What a cold start loads: the host imports only what a first request uses.

Each module below costs every cold start a few milliseconds and a first Explain
needs none of them: the tool-server client (until a request offers tools), the
diff machinery (until an answer proposes a change), the rotating log handler and
uuid. The check runs in a fresh interpreter, the way Neovim starts the host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PYTHON_ROOT = Path(__file__).resolve().parents[2] / "rplugin" / "python3"

LOADED_LATER = [
    "zeke.tools.mcp.client",
    "zeke.tools.mcp.stdio",
    "zeke.tools.mcp.network",
    "zeke.changes.diffing",
    "zeke.changes.answer",
    "zeke.changes.testfile",
    "difflib",
    "logging.handlers",
    "pickle",
    "uuid",
]


# In the child: note which module imports each of LOADED_LATER first (the test venv's
# third-party packages may load some of them for themselves: only zeke's count).
_WATCH = """
import sys
WATCHED = set(sys.argv[1:])
BY = {}
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in WATCHED and name not in BY:
            f = sys._getframe(1)
            while f and f.f_code.co_filename.startswith("<frozen"):
                f = f.f_back
            BY[name] = f.f_globals.get("__name__", "?") if f else "?"
        return None
sys.meta_path.insert(0, Watch())
"""


def _imported_by_zeke(code: str) -> tuple[set[str], dict[str, str]]:
    """Run ``code`` in a fresh interpreter: the modules loaded, and which of
    LOADED_LATER a zeke module imported (name -> importer)."""
    script = f"{_WATCH}\n{code}\nimport json\nprint(json.dumps([sorted(sys.modules), BY]))"
    out = subprocess.run(
        [sys.executable, "-c", script, *LOADED_LATER],
        env={**os.environ, "PYTHONPATH": str(PYTHON_ROOT)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded, by = json.loads(out.stdout.splitlines()[-1])
    return set(loaded), {m: who for m, who in by.items() if who.startswith("zeke")}


def test_starting_the_host_loads_nothing_a_first_request_does_not_use(tmp_path: Path) -> None:
    log = tmp_path / "zeke.log"
    code = (
        "import os; os.environ['ZEKE_LOG_FILE'] = " + repr(str(log)) + "\n"
        "from zeke import __main__ as m; m._setup_logging()\n"
        "import zeke.host.adapter"
    )
    loaded, by_zeke = _imported_by_zeke(code)
    assert "zeke.engine.core" in loaded  # the host really was imported
    assert by_zeke == {}


def test_the_deferred_parts_still_load_when_used() -> None:
    loaded, _ = _imported_by_zeke(
        "from zeke.tools.mcp import MCPClient, ToolInfo\n"
        "from zeke.changes import proposal\n"
        "proposal.write_hunks('a\\n', 'b\\n')"
    )
    assert {"zeke.tools.mcp.client", "zeke.changes.diffing"} <= loaded


def test_every_name_the_tool_package_exports_can_be_loaded() -> None:
    from zeke.tools import mcp

    assert sorted(mcp.__all__) == sorted(mcp._WHERE)
    for name in mcp.__all__:
        assert getattr(mcp, name) is not None
