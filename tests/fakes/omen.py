"""A scripted fake of OMEN, the OpenAI-compatible router, for tests.

Real quirks it reproduces (docs/design.md §12, §14):

* ``personality="today"`` (the public OMEN now): no ``X-OMEN-*`` headers at all;
  ``model: "auto"`` or an alias / any name not in ``/v1/models`` gives an opaque
  **500** ``{"error":{"message":"Internal server error","type":"api_error","code":500}}``;
  a non-string ``tags`` value gives **400**; chunks echo the request's model;
  answers from an ``ollama`` upstream end with ``finish_reason: "stop"`` and
  **no** ``[DONE]``.
* ``personality="designed"`` (the seeds' OMEN): resolves ``auto`` and the
  default aliases itself, sends ``X-OMEN-Provider/-Model/-Latency-Ms/-Cost-Est/
  -Routing-Reason`` and ``X-OMEN-Trace-*`` headers, always ends with ``[DONE]``.
* Both: SSE frames forwarded per "TCP read" (``split="random"`` cuts events
  across writes and packs several into one), ``:`` keepalive comments, CRLF or CR
  line ends, a first chunk with empty ``content``, tool calls as OpenAI fragments
  (id + name first, arguments in pieces), a final usage chunk with
  ``choices: []``, raw Anthropic frames passed through, 401 with an **empty
  body** when a key is required, error bodies with an **int** ``code``, ``/ready``
  answering 503, slow first byte, hung / dropped / stalled connections.

The server's own checks (key, body, tags, model) run before a queued reply is
used, and do not consume it. A queued item is a reply object from the builders
below or a callable ``(Recorded) -> reply``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .serving import FakeServer, Recorded, Reply, cut, json_reply

__all__ = [
    "DEFAULT_MODELS",
    "FakeOmen",
    "Recorded",
    "Reply",
    "StreamReply",
    "anthropic_raw",
    "close_after",
    "error",
    "hang",
    "raw",
    "stall_after",
    "stream",
]

SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}
CREATED = 1_700_000_000


def _model(id_: str, provider: str, ctx: int, price_in: float, price_out: float) -> dict:
    return {
        "id": id_,
        "object": "model",
        "created": CREATED,
        "owned_by": provider,
        "provider": provider,
        "context_length": ctx,
        "pricing": {"input_per_1k": price_in, "output_per_1k": price_out},
        "capabilities": ["chat", "streaming", "tools"],
    }


DEFAULT_MODELS: list[dict] = [
    _model("deepseek-coder:14b", "ollama", 16384, 0.0, 0.0),
    _model("deepseek-coder:33b", "ollama", 16384, 0.0, 0.0),
    _model("gpt-5-codex", "azure", 400000, 0.00125, 0.01),
    _model("claude-3-5-sonnet", "anthropic", 200000, 0.003, 0.015),
]

# What the designed OMEN resolves by itself (the default aliases).
DESIGNED_ALIASES = {
    "code-fast": "deepseek-coder:14b",
    "code-plus": "deepseek-coder:33b",
    "code-smart": "gpt-5-codex",
    "reason-deep": "claude-3-5-sonnet",
}


def _api_error(status: int, message: str, etype: str = "api_error") -> Reply:
    return json_reply(status, {"error": {"message": message, "type": etype, "code": status}})


# --------------------------------------------------------------------------
# Reply builders


@dataclass
class StreamReply:
    """A streamed chat completion, rendered when a request arrives (it echoes
    the request's model and follows the server's personality)."""

    pieces: list[str | dict]
    model: str | None = None
    split: str = "none"
    first_byte_delay: float = 0.0
    delay: float = 0.0
    done: bool = True
    line_ending: str = "\n"
    keepalive: bool = False
    usage: bool | dict = True
    headers: dict[str, str] | None = None
    tool_calls: list[tuple[str, str]] | None = None
    finish_reason: str | None = "stop"
    routing_metadata: dict | None = None
    seed: int = 0

    def frames(self, model: str, *, prompt_tokens: int = 12, send_done: bool = True) -> list[bytes]:
        """The SSE frames, one complete event each (keepalives included)."""
        le = self.line_ending
        cid = "chatcmpl-fake"

        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> dict:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                **extra,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        objs: list[dict] = []
        first_extra = {"routing_metadata": self.routing_metadata} if self.routing_metadata else {}
        # OpenAI's first chunk: the role, with empty content.
        objs.append(chunk({"role": "assistant", "content": ""}, **first_extra))
        text_len = 0
        for piece in self.pieces:
            if isinstance(piece, dict):
                objs.append(piece)
            else:
                text_len += len(piece)
                objs.append(chunk({"content": piece}))
        for i, (name, args) in enumerate(self.tool_calls or []):
            objs.append(
                chunk(
                    {
                        "content": None,
                        "tool_calls": [
                            {
                                "index": i,
                                "id": f"call_fake{i}",
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ],
                    }
                )
            )
            step = max(1, -(-len(args) // 3))
            for j in range(0, len(args), step):
                objs.append(
                    chunk(
                        {
                            "tool_calls": [
                                {"index": i, "function": {"arguments": args[j : j + step]}}
                            ]
                        }
                    )
                )
        if self.finish_reason is not None:
            objs.append(chunk({}, self.finish_reason))
        if self.usage:
            if isinstance(self.usage, dict):
                usage = self.usage
            else:
                out = max(1, text_len // 4)
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": out,
                    "total_tokens": prompt_tokens + out,
                }
            objs.append(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": CREATED,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        frames = []
        keep = f": keepalive{le}{le}".encode()
        if self.keepalive:
            frames.append(keep)
        for n, obj in enumerate(objs):
            frames.append(f"data: {json.dumps(obj)}{le}{le}".encode())
            if self.keepalive and n % 2 == 1:
                frames.append(keep)
        if self.done and send_done:
            frames.append(f"data: [DONE]{le}{le}".encode())
        return frames

    def render(
        self, model: str, *, send_done: bool, headers: dict[str, str], prompt_tokens: int
    ) -> Reply:
        """The reply for one request: ``model`` unless the builder fixed one."""
        frames = self.frames(self.model or model, prompt_tokens=prompt_tokens, send_done=send_done)
        return Reply(
            headers={**SSE_HEADERS, **headers, **(self.headers or {})},
            chunks=cut(frames, self.split, seed=20240917 + self.seed),
            delay=self.delay,
            first_byte_delay=self.first_byte_delay,
        )

    def text(self) -> str:
        """The answer text the deltas add up to."""
        return "".join(p for p in self.pieces if isinstance(p, str))


def _pieces(text: str) -> list[str]:
    # One word (with its following whitespace) per delta: several deltas, and
    # joining them gives the text back exactly.
    return [p for p in re.findall(r"\s*\S+\s*|\s+", text) if p]


def stream(
    text_or_chunks: str | list[str | dict],
    *,
    model: str | None = None,
    split: str = "none",
    first_byte_delay: float = 0.0,
    delay: float = 0.0,
    done: bool = True,
    line_ending: str = "\n",
    keepalive: bool = False,
    usage: bool | dict = True,
    headers: dict[str, str] | None = None,
    tool_calls: list[tuple[str, str]] | None = None,
    finish_reason: str | None = "stop",
    routing_metadata: dict | None = None,
    seed: int = 0,
) -> StreamReply:
    """A streamed answer. A string is cut into several content deltas; a list
    gives the deltas exactly (a dict item is sent as a whole chunk object, e.g.
    one with another ``model`` to imitate a provider switch). ``done`` ends with
    ``[DONE]`` when the personality would; ``finish_reason=None`` sends no finish
    chunk; ``usage`` may be a dict to send as the usage object. ``tool_calls`` is
    a list of ``(name, arguments_json)``."""
    pieces = _pieces(text_or_chunks) if isinstance(text_or_chunks, str) else list(text_or_chunks)
    return StreamReply(
        pieces=pieces,
        model=model,
        split=split,
        first_byte_delay=first_byte_delay,
        delay=delay,
        done=done,
        line_ending=line_ending,
        keepalive=keepalive,
        usage=usage,
        headers=headers,
        tool_calls=tool_calls,
        finish_reason=finish_reason,
        routing_metadata=routing_metadata,
        seed=seed,
    )


def raw(
    bytes_list: list[bytes],
    *,
    headers: dict[str, str] | None = None,
    status: int = 200,
    delay: float = 0.0,
) -> Reply:
    """Exactly these bytes, one write + flush per element (SSE content type)."""
    return Reply(
        status=status,
        headers={**SSE_HEADERS, **(headers or {})},
        chunks=list(bytes_list),
        delay=delay,
    )


def error(
    status: int, body: bytes | dict | None, *, headers: dict[str, str] | None = None
) -> Reply:
    """An error answer: a dict is sent as JSON; bytes as they are (HTML when they
    look like it); None or b"" as an empty body (OMEN's 401)."""
    if isinstance(body, dict):
        return json_reply(status, body, headers)
    data = body or b""
    base: dict[str, str] = {}
    if data:
        html = data.lstrip()[:1] == b"<"
        base["content-type"] = "text/html; charset=utf-8" if html else "text/plain; charset=utf-8"
    return Reply(status=status, headers={**base, **(headers or {})}, chunks=[data], chunked=False)


def hang() -> Reply:
    """Accept the request and never send headers (until the server stops)."""
    return Reply(ending="hang")


def close_after(chunks_bytes_list: list[bytes]) -> Reply:
    """Send these writes, then drop the connection without a chunk terminator."""
    return Reply(headers=dict(SSE_HEADERS), chunks=list(chunks_bytes_list), ending="drop")


def stall_after(chunks_bytes_list: list[bytes]) -> Reply:
    """Send these writes, then nothing more; keep the connection open until stop."""
    return Reply(headers=dict(SSE_HEADERS), chunks=list(chunks_bytes_list), ending="stall")


def anthropic_raw(text: str, *, model: str = "claude-3-5-sonnet", split: str = "none") -> Reply:
    """Native Anthropic Messages frames, as OMEN passes them through raw."""
    pieces = _pieces(text)

    def frame(name: str, obj: dict) -> bytes:
        return f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()

    frames = [
        frame(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 25, "output_tokens": 1},
                },
            },
        ),
        frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        frame("ping", {"type": "ping"}),
    ]
    for p in pieces:
        frames.append(
            frame(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                },
            )
        )
    frames += [
        frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
        frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": max(1, len(text) // 4)},
            },
        ),
        frame("message_stop", {"type": "message_stop"}),
    ]
    return Reply(headers=dict(SSE_HEADERS), chunks=cut(frames, split))


