"""What a user gets: zeke in a Neovim with its defaults on and a UI attached
(``bench/session.py``), each figure next to baselines from the same run on the
same server: a curl-per-request Lua streamer in the same kind of Neovim
(``bench/nvim/lua/zbench/curl.lua``), a bare httpx client and ``curl -N``.

"Visible" is the UI's ``flush`` that first showed a token (``bench/ui.py``);
"in the buffer" is ``nvim_buf_attach``'s on_lines. Every stream's tokens are
numbered per run, so the UI can tell this run's text from the last one's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import session
from common import BENCH, ROOT, Row, SSEServer, median, pctl, proc_status, wait_for
from session import Watch, tree_rss, watch

ZEKE_CMD = "10,30ZekeExplain"
CURL_CMD = "10,30BenchCurlExplain"
# (label, zeke on the runtimepath, command)
KINDS = (("zeke", True, ZEKE_CMD), ("curl-Lua", False, CURL_CMD))


def _own(srv: dict[str, Any]) -> float:
    """The server's own time to first byte (ms): taken off every first-token figure."""
    return (srv["first_ns"] - srv["recv_ns"]) / 1e6


def _shown_at(w: Watch, marker: str, timeout: float = 30) -> int:
    """When the UI's flush first showed ``marker`` (ns); waits for it."""
    got = wait_for(
        lambda: w.nv.ui_call("seen")["seen"].get(marker),
        timeout=timeout,
        interval=0.01,
        message=f"{marker!r} on screen",
    )
    return int(got)


def _arm(w: Watch, prefix: str) -> None:
    w.nv.ui_call(rf"arm \b{prefix}\d+\b")


def _request(w: Watch, server: SSEServer, cmd: str, prefix: str, **mode: Any) -> dict[str, Any]:
    """One request with numbered tokens: the Lua stamps, the server's, when shown."""
    mode.setdefault("tokens", 8)
    mode.setdefault("newline_every", 0)
    mode.setdefault("token_delay", 0.0)
    server.mode(prefix=prefix, **mode)
    _arm(w, prefix)
    st = w.run(cmd)
    if st["state"] != "done":
        raise RuntimeError(f"{cmd} ended {st['state']}")
    st["shown"] = _shown_at(w, f"{prefix}0")
    stamps = {s["rid"]: s for s in server.stamps()}
    st["srv"] = stamps[st["rid"]]
    return st


# -- baselines outside Neovim -------------------------------------------------------------


