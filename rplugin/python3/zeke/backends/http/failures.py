"""What a user reads when a model server or the network fails.

An HTTP error answer (OpenAI/OMEN JSON, Ollama JSON, ``{"detail":...}``, an HTML
page) and a transport failure (refused, unresolvable, timed out) both become a
``ZekeError`` whose message names the server, the address and what to do. Server
text is hostile: it is cut to a short single line, stripped of HTML and masked of
key-like strings before it reaches a message, and URLs lose their credentials,
query and fragment.
"""

from __future__ import annotations

import email.utils
import html
import json
import math
import re
import socket
import time
from collections.abc import Mapping
from http import HTTPStatus
from urllib.parse import urlsplit, urlunsplit

import httpx

from zeke.backends.openai_stream import load_json
from zeke.errors import ZekeError

# The most of an error body that is read, parsed or quoted.
ERROR_BODY_CAP = 64 * 1024


def describe_http_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    endpoint_name: str,
    model: str | None = None,
) -> ZekeError:
    """Turn an HTTP error response into a message a user can act on.

    Understands OpenAI/OMEN ``{"error":{message,type,param,code}}`` (OMEN's code is
    an int), Ollama ``{"error":"..."}``, ``{"detail":...}`` and HTML error pages.
    Never echoes request headers; key-like strings in the body are masked.
    """
    e = endpoint_name
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    message, etype, code = _error_fields(bytes(body[:ERROR_BODY_CAP]))
    detail = _redact(message) if message else ""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    said = f"{status}: {detail}" if detail else f"{status} {phrase}"
    code_s = code if code is not None else etype
    retry_after = _retry_after(lower.get("retry-after"))
    retryable = False

    if status == 401:
        text = (
            f"{e} rejected the API key ({said}). "
            "Set ZEKE_API_KEY or OMEN_API_KEY to a key the router accepts."
        )
    elif status == 403:
        text = (
            f"{e} refused the request ({said}). Check that the key in ZEKE_API_KEY or "
            "OMEN_API_KEY is allowed to do this."
        )
    elif status == 404:
        m = re.search(r"model\s+[\"'“]?([^\"'”\s]+)[\"'”]?\s+not found", detail)
        name = m.group(1) if m else model
        if "ollama" in e.lower() and not (m or "try pulling" in detail):
            # a route 404 (HTML, "404 page not found", an empty body): no Ollama here
            text = (
                f"{e} at this address does not look like an Ollama server ({said} on "
                "/api/chat). Check ollama_host (OLLAMA_HOST) and that Ollama runs there."
            )
        elif name and ("ollama" in e.lower() or "try pulling" in detail):
            text = (
                f'{e} does not have the model "{name}" ({said}). '
                f"Run `ollama pull {name}` or pick another model with :ZekeModel."
            )
        elif name:
            text = f'{e} does not know the model "{name}" ({said}). Pick another with :ZekeModel.'
        else:
            text = f"{e}: model or address not found ({said}). Check the model name and the URL."
    elif status == 429:
        quota = "insufficient_quota" in (str(code_s), str(etype))
        if quota:
            text = (
                f"{e}: the budget/quota is exhausted ({said}). "
                "Retrying will not help until it is raised or renewed."
            )
        else:
            retryable = True
            text = f"{e}: rate limit or budget/quota exhausted ({said})."
            if retry_after is not None:
                text += f" Retry in {math.ceil(retry_after)} s."
    elif status == 400 and etype == "no_db_connection":
        # LiteLLM's proxy without a database checks a key that is not its master key
        # against the database it does not have
        text = (
            f"{e} did not accept the API key ({said}); a LiteLLM proxy without a database "
            "knows only its master key. Set ZEKE_API_KEY or OMEN_API_KEY to that key."
        )
    elif status in (400, 415, 422) and re.search(r"image|vision|multimodal", detail, re.I):
        # the model takes no images: the engine names an alias that does (engine/images.py)
        code_s = "images_unsupported"
        text = f"{model or 'the model'} does not take images ({said}). Pick a vision model with :ZekeModel."
    elif status in (400, 422):
        text = f"{e} rejected the request ({said})."
    elif status == 408:
        retryable = True
        text = f"{e} timed out waiting for the request ({said})."
    elif status == 413:
        text = f"The request is too large for {e} ({said}). Send a smaller selection."
    elif status == 500:
        text = f"{e} failed upstream ({status}: {detail or 'Internal server error'})."
    elif status in (502, 503, 504):
        retryable = True
        text = f"{e} is unavailable ({said})."
        if retry_after is not None:
            text += f" Retry in {math.ceil(retry_after)} s."
    elif 300 <= status < 400:
        text = f"{e} answered with a redirect ({said}). Check the address (api_base / ollama_host)."
    elif status >= 500:
        text = f"{e} failed ({said})."
    else:
        text = f"{e} answered {said}."
    return ZekeError(
        text,
        kind="http",
        status=status,
        code=code_s,
        retryable=retryable,
        retry_after=retry_after,
    )


