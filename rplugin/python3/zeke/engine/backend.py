"""The model servers a turn can go to, behind one interface: OMEN (OpenAI-style
``chat/completions`` over SSE) and local Ollama (``/api/chat``, NDJSON).

Both open to the same typed events (``backends.events``) in an ``OpenedStream``.
What differs between them is here, once per server: the request they take, the
shape of a tool turn in the conversation, and whose routing facts count (``router``:
the router's headers, ``routing_metadata`` and ``usage.cost`` name who answered;
Ollama is the answer itself, ``assumed_provider``/``assumed_model``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from zeke.backends import http as client
from zeke.backends.events import ToolCall
from zeke.engine import images, tags
from zeke.settings import Settings, read_api_key

Messages = list[dict[str, Any]]
Tools = list[dict[str, Any]] | None


class Backend(Protocol):
    @property
    def label(self) -> str:
        """Its name in a user's message ("OMEN", "the router at 127.0.0.1:4000")."""

    @property
    def model(self) -> str:
        """The model the request names."""

    @property
    def router(self) -> bool:
        """Its answers carry a router's facts about who answered."""

    @property
    def assumed_provider(self) -> str | None:
        """Who answers when nothing in the answer says otherwise (zeke knows it)."""

    @property
    def assumed_model(self) -> str | None:
        """The model zeke expects, when it asked for a concrete one or the alias names one."""

    def open(
        self, messages: Messages, tools: Tools
    ) -> AbstractAsyncContextManager[client.OpenedStream]:
        """POST one turn; raises ZekeError before the stream starts, never after."""

    def assistant_message(self, text: str, calls: list[ToolCall]) -> dict[str, Any]:
        """The model's tool-calling turn, in the shape this server expects back."""

    def tool_message(self, call: ToolCall, content: str) -> dict[str, Any]: ...


OpenStream = Callable[..., AbstractAsyncContextManager[client.OpenedStream]]


@dataclass(frozen=True)
class Wire:
    """The two streaming POSTs (``backends.http``); in-process tests script them."""

    openai: OpenStream = client.open_openai_stream
    ollama: OpenStream = client.open_ollama_stream


@dataclass(frozen=True)
class Link:
    """How one request reaches the servers: the same for every backend and turn."""

    rid: str
    settings: Settings
    http: Callable[[], httpx.AsyncClient]  # raises ZekeError while the host starts
    env: Mapping[str, str]
    session_id: str
    wire: Wire = Wire()

    def api_key(self) -> str | None:
        return read_api_key(self.env, self.settings.api_key_env)

    def secrets(self) -> list[str]:
        """The router key, read now: what no server's answer may carry into zeke."""
        key = self.api_key()
        return [key] if key else []


@dataclass(frozen=True)
class OmenBackend:
    """The router (OMEN, or any OpenAI-compatible one: LiteLLM, llama.cpp's server)."""

    link: Link
    # the alias's name; a concrete model when the router cannot resolve the alias,
    # or when a later tool turn keeps the model that answered the first
    model: str
    alias: tags.Alias
    tags: dict[str, str]  # merged hint tags (docs/design.md §6)
    omen: dict[str, Any] | None  # the body's "omen" options
    label: str = "OMEN"  # wording.router_name: "the router at …" until it is known as OMEN

    router = True
    assumed_provider = None  # an alias's `provider` is a guess, never a report

    @property
    def assumed_model(self) -> str | None:
        if self.model != self.alias.name:
            return self.model  # asked for by name
        return self.alias.model

    def open(
        self, messages: Messages, tools: Tools
    ) -> AbstractAsyncContextManager[client.OpenedStream]:
        s = self.link.settings
        body = tags.build_body(
            model=self.model, messages=messages, tags=self.tags, omen=self.omen, tools=tools
        )
        headers = tags.build_headers(
            api_key=self.link.api_key(),
            request_id=self.link.rid,
            session_id=self.link.session_id,
            tags=self.tags,
        )
        return self.link.wire.openai(
            self.link.http(),
            f"{s.api_base}/chat/completions",
            body,
            headers,
            connect_timeout=s.timeouts.connect,
            read_timeout=s.timeouts.read,
            first_byte_timeout=s.timeouts.first_byte,
            endpoint_name=self.label,
            secrets=self.link.secrets(),
        )

    def assistant_message(self, text: str, calls: list[ToolCall]) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": text or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": c.raw_arguments or json.dumps(c.arguments or {}),
                    },
                }
                for c in calls
            ],
        }

    def tool_message(self, call: ToolCall, content: str) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": call.id, "content": content}


def ollama_body(model: str, messages: Messages, tools: Tools) -> dict[str, Any]:
    """Ollama's /api/chat body: streamed; ``tools`` only when there are some; an
    image part goes in the message's ``images`` (images.ollama_message)."""
    sent = [images.ollama_message(m) for m in messages]
    body: dict[str, Any] = {"model": model, "messages": sent, "stream": True}
    if tools:
        body["tools"] = tools
    return body


@dataclass(frozen=True)
class OllamaBackend:
    link: Link
    model: str

    label = "Ollama"
    router = False
    assumed_provider = "ollama"

    @property
    def assumed_model(self) -> str | None:
        return self.model

    def open(
        self, messages: Messages, tools: Tools
    ) -> AbstractAsyncContextManager[client.OpenedStream]:
        s = self.link.settings
        return self.link.wire.ollama(
            self.link.http(),
            f"{s.ollama_host}/api/chat",
            ollama_body(self.model, messages, tools),
            connect_timeout=s.timeouts.connect,
            read_timeout=s.timeouts.read,
            first_byte_timeout=max(s.timeouts.first_byte, 60.0),  # cold model loads
            endpoint_name="Ollama",
            secrets=self.link.secrets(),
        )

    def assistant_message(self, text: str, calls: list[ToolCall]) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": text,
            "tool_calls": [
                {"function": {"name": c.name, "arguments": c.arguments or {}}} for c in calls
            ],
        }

    def tool_message(self, call: ToolCall, content: str) -> dict[str, Any]:
        return {"role": "tool", "content": content, "tool_name": call.name}