def curl_first_byte(server: SSEServer, body: Path, rid: str) -> dict[str, int]:
    """``curl -N`` as a new process: spawn and first body byte (ns), then the rest."""
    spawn = time.monotonic_ns()
    proc = subprocess.Popen(
        ["curl", "-sS", "-N", "--noproxy", "*", "-H", "content-type: application/json",
         "-H", f"x-request-id: {rid}", "--data-binary", f"@{body}",
         f"{server.url}/chat/completions"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    first = 0
    while os.read(fd, 1 << 16):
        first = first or time.monotonic_ns()
    proc.wait(60)
    return {"spawn_ns": spawn, "first_ns": first, "last_ns": time.monotonic_ns()}


def bare_pooled(server: SSEServer, body: Path) -> subprocess.Popen[str]:
    """A long-lived bare httpx client (pooled connection): one request per stdin line."""
    return subprocess.Popen(
        [sys.executable, str(BENCH / "bare_client.py"), f"{server.url}/chat/completions",
         str(body), "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def bare_go(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def bare_cold(server: SSEServer, body: Path) -> float:
    """A fresh Python process importing httpx and asking once: spawn → first token (ms)."""
    spawn = time.monotonic_ns()
    out = subprocess.run(
        [sys.executable, str(BENCH / "bare_client.py"), f"{server.url}/chat/completions",
         str(body), "1"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    b = json.loads(out)[0]
    srv = {s["rid"]: s for s in server.stamps()}[b["rid"]]
    return (b["first_ns"] - spawn) / 1e6 - _own(srv)


def capture_body(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path) -> Path:
    """The body zeke sends for the bench command (the bare clients replay it)."""
    body = tmp / "body.json"
    if not body.exists():
        server.mode(tokens=8, prefix="b0t", newline_every=0, token_delay=0.0)
        with watch(nvim_bin, tmp / "body", server, project, file) as w:
            w.run(ZEKE_CMD)
            body.write_bytes(server.last_body())
        server.stamps()
    return body


# -- warm: the command, the request, the first token ------------------------------------


def warm(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path, body: Path,
         runs: int = 30) -> list[Row]:  # fmt: skip
    """Interleaved, so all see the same machine: zeke, the curl-Lua baseline (each in
    its own realistic Neovim), bare httpx (pooled) and curl -N (a new process)."""
    got: dict[str, dict[str, list[float]]] = {k: {} for k, _, _ in KINDS}
    outside: dict[str, list[float]] = {"httpx": [], "curl": []}

    def add(kind: str, key: str, v: float) -> None:
        got[kind].setdefault(key, []).append(v)

    sessions = {k: Watch(nvim_bin, tmp / f"warm-{k}", server, project, file, zeke=z)
                for k, z, _ in KINDS}  # fmt: skip
    bare = bare_pooled(server, body)
    try:
        for k, _, cmd in KINDS:  # host up, modules loaded, connection pooled
            for j in range(2):
                _request(sessions[k], server, cmd, f"x{j}q")
        sessions["zeke"].nv.lua("require('zbench').profile()")
        for i in range(runs):
            for k, _, cmd in KINDS:
                st = _request(sessions[k], server, cmd, f"w{i}q")
                srv, t0 = st["srv"], st["t0"]
                add(k, "sync", (st["cmd_end"] - t0) / 1e6)
                add(k, "reach", (srv["recv_ns"] - t0) / 1e6)
                add(k, "first_shown", (st["shown"] - srv["first_ns"]) / 1e6)
                add(k, "first_buf", (st["first"] - srv["first_ns"]) / 1e6)
                add(k, "ttft", (st["shown"] - t0) / 1e6 - _own(srv))
                parts = st.get("parts") or {}
                for part, ms in parts.items():
                    add(k, part, ms)
                if "answer buffer" in parts:
                    add(k, "rest", (st["cmd_end"] - t0) / 1e6 - parts["answer buffer"]
                        - parts.get("send to host", 0.0))  # fmt: skip
            b = bare_go(bare)
            c = curl_first_byte(server, body, f"curl-{i}")
            stamps = {s["rid"]: s for s in server.stamps()}
            sb, sc = stamps[b["rid"]], stamps[f"curl-{i}"]
            outside["httpx"].append((b["first_ns"] - b["start_ns"]) / 1e6 - _own(sb))
            outside["curl"].append((c["first_ns"] - c["spawn_ns"]) / 1e6 - _own(sc))
    finally:
        assert bare.stdin is not None
        bare.stdin.close()
        bare.wait(10)
        for w in sessions.values():
            w.close()
    z, c = got["zeke"], got["curl-Lua"]
    m = {k: {key: median(v) for key, v in d.items()} for k, d in got.items()}
    hx, cu = median(outside["httpx"]), median(outside["curl"])
    zm, cm = m["zeke"], m["curl-Lua"]
    nan = float("nan")
    ab, send = zm.get("answer buffer", nan), zm.get("send to host", nan)
    parts = f"answer buffer {ab:.1f} ms, send to host {send:.1f} ms"
    sync_why = (
        f"Medians of its parts: the answer buffer (`zeke.scratch.open`) {ab:.1f} ms; "
        f"sending to the host (`zeke.host.notify`) {send:.1f} ms; the rest (selection, context "
        f"capture, request state) {zm.get('rest', nan):.1f} ms. zeke sets the answer's "
        f"`filetype=markdown` once its first text is drawn; the curl-Lua baseline fills one answer "
        f"buffer anew each time, so it pays its filetype once, on its first request."
    )
    ttft_why = (
        f"The request reaches the server {zm['reach']:.1f} ms after the command (curl-Lua "
        f"{cm['reach']:.1f}); the answer buffer is built while it travels ({ab:.1f} ms). Server's "
        f"first byte → visible: {zm['first_shown']:.1f} ms (curl-Lua {cm['first_shown']:.1f}); "
        f"→ in the buffer {zm['first_buf']:.1f} ms (curl-Lua {cm['first_buf']:.1f})."
    )
    return [
        Row("2 warm", "command's synchronous part (:ZekeExplain handler)", zm["sync"], "ms",
            baseline=f"curl-Lua {cm['sync']:.2f} ms",
            target="≤ 2 ms", ok=zm["sync"] <= 2,
            note=f"{parts}; p90 {pctl(z['sync'], 90):.1f} ms", extra={"why": sync_why}),
        Row("2 warm", "request reaches the server (command → body read)", zm["reach"], "ms",
            baseline=f"curl-Lua {cm['reach']:.1f} ms",
            note="server-side timestamp; curl-Lua sends before it builds its buffer"),
        Row("2 warm", "server's first byte → visible (UI flush)", zm["first_shown"], "ms",
            baseline=f"curl-Lua {cm['first_shown']:.1f} ms",
            note=f"→ in the buffer: zeke {zm['first_buf']:.1f} ms, curl-Lua "
                 f"{cm['first_buf']:.1f} ms"),
        Row("2 warm", "warm first token (command → visible)", zm["ttft"], "ms",
            baseline=f"curl-Lua {cm['ttft']:.1f} ms · httpx {hx:.2f} · curl -N {cu:.1f}",
            target="≤ curl-Lua", ok=zm["ttft"] <= cm["ttft"],
            note=f"p90 zeke {pctl(z['ttft'], 90):.1f} / curl-Lua {pctl(c['ttft'], 90):.1f} ms; "
                 f"over httpx {zm['ttft'] - hx:+.1f} ms; {runs} interleaved runs",
            extra={"why": ttft_why}),
    ]  # fmt: skip


# -- cold ----------------------------------------------------------------------------------


# How long a user takes from entering Visual mode to the command (`V`, a motion, the
# mapping: a few keystrokes): the head start prestart="visual" gets.
SELECT_MS = 400

# (key, label part, zeke config, at_start template): the zeke variants of the cold case
COLD_ZEKE = (
    ("start", "command at startup (VimEnter)", None, "0 {cmd}"),
    ("visual", f"Visual selection 1 s after startup, command {SELECT_MS} ms later "
     "(prestart=\"visual\", the default)", None, f"1000 visual:{SELECT_MS} {{cmd}}"),
    ("late", "command 1 s after startup (prestart=false)", {"prestart": False}, "1000 {cmd}"),
)  # fmt: skip


def cold(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path, body: Path,
         runs: int = 5) -> list[Row]:  # fmt: skip
    """A fresh Neovim each run; the command runs from the init's VimEnter: at once, or
    1 s later (typed as a user does: Visual mode, a selection, then the command; and
    without prestart). Interleaved over the variants; one discarded warm-up round first."""
    variants: list[tuple[str, str, bool, dict[str, Any] | None, str]] = [
        (f"zeke-{key}", "zeke", True, conf, at.format(cmd="ZekeExplain" if "visual" in at
                                                       else ZEKE_CMD))
        for key, _, conf, at in COLD_ZEKE
    ] + [("curl-Lua-start", "curl-Lua", False, None, f"0 {CURL_CMD}"),
         ("curl-Lua-late", "curl-Lua", False, None, f"1000 {CURL_CMD}")]  # fmt: skip
    ttft: dict[str, list[float]] = {v[0]: [] for v in variants}
    reach: dict[str, list[float]] = {v[0]: [] for v in variants}
    enter: list[float] = []
    hx, cu = [], []
    for i in range(runs + 1):
        for j, (key, _, z, conf, at) in enumerate(variants):
            prefix = f"c{i}v{j}q"
            server.mode(tokens=8, prefix=prefix, newline_every=0, token_delay=0.0)
            home = tmp / f"cold-{key}-{i}"
            # a fresh Neovim, not a fresh install: the cache exists (made and migrated
            # in the discarded first round), as it does for a user after day one
            conf = {"db_path": str(tmp / "cold.db"), **(conf or {})}
            with watch(nvim_bin, home, server, project, file, zeke=z, config=conf,
                       at_start=at, arm=rf"\b{prefix}\d+\b") as w:  # fmt: skip
                st = w.wait(poll=0.02, timeout=60)
                if st["state"] != "done":
                    raise RuntimeError(f"cold {key} ended {st['state']}")
                shown = _shown_at(w, f"{prefix}0")
                srv = {s["rid"]: s for s in server.stamps()}[st["rid"]]
                vimenter = w.nv.lua("return require('zbench').vimenter")
                if i == 0:
                    continue
                ttft[key].append((shown - st["t0"]) / 1e6 - _own(srv))
                reach[key].append((srv["recv_ns"] - st["t0"]) / 1e6)
                if key == "zeke-start":
                    enter.append((vimenter - w.nv.spawned_ns) / 1e6)
        hx.append(bare_cold(server, body))
        c = curl_first_byte(server, body, f"curl-cold-{i}")
        sc = {s["rid"]: s for s in server.stamps()}[f"curl-cold-{i}"]
        cu.append((c["first_ns"] - c["spawn_ns"]) / 1e6 - _own(sc))
    hx, cu = hx[1:], cu[1:]

    def row(key: str, curl: str, label: str, target: float | None) -> Row:
        z, c = ttft[key], ttft[curl]
        return Row("3 cold", f"cold first token, {label}", median(z), "ms",
                   baseline=f"curl-Lua {median(c):.1f} ms · fresh httpx process "
                            f"{median(hx):.0f} · curl -N process {median(cu):.1f}",
                   target=f"≤ {target:.0f} ms" if target else "",
                   ok=median(z) <= target if target else None,
                   note=f"request reached the server after {median(reach[key]):.0f} ms "
                        f"(curl-Lua {median(reach[curl]):.0f}); min {min(z):.0f}, "
                        f"max {max(z):.0f}; {len(z)} runs")  # fmt: skip

    labels = {key: label for key, label, _, _ in COLD_ZEKE}
    first = row("zeke-start", "curl-Lua-start", labels["start"], 250)
    first.note += f"; Neovim spawn → VimEnter {median(enter):.0f} ms (not counted)"
    visual = row("zeke-visual", "curl-Lua-late", labels["visual"], 100)
    visual.note += (f"; the host starts on entering Visual mode, {SELECT_MS} ms before the "
                    "command; curl-Lua: its command 1 s after startup")  # fmt: skip
    later = row("zeke-late", "curl-Lua-late", labels["late"], None)
    later.note += "; the host starts at the command (for contrast: what prestart buys)"
    hs = host_start_parts(runs=max(2, runs))
    steps = host_start_steps(nvim_bin, server, tmp, project, file)
    reach0 = median(reach["zeke-start"])
    first.extra["why"] = (
        f"The host starts at the first command; the request reached the server {reach0:.0f} ms "
        f"after it. One extra run with the host's start stamped (`bench/hostprobe`): {steps}. "
        f"Out of Neovim, `python -c pass` takes {hs['interp']:.0f} ms here; `-X importtime` of "
        f"`zeke.host.adapter`, self time by package: {hs['top']}. For scale: a fresh httpx process "
        f"(interpreter, import, one request) {median(hx):.0f} ms; curl-Lua's whole cold first token {median(ttft['curl-Lua-start']):.0f} ms."
    )
    visual.extra["why"] = (
        f"The host starts on entering Visual mode, {SELECT_MS} ms before the command; the "
        f"request reached the server {median(reach['zeke-visual']):.0f} ms after the command "
        f"(without prestart: {median(reach['zeke-late']):.0f} ms)."
    )
    return [first, visual, later]


def host_start_steps(nvim_bin: str, server: SSEServer, tmp: Path, project: Path,
                     file: Path) -> str:  # fmt: skip
    """One cold zeke run (command at startup) with the host's start stamped by
    ``bench/hostprobe/sitecustomize.py``: where the time before the request goes."""
    stamps = tmp / "host-stamps.jsonl"
    stamps.unlink(missing_ok=True)
    pypath = os.pathsep.join(p for p in (str(BENCH / "hostprobe"), os.environ.get("PYTHONPATH"))
                             if p)  # fmt: skip
    server.mode(tokens=8, prefix="hsq", newline_every=0, token_delay=0.0)
    env = {"PYTHONPATH": pypath, "ZBENCH_HOST_STAMPS": str(stamps)}
    with watch(nvim_bin, tmp / "cold-steps", server, project, file, env=env,
               config={"db_path": str(tmp / "cold.db")}, at_start=f"0 {ZEKE_CMD}") as w:  # fmt: skip
        st = w.wait(poll=0.02, timeout=60)
    if st["state"] != "done":
        return f"the stamped run ended {st['state']}"
    srv = {s["rid"]: s for s in server.stamps()}[st["rid"]]
    got = {}
    if stamps.exists():
        got = {d["name"]: d["ns"] for d in map(json.loads, stamps.read_text().splitlines())}
    steps = [("interp", "command → host interpreter up (the command itself, jobstart, Python's start)"),
             ("import_start", "→ `zeke.host.adapter` starts loading (zeke package, logging)"),
             ("imported", "→ loaded (pynvim, anyio, zeke's modules and what they import)"),
             ("started", "→ host started (attach to Neovim, event-loop thread, engine up)"),
             ("request", "→ the request notification arrives")]  # fmt: skip
    sync = (st["cmd_end"] - st["t0"]) / 1e6
    out = [f"(the command's own synchronous part {sync:.0f} ms: zeke's Lua modules load, the "
           "answer buffer, jobstart)"]  # fmt: skip
    prev = st["t0"]
    for key, label in steps:
        if key not in got:
            return f"stamps missing ({key}); got {sorted(got)}"
        out.append(f"{label} {(got[key] - prev) / 1e6:.0f} ms")
        prev = got[key]
    out.append(f"→ at the server (setup, packing, HTTP client, connection) "
               f"{(srv['recv_ns'] - prev) / 1e6:.0f} ms")  # fmt: skip
    return "; ".join(out)


def host_start_parts(runs: int) -> dict[str, Any]:
    """Out of Neovim, with the host's interpreter and PYTHONPATH: a bare interpreter
    start (median over runs) and where importing ``zeke.host.adapter`` spends its time."""
    python = session.HOST_PYTHON or sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT / "rplugin" / "python3"))

    def wall(code: str) -> float:
        t = time.monotonic()
        subprocess.run([python, "-c", code], env=env, check=True, timeout=60)
        return (time.monotonic() - t) * 1000

    interp = [wall("pass") for _ in range(runs)]
    err = subprocess.run([python, "-X", "importtime", "-c", "import zeke.host.adapter"], env=env,
                         capture_output=True, text=True, check=True, timeout=60).stderr  # fmt: skip
    own: dict[str, int] = {}  # self time (µs) by top-level package
    for line in err.splitlines():
        fields = line.split("|")
        self_us = fields[0].rsplit(":", 1)[-1].strip()
        if len(fields) != 3 or not self_us.isdigit():
            continue
        root = fields[2].strip().split(".")[0]
        own[root] = own.get(root, 0) + int(self_us)
    biggest = sorted(own.items(), key=lambda kv: -kv[1])[:5]
    return {
        "interp": median(interp),
        "top": ", ".join(f"{k} {v / 1000:.0f} ms" for k, v in biggest),
    }


# -- render: a long fast stream, the editor's responsiveness, the text -----------------


OFF = "zeke, answer highlighting off"


def render(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path, body: Path,
           tokens: int = 20_000, runs: int = 3) -> list[Row]:  # fmt: skip
    """The server writes ``tokens`` numbered tokens as fast as the socket takes them;
    a probe on Neovim's socket asks nvim_eval('1') every 10 ms. A last diagnostic run
    turns the answer buffer's highlighting off, to show what markdown highlighting costs."""
    variants = [(k, z, cmd, runs) for k, z, cmd in KINDS] + [(OFF, True, ZEKE_CMD, 1)]
    res: dict[str, dict[str, list[float]]] = {
        v[0]: {"rate": [], "rate_buf": [], "busy": [], "idle": [], "total": []} for v in variants
    }
    bad: dict[str, list[str]] = {v[0]: [] for v in variants}
    for k, z, cmd, n in variants:
        with watch(nvim_bin, tmp / f"render-{k[:6]}-{len(k)}", server, project, file,
                   zeke=z) as w:  # fmt: skip
            if k == OFF:
                w.nv.lua("require('zbench').syntax_off()")
            _request(w, server, cmd, "x0q")  # host up, connection pooled
            for i in range(n):
                prefix = f"r{i}{k[0]}{len(k)}t"
                server.mode(tokens=tokens, prefix=prefix, newline_every=16, token_delay=0.0)
                expected = server.expected()
                # the last token only: a fast stream scrolls the first ones away unseen
                w.nv.ui_call(rf"arm \b{prefix}{tokens - 1}\b")
                stop = tmp / f"probe-stop-{prefix}"
                probe = subprocess.Popen([sys.executable, str(BENCH / "probe.py"), w.nv.sock,
                                          str(stop)], stdout=subprocess.PIPE, text=True)  # fmt: skip
                assert probe.stdout is not None
                probe.stdout.readline()  # READY
                time.sleep(0.5)  # idle samples first
                st = w.run(cmd, poll=0.05)
                last = _shown_at(w, f"{prefix}{tokens - 1}")
                stop.touch()
                samples = json.loads(probe.communicate(timeout=60)[0])
                srv = {s["rid"]: s for s in server.stamps()}[st["rid"]]
                text = w.nv.lua("return require('zbench').answer_text()")
                if st["state"] != "done":
                    bad[k].append(f"run {i} ended {st['state']}")
                elif text != expected:
                    bad[k].append(_diff(text, expected))
                r = res[k]
                r["rate"].append(tokens / ((last - srv["first_ns"]) / 1e9))
                r["rate_buf"].append(tokens / ((st["last"] - st["first"]) / 1e9))
                r["total"].append((last - st["t0"]) / 1e6)
                r["idle"] += [ms for sent, ms in samples if sent < st["t0"]]
                r["busy"] += [ms for sent, ms in samples if st["t0"] <= sent <= last]
    server.mode(tokens=tokens, prefix="", token="tok ", newline_every=16, token_delay=0.0)
    hx_rates, curl_rates = _outside_rates(server, body, runs)
    z, c, off = res["zeke"], res["curl-Lua"], res[OFF]
    zb, cb = z["busy"], c["busy"]
    rate_why = (
        f"Into the buffer: zeke {median(z['rate_buf']):,.0f} tok/s, curl-Lua "
        f"{median(c['rate_buf']):,.0f}. A bare httpx client reading the same stream in its own "
        f"process gets {median(hx_rates):,.0f} tok/s on this machine: the host's read-and-parse "
        f"path is Python too. With the answer's highlighting off, zeke shows "
        f"{median(off['rate']):,.0f} tok/s on screen."
    )
    p99_why = (
        f"Same stream with the answer buffer's highlighting off (one diagnostic run): zeke p99 "
        f"{pctl(off['busy'], 99):.1f} ms, max {max(off['busy'] or [float('nan')]):.1f} — "
        f"against {pctl(zb, 99):.1f} / {max(zb):.1f} with markdown highlighting on; curl-Lua, "
        f"highlighting on: {pctl(cb, 99):.1f} / {max(cb):.1f}."
    )
    return [
        Row("4 render", f"render throughput, {tokens:,} tokens as fast as the server sends",
            median(z["rate"]), "tok/s",
            baseline=f"curl-Lua {median(c['rate']):,.0f} · httpx {median(hx_rates):,.0f} · "
                     f"curl {median(curl_rates):,.0f}",
            target="≥ 20,000 tok/s", ok=median(z["rate"]) >= 20_000,
            note=f"server's first byte → last token on screen; first → last into the buffer "
                 f"{median(z['rate_buf']):,.0f} (curl-Lua {median(c['rate_buf']):,.0f}); whole "
                 f"answer shown {median(z['total']):.0f} ms after the command (curl-Lua "
                 f"{median(c['total']):.0f})",
            extra={"why": rate_why}),
        Row("4 render", "editor answer time during it (nvim_eval('1') every 10 ms): p99",
            pctl(zb, 99), "ms",
            baseline=f"curl-Lua p99 {pctl(cb, 99):.1f} ms · idle p99 {pctl(z['idle'], 99):.1f}",
            target="≤ 10 ms", ok=pctl(zb, 99) <= 10,
            note=f"zeke p50 {pctl(zb, 50):.2f} / max {max(zb):.1f} ms; curl-Lua p50 "
                 f"{pctl(cb, 50):.2f} / max {max(cb):.1f} ms; idle p50 {pctl(z['idle'], 50):.2f}; "
                 f"{len(zb)} samples; markdown highlighting on (off: p99 "
                 f"{pctl(off['busy'], 99):.1f})",
            extra={"why": p99_why}),
        Row("4 render", "no dropped or reordered text (numbered tokens, exact compare)",
            float(len(bad["zeke"]) + len(bad[OFF])), "runs wrong",
            baseline=f"curl-Lua {len(bad['curl-Lua'])} wrong", target="0",
            ok=not (bad["zeke"] or bad[OFF]),
            note="; ".join([f"{k}: {b}" for k, bs in bad.items() for b in bs])
            or f"{runs + 1} zeke runs × {tokens:,} tokens each matched"),
    ]  # fmt: skip


def _diff(text: str | None, expected: str) -> str:
    if text is None:
        return "no answer window"
    i = next((j for j, (a, b) in enumerate(zip(text, expected, strict=False)) if a != b),
             min(len(text), len(expected)))  # fmt: skip
    return (f"text differs at char {i} of {len(expected)} (got {len(text)}): "
            f"{text[i:i + 20]!r} vs {expected[i:i + 20]!r}")  # fmt: skip


def _outside_rates(server: SSEServer, body: Path, runs: int) -> tuple[list[float], list[float]]:
    out = subprocess.run(
        [sys.executable, str(BENCH / "bare_client.py"), f"{server.url}/chat/completions",
         str(body), str(runs + 1)],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    bare = json.loads(out)[1:]
    hx = [b["tokens"] / ((b["last_ns"] - b["first_ns"]) / 1e9) for b in bare]
    cu = []
    for i in range(runs):
        c = curl_first_byte(server, body, f"curl-t{i}")
        cu.append(bare[0]["tokens"] / ((c["last_ns"] - c["first_ns"]) / 1e9))
    server.stamps()
    return hx, cu


# -- slow streams: each token shown as it comes ---------------------------------------------


def slow(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
         runs: int = 3, tokens: int = 15, gap: float = 0.04) -> list[Row]:  # fmt: skip
    """Tokens ``gap`` s apart: server write of each token → in the buffer → the UI
    flush showing it."""
    shown: dict[str, list[float]] = {k: [] for k, _, _ in KINDS}
    inbuf: dict[str, list[float]] = {k: [] for k, _, _ in KINDS}
    for k, z, cmd in KINDS:
        with watch(nvim_bin, tmp / f"slow-{k}", server, project, file, zeke=z) as w:
            _request(w, server, cmd, "x0q")
            w.nv.lua("require('zbench').trace = true")
            for i in range(runs):
                prefix = f"s{i}{k[0]}t"
                st = _request(w, server, cmd, prefix, tokens=tokens, token_delay=gap)
                _shown_at(w, f"{prefix}{tokens - 1}")
                seen = w.nv.ui_call("seen")["seen"]
                trace = st.get("trace") or []
                for j, ns in enumerate(st["srv"]["frame_ns"]):
                    word = f"{prefix}{j}"
                    if word not in seen:
                        raise RuntimeError(f"{k}: token {j} never shown")
                    shown[k].append((seen[word] - ns) / 1e6)
                    t_buf = next((t for t, line in trace if word in line.split()), None)
                    if t_buf is not None:
                        inbuf[k].append((t_buf - ns) / 1e6)
    z, c = shown["zeke"], shown["curl-Lua"]
    zb, cb = inbuf["zeke"], inbuf["curl-Lua"]
    why = (
        f"Split per token (p50 / p90): server write → in the buffer {pctl(zb, 50):.1f} / "
        f"{pctl(zb, 90):.1f} ms (curl-Lua {pctl(cb, 50):.1f} / {pctl(cb, 90):.1f}), the rest is "
        f"Neovim's redraw and the UI: in the buffer → shown ≈ {pctl(z, 50) - pctl(zb, 50):.1f} ms "
        f"at p50. The host's part is the first figure: HTTP read, SSE parse, the batch sent to "
        f"Neovim, Lua applying it."
    )
    return [
        Row("4 render", f"slow stream ({gap * 1000:.0f} ms between tokens): each token "
            "written → shown, p90", pctl(z, 90), "ms",
            baseline=f"curl-Lua p90 {pctl(c, 90):.1f} ms", target="≤ 5 ms", ok=pctl(z, 90) <= 5,
            note=f"zeke p50 {pctl(z, 50):.1f} / max {max(z):.1f} ms; curl-Lua p50 "
                 f"{pctl(c, 50):.1f} / max {max(c):.1f}; written → in the buffer p50 zeke "
                 f"{pctl(zb, 50):.1f}, curl-Lua {pctl(cb, 50):.1f}; {len(z)} tokens",
            extra={"why": why}),
    ]  # fmt: skip


# -- memory ----------------------------------------------------------------------------------


def _chain(w: Watch, cmd: str, n: int) -> None:
    w.nv.lua("require('zbench').chain(...)", cmd, n)
    wait_for(lambda: (w.nv.lua("return require('zbench').chain_state()") or {}).get("done", 0) >= n,
             timeout=600, interval=0.1, message=f"{n} chained requests")  # fmt: skip
    bad = w.nv.lua("return require('zbench').chain_state()")["bad"]
    if bad:
        raise RuntimeError(f"{bad} of {n} chained requests did not end 'done'")


def memory(nvim_bin: str, server: SSEServer, tmp: Path, project: Path, file: Path,
           n: int = 100, tokens: int = 300) -> list[Row]:  # fmt: skip
    """``n`` answers of ``tokens`` tokens each, chained from Lua; RSS of Neovim and
    everything under it (the host), after 10 and after ``n``."""
    server.mode(tokens=tokens, prefix="m", newline_every=12, token_delay=0.0)
    out: dict[str, dict[str, float]] = {}
    for k, z, cmd in KINDS:
        with watch(nvim_bin, tmp / f"memory-{k}", server, project, file, zeke=z) as w:
            _chain(w, cmd, 10)
            time.sleep(0.5)
            host = w.host_pid() if z else None
            out[k] = {"tree10": tree_rss(w.nvim_pid())["rss_mb"],
                      "nvim10": proc_status(w.nvim_pid())["rss_mb"]}  # fmt: skip
            out[k]["bufs10"] = w.nv.lua("return require('zbench').answer_buffers()")
            if host:
                out[k]["host10"] = proc_status(host)["rss_mb"]
            _chain(w, cmd, n - 10)
            time.sleep(0.5)
            out[k]["tree"] = tree_rss(w.nvim_pid())["rss_mb"]
            out[k]["nvim"] = proc_status(w.nvim_pid())["rss_mb"]
            out[k]["bufs"] = w.nv.lua("return require('zbench').answer_buffers()")
            if host:
                h = proc_status(host)
                out[k]["host"] = h["rss_mb"]
                out[k]["threads"], out[k]["fds"] = h["threads"], h["fds"]
            server.stamps()
    z, c = out["zeke"], out["curl-Lua"]
    limit = 1.3 * c["tree"]
    growth = z["host"] - z["host10"]
    more = z["bufs"] - z["bufs10"]
    each = f" (≈ {(z['nvim'] - z['nvim10']) / more:.2f} MB each)" if more > 0 else ""
    why = (
        f"zeke's Neovim holds {z['bufs']:.0f} answer buffers after {n} requests (the last "
        f"answers keep theirs), curl-Lua's {c['bufs']:.0f} (one, filled anew for each answer): "
        f"Neovim {z['nvim']:.1f} MB against {c['nvim']:.1f}. From 10 to {n} requests zeke's "
        f"Neovim grew {z['nvim'] - z['nvim10']:+.1f} MB with {more:.0f} more kept buffers{each}; "
        f"curl-Lua's grew {c['nvim'] - c['nvim10']:+.1f} MB. The host adds {z['host']:.1f} MB: "
        f"alone, more than 1.3× curl-Lua's whole Neovim."
    )
    return [
        Row("7 memory", f"Neovim + host RSS after {n} requests", z["tree"], "MB",
            baseline=f"curl-Lua Neovim {c['tree']:.1f} MB", target=f"≤ 1.3× ({limit:.1f} MB)",
            ok=z["tree"] <= limit,
            note=f"zeke's Neovim {z['nvim']:.1f} MB (after 10: {z['nvim10']:.1f}), host "
                 f"{z['host']:.1f}; curl-Lua's Neovim after 10: {c['nvim10']:.1f}; answers of "
                 f"{tokens} tokens; RSS summed over the process tree, the UI not counted",
            extra={"why": why}),
        Row("7 memory", f"host RSS after {n} requests", z["host"], "MB",
            baseline=f"{z['host10']:.1f} MB after 10", target="< 40 MB, flat",
            ok=z["host"] < 40 and growth < 3,
            extra={"why": f"{z['host']:.1f} MB after {n} requests, {growth:+.1f} MB since 10."},
            note=f"growth 10→{n}: {growth:+.1f} MB; {z['threads']:.0f} threads, "
                 f"{z['fds']:.0f} fds"),
    ]  # fmt: skip
