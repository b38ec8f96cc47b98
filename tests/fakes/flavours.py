"""Routers that are not OMEN, as zeke meets them: LiteLLM's proxy and llama.cpp's server.

Pick one by class; each is a ``FakeOmen`` (same queue of replies and builders from
``fakes.omen``) with another server's shape. Real behaviour they reproduce (each
seen on the real programs; docs/design.md §14):

``FakeLiteLLM`` (LiteLLM proxy):
* ``/models`` lists its model groups by name (``owned_by``, no provider, no prices);
  a model not among them gets **400** ``Invalid model name passed in model=…``;
* ``/ready`` is **404**; ``/health/readiness`` and ``/health/liveliness`` answer;
* with ``master_key`` set, ``/models`` and chat need ``Authorization: Bearer`` (401
  ``Authentication Error`` otherwise);
* response headers ``x-litellm-model-name`` (the deployment's model),
  ``x-litellm-model-group`` (the name asked), ``x-litellm-model-id`` (a hash),
  ``x-litellm-model-api-base``, ``x-litellm-response-cost`` (``0.0`` on a stream: sent
  before any token), ``x-litellm-response-duration-ms``; chunks echo the group name as
  ``model``; the usage chunk carries ``cost``; no ``provider`` anywhere.

``FakeLlamaCpp`` (llama.cpp's ``llama-server``):
* serves one model whatever the request names; chunks echo the name asked;
* ``/models`` lists the one GGUF (``owned_by: llamacpp``); ``/ready`` is 404,
  ``/health`` answers ``{"status":"ok"}``; no routing headers, no prices.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .omen import CREATED, FakeOmen, StreamReply, _api_error, stream
from .serving import Recorded, Reply, json_reply


class FakeLiteLLM(FakeOmen):
    """LiteLLM's proxy: ``groups`` maps a model group to the deployment's model."""

    def __init__(self, groups: dict[str, str] | None = None) -> None:
        super().__init__("today")
        self.groups = dict(
            groups
            or {
                "code-fast": "deepseek-coder-v2-lite",
                "code-smart": "gpt-5-codex-2025-09",
                "reason-deep": "claude-3-5-sonnet-20241022",
            }
        )
        self.master_key: str | None = None
        self.cost = 0.00042  # usage.cost of an answer
        self.chat_status: int | None = None  # e.g. 503 while a backend restarts

    def route(self, rec: Recorded) -> Reply:
        path = urlsplit(rec.path).path
        if rec.method == "GET":
            if path in ("/health/readiness", "/health/liveliness"):
                return json_reply(200, {"status": "healthy"})
            if path in ("/v1/models", "/models"):
                if not self._keyed(rec):
                    return self._auth_error()
                data = [
                    {"id": g, "object": "model", "created": CREATED, "owned_by": "openai"}
                    for g in self.groups
                ]
                return json_reply(200, {"object": "list", "data": data})
            return json_reply(404, {"detail": "Not Found"})
        if rec.method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            return self._chat(rec)
        return json_reply(404, {"detail": "Not Found"})

    def _keyed(self, rec: Recorded) -> bool:
        return self.master_key is None or rec.headers.get("authorization") == (
            f"Bearer {self.master_key}"
        )

    def _auth_error(self) -> Reply:
        return json_reply(
            401,
            {
                "error": {
                    "message": "Authentication Error, Invalid proxy server token passed.",
                    "type": "auth_error",
                    "param": "None",
                    "code": "401",
                }
            },
        )

    def _chat(self, rec: Recorded) -> Reply:
        if not self._keyed(rec):
            return self._auth_error()
        body = rec.body if isinstance(rec.body, dict) else {}
        group = body.get("model")
        if group not in self.groups:
            return json_reply(
                400,
                {
                    "error": {
                        "message": f"{{'error': '/chat/completions: Invalid model name passed in "
                        f"model={group}. Call `/v1/models` to view available models for your "
                        "key.'}",
                        "type": "None",
                        "param": "None",
                        "code": "400",
                    }
                },
            )
        if self.chat_status is not None:
            return _api_error(self.chat_status, "litellm.ServiceUnavailableError: backend down")
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is None:
            item = stream("Hello from the fake LiteLLM.")
        if callable(item) and not isinstance(item, (Reply, StreamReply)):
            item = item(rec)
        if isinstance(item, Reply):
            return item
        headers = {
            "x-litellm-call-id": f"call-{len(self.requests)}",
            "x-litellm-model-id": "9f86d081884c7d65",
            "x-litellm-model-group": str(group),
            "x-litellm-model-name": self.groups[group],
            "x-litellm-model-api-base": "http://127.0.0.1:9/v1",
            "x-litellm-response-cost": "0.0",
            "x-litellm-response-duration-ms": "812.5",
            "x-litellm-attempted-retries": "0",
            "x-litellm-version": "1.110.2",
        }
        if item.usage is True:  # LiteLLM's usage chunk, with the cost it computed
            out = max(1, len(item.text()) // 4)
            item.usage = {
                "prompt_tokens": 12,
                "completion_tokens": out,
                "total_tokens": 12 + out,
                "cost": self.cost,
            }
        return item.render(str(group), send_done=True, headers=headers, prompt_tokens=12)


class FakeLlamaCpp(FakeOmen):
    """llama.cpp's server with one GGUF loaded."""

    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"

    def __init__(self) -> None:
        super().__init__("today")

    def route(self, rec: Recorded) -> Reply:
        path = urlsplit(rec.path).path
        if rec.method == "GET":
            if path == "/health":
                return json_reply(200, {"status": "ok"})
            if path in ("/v1/models", "/models"):
                model = {
                    "id": self.gguf,
                    "object": "model",
                    "created": CREATED,
                    "owned_by": "llamacpp",
                }
                return json_reply(200, {"object": "list", "data": [model]})
            return json_reply(404, {"error": {"code": 404, "message": "File Not Found"}})
        if rec.method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            body = rec.body if isinstance(rec.body, dict) else {}
            with self._lock:
                item = self._queue.popleft() if self._queue else None
            if item is None:
                item = stream("Hello from the fake llama.cpp.")
            if isinstance(item, Reply):
                return item
            echoed = str(body.get("model") or "gpt-3.5-turbo")
            return item.render(echoed, send_done=True, headers={}, prompt_tokens=12)
        return json_reply(404, {"error": {"code": 404, "message": "File Not Found"}})
