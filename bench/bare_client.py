#!/usr/bin/env python3
"""The baseline: a bare httpx client reading the same stream zeke reads.

    python bench/bare_client.py URL BODY_FILE N     # N requests, then one JSON list
    python bench/bare_client.py URL BODY_FILE -     # one request per stdin line

Sends the chat body in ``BODY_FILE`` over one pooled ``httpx.AsyncClient`` (as the
host does), parses ``data:`` lines with ``json.loads`` and reports per request
``{rid, start_ns, first_ns, last_ns, tokens}`` on ``time.monotonic_ns()`` (the
server's and Neovim's clock). With ``-`` it answers each stdin line with one JSON
line, so the driver can interleave it with zeke's requests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

import httpx


async def one(http: httpx.AsyncClient, url: str, body: bytes) -> dict[str, Any]:
    rid = "bare-" + uuid.uuid4().hex[:8]
    headers = {"content-type": "application/json", "x-request-id": rid}
    start = time.monotonic_ns()
    first = 0
    tokens = 0
    async with http.stream("POST", url, content=body, headers=headers) as resp:
        async for line in resp.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            obj = json.loads(line[6:])
            for choice in obj.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    tokens += 1
                    if not first:
                        first = time.monotonic_ns()
    return {"rid": rid, "start_ns": start, "first_ns": first, "last_ns": time.monotonic_ns(),
            "tokens": tokens}  # fmt: skip


async def main(url: str, body_file: str, n: str) -> None:
    with open(body_file, "rb") as f:
        body = f.read()
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(trust_env=False, timeout=timeout) as http:
        if n == "-":
            loop = asyncio.get_running_loop()
            while await loop.run_in_executor(None, sys.stdin.readline):
                print(json.dumps(await one(http, url, body)), flush=True)
            return
        out = [await one(http, url, body) for _ in range(int(n))]
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
