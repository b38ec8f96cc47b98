"""An Ollama 404 says what it means: a missing model (Ollama's own body) is "run ollama
pull"; a route 404 (another server at that address) is not mistaken for one."""

from __future__ import annotations

import pytest

from zeke.backends.http.failures import describe_http_error


def ollama_404(body: bytes) -> str:
    return describe_http_error(
        404, {}, body, endpoint_name="Ollama", model="qwen2.5-coder:7b"
    ).message


def test_ollamas_own_model_not_found_says_pull() -> None:
    msg = ollama_404(b'{"error":"model \\"qwen2.5-coder:7b\\" not found, try pulling it first"}')
    assert "ollama pull qwen2.5-coder:7b" in msg


@pytest.mark.parametrize(
    "body",
    [
        b"404 page not found",
        b"<html><body><h1>Not Found</h1></body></html>",
        b"",
        b'{"detail":"Not Found"}',
    ],
    ids=["go-mux", "html", "empty", "fastapi"],
)
def test_a_route_404_is_not_a_missing_model(body: bytes) -> None:
    msg = ollama_404(body)
    assert "ollama pull" not in msg and "does not have the model" not in msg
    assert "does not look like an Ollama server" in msg and "ollama_host" in msg
