#!/usr/bin/env python3
"""A stdio MCP server that gets stuck in its first tool call, for lifetime tests.

    python tests/fakes/stuck_mcp.py PIDFILE [--helper]

It offers one tool (``read_file``). The call never returns: the server writes its
pid (and, with ``--helper``, the pid of a helper process it started, like npx
starting node) to PIDFILE, then sleeps. It ignores SIGTERM and never reads stdin
again, so neither the end of its stdin nor a polite signal stops it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def reply(rid: object, result: dict) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}) + "\n")
    sys.stdout.flush()


TOOLS = [
    {
        "name": "read_file",
        "description": "Read a file (never returns)",
        "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}},
    }
]


def stuck(pidfile: str, helper: bool) -> None:
    pids = [os.getpid()]
    if helper:  # an ordinary process (started before SIGTERM is ignored: that is inherited)
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL
        )
        pids.append(child.pid)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    tmp = pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(" ".join(map(str, pids)))
    os.replace(tmp, pidfile)
    while True:
        time.sleep(60)


def main() -> int:
    pidfile = sys.argv[1]
    helper = "--helper" in sys.argv[2:]
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        method, rid = msg.get("method"), msg.get("id")
        if rid is None:
            continue  # notifications
        if method == "initialize":
            reply(
                rid,
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "stuck", "version": "0"},
                },
            )
        elif method == "tools/list":
            reply(rid, {"tools": TOOLS})
        elif method == "tools/call":
            stuck(pidfile, helper)
        else:
            reply(rid, {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