# --------------------------------------------------------------------------
# The server


class FakeOmen(FakeServer):
    """Fake OMEN on 127.0.0.1. ``url`` is the API base (``…/v1``)."""

    chat_path = "/v1/chat/completions"

    def __init__(self, personality: str = "today") -> None:
        if personality not in ("today", "designed"):
            raise ValueError("personality must be 'today' or 'designed'")
        super().__init__()
        self.personality = personality
        self.ready_status = 200
        self.models: list[dict] = [dict(m) for m in DEFAULT_MODELS]
        self.api_key: str | None = None  # when set, requests need it (else 401, empty body)

    def start(self, port: int | None = None) -> FakeOmen:
        super().start(port)
        return self

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"{self.base}/v1"

    # -- routing ------------------------------------------------------------

    def route(self, rec: Recorded) -> Reply:
        path = urlsplit(rec.path).path
        if rec.method in ("GET", "HEAD"):
            if path == "/health":
                return json_reply(200, {"status": "healthy"})
            if path == "/ready":
                if self.ready_status == 200:
                    return json_reply(200, {"status": "ready"})
                return json_reply(self.ready_status, {"status": "not_ready"})
            if path == "/v1/models":
                if not self._authorized(rec):
                    return Reply(status=401, chunked=False)
                return json_reply(200, {"object": "list", "data": self.models})
        if rec.method == "POST" and path == "/v1/chat/completions":
            return self._chat(rec)
        return Reply(status=404, chunked=False)  # axum's bare 404

    def _authorized(self, rec: Recorded) -> bool:
        if self.api_key is None:
            return True
        auth = rec.headers.get("authorization", "")
        return auth == f"Bearer {self.api_key}" or rec.headers.get("x-api-key") == self.api_key

    def _chat(self, rec: Recorded) -> Reply:
        if not self._authorized(rec):
            return Reply(status=401, chunked=False)
        body = rec.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _api_error(400, "Failed to deserialize the JSON body into the target type")
        tags = body.get("tags")
        if tags is not None:
            bad = (
                [k for k, v in tags.items() if not isinstance(v, str)]
                if isinstance(tags, dict)
                else ["tags"]
            )
            if bad:
                return _api_error(
                    400,
                    f"Failed to deserialize the JSON body into the target type: tags.{bad[0]}: "
                    "invalid type, expected a string",
                )
        requested = body.get("model")
        by_id = {m.get("id"): m for m in self.models}
        if self.personality == "today":
            if requested not in by_id:
                # Passed straight to the upstream provider, which rejects it.
                return _api_error(500, "Internal server error")
            resolved, reason = requested, None
        else:
            resolved, reason = self._resolve(requested, body)
            if resolved not in by_id:
                return _api_error(404, f"Model '{requested}' not found")
        provider = str(by_id[resolved].get("provider", "openai"))

        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is None:
            item = stream("Hello from the fake OMEN.")
        if callable(item) and not isinstance(item, (Reply, StreamReply)):
            item = item(rec)
        if isinstance(item, Reply):
            return item

        prompt_tokens = max(1, len(json.dumps(body.get("messages"))) // 4)
        headers: dict[str, str] = {}
        if self.personality == "designed":
            omen = body.get("omen") if isinstance(body.get("omen"), dict) else {}
            pricing = by_id[resolved].get("pricing") or {}
            out_tokens = max(1, len(item.text()) // 4)
            cost = prompt_tokens / 1000 * float(
                pricing.get("input_per_1k", 0)
            ) + out_tokens / 1000 * float(pricing.get("output_per_1k", 0))
            headers = {
                "X-OMEN-Provider": provider,
                "X-OMEN-Model": resolved,
                "X-OMEN-Latency-Ms": "42",
                "X-OMEN-Cost-Est": f"{cost:.6f}",
                "X-OMEN-Routing-Reason": reason or "explicit model",
                "X-OMEN-Trace-Id": f"trace-{len(self.requests)}",
                "X-OMEN-Trace-Strategy": str(omen.get("strategy", "single")),
            }
        send_done = self.personality == "designed" or provider != "ollama"
        model_in_chunks = resolved if self.personality == "designed" else requested
        return item.render(
            model_in_chunks, send_done=send_done, headers=headers, prompt_tokens=prompt_tokens
        )

    def _resolve(self, requested: Any, body: dict) -> tuple[Any, str | None]:
        if requested == "auto":
            tags = body.get("tags") if isinstance(body.get("tags"), dict) else {}
            if tags.get("intent") == "reason":
                return "claude-3-5-sonnet", "intent=reason prefers a strong reasoner"
            return "deepseek-coder:14b", "intent=code prefers local"
        if requested in DESIGNED_ALIASES:
            return DESIGNED_ALIASES[requested], f"alias {requested}"
        return requested, None