# --------------------------------------------------------------------------
# Transport failures and addresses


def safe_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe to show and log."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, host + port, parts.path, "", ""))
    except ValueError:
        return "(an invalid URL)"


def bad_url(endpoint_name: str, where: str) -> ZekeError:
    """The configured address cannot be used at all: a config problem, not an outage."""
    return ZekeError(
        f"The address for {endpoint_name} ({where}) is not a usable http(s) URL.", kind="config"
    )


def transport_error(
    exc: httpx.HTTPError,
    *,
    endpoint_name: str,
    where: str,
    connect_timeout: float,
    read_timeout: float,
) -> ZekeError:
    """A failure before any answer, with the ``kind`` the engine decides degraded mode by."""
    e = endpoint_name
    if isinstance(exc, httpx.ConnectTimeout):
        return ZekeError(
            f"{e} at {where} did not accept a connection within {connect_timeout:g} s.",
            kind="timeout",
        )
    if isinstance(exc, httpx.TimeoutException):
        return ZekeError(
            f"{e} at {where} accepted the connection but did not answer within {read_timeout:g} s.",
            kind="timeout",
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return bad_url(e, where)
    if isinstance(exc, httpx.ConnectError):
        return ZekeError(
            f"{e} is not reachable at {where}: {_connect_reason(exc)}", kind="unreachable"
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return ZekeError(
            f"{e} at {where} closed the connection without answering.", kind="unreachable"
        )
    if isinstance(exc, httpx.ProxyError):
        return ZekeError(f"{e} is not reachable at {where}: the proxy failed.", kind="unreachable")
    return ZekeError(f"{e} is not reachable at {where}: the connection failed.", kind="unreachable")


def _connect_reason(exc: BaseException) -> str:
    seen: set[int] = set()
    cur: BaseException | None = exc
    texts = []
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(cur, TimeoutError):
            return "the connection timed out"
        texts.append(str(cur).lower())
        cur = cur.__cause__ or cur.__context__
    text = " ".join(texts)
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "name resolution" in text:
        return "the host name could not be resolved"
    if "unreachable" in text or "no route" in text:
        return "no route to the host"
    return "the connection failed"


# --------------------------------------------------------------------------
# Quoting server text


def _error_fields(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, type, code) from an error body; message may be a snippet."""
    obj = load_json(body.decode("utf-8", "replace")) if body.strip() else None
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        obj = obj[0]  # some gateways wrap the error in a list
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            msg = err.get("message")
            etype = err.get("type")
            code = err.get("code")
            return (
                _one_line(msg) if isinstance(msg, str) else "",
                etype if isinstance(etype, str) and etype else None,
                None if code is None or isinstance(code, (dict, list)) else str(code),
            )
        if isinstance(err, str):
            return _one_line(err), None, None
        for key in ("message", "detail"):
            val = obj.get(key)
            if isinstance(val, str):
                return _one_line(val), None, None
            if val is not None:
                return _one_line(json.dumps(val, ensure_ascii=False)), None, None
        return "", None, None
    return snippet(body), None, None


_TAGS = re.compile(r"<[^>]*>")
_SCRIPTS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def snippet(body: bytes, limit: int = 200) -> str:
    """A short, single-line, tag-free excerpt of a body (HTML pages included)."""
    text = body[:ERROR_BODY_CAP].decode("utf-8", "replace")
    if re.search(r"<(!doctype|html|head|body|title|h1|p|div)\b", text, re.IGNORECASE):
        title = _TITLE.search(text)
        if title and title.group(1).strip():
            text = title.group(1)
        else:
            text = _TAGS.sub(" ", _SCRIPTS.sub(" ", text))
        text = html.unescape(text)
    return _redact(_one_line(text, limit))


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    (re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}"), "[redacted]"),
    (
        re.compile(
            r"(?i)((?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
        ),
        r"\1[redacted]",
    ),
]


def _redact(text: str) -> str:
    """Mask key-like strings a server might echo back in an error body."""
    for pattern, repl in _SECRETS:
        text = pattern.sub(repl, text)
    return text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        secs = when.timestamp() - time.time()
    if not math.isfinite(secs):
        return None
    return max(0.0, secs)
