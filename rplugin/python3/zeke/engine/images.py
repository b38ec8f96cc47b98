"""Vision (`:ZekeExplain` on an image): which files are images, and the message parts
that carry one (docs/design.md; `:help zeke-vision`).

An image is known by its first bytes (PNG, JPEG, GIF, WEBP), not by its name, and is
at most ``MAX_IMAGE_BYTES``. For OMEN (OpenAI-style) it is an ``image_url`` content
part holding a base64 data URL, next to a text part; for Ollama the text stays the
message's ``content`` and the base64 goes in its ``images`` list. What is kept (the
history, the logs) never holds the bytes: ``placeholder`` stands in for the part.

Pure except ``load``, which reads the file (run it in a worker thread).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from zeke.errors import ZekeError

#: The largest image zeke sends (5 MB): bigger ones are refused before anything is sent.
MAX_IMAGE_BYTES = 5 * 1024 * 1024

#: The file name extensions the editor treats as images (the host checks the bytes).
EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp")

_DATA_URL = re.compile(r"^data:(image/[a-z]+);base64,(.*)$", re.S)
# words a router's refusal uses when the model takes no images
_REJECTS = re.compile(r"image|vision|multimodal", re.I)
_VISIONISH = re.compile(r"vision|vl\b|-vl|llava|gpt-4o|gpt-4\.1|gemini|claude|pixtral|4v", re.I)


@dataclass(frozen=True)
class Image:
    name: str  # the file's base name
    mime: str  # image/png, image/jpeg, image/gif, image/webp
    data: bytes

    @property
    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.b64}"


def sniff(head: bytes) -> str | None:
    """The image's MIME type from its first bytes (at least 12), else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def size_text(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def check(name: str, data: bytes, *, cap: int = MAX_IMAGE_BYTES) -> Image:
    """``data`` as an image, or a ZekeError saying why it is not one to send."""
    if len(data) > cap:
        _too_big(name, len(data), cap)
    mime = sniff(data[:16])
    if mime is None:
        raise ZekeError(
            f"zeke: {name} is not a PNG, JPEG, GIF or WEBP image (nothing was sent)",
            kind="refused",
        )
    return Image(name, mime, data)


def load(path: str, *, cap: int = MAX_IMAGE_BYTES) -> Image:
    """Read and check the image at ``path`` (blocking: in a worker thread)."""
    name = os.path.basename(path) or path
    try:
        size = os.path.getsize(path)
        if size > cap:  # refused without reading it
            _too_big(name, size, cap)
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError as e:
        raise ZekeError(
            f"zeke: cannot read the image {name}: {e.strerror or e} (nothing was sent)",
            kind="refused",
        ) from None
    return check(name, data, cap=cap)


def _too_big(name: str, size: int, cap: int) -> NoReturn:
    raise ZekeError(
        f"zeke: {name} is {size_text(size)}; images over {size_text(cap)} are not sent "
        "(nothing was sent)",
        kind="refused",
    )


def openai_content(text: str, image: Image) -> list[dict[str, Any]]:
    """The user message's content for OMEN: a text part and the image part."""
    return [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": image.data_url}},
    ]


def ollama_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI-style message as Ollama takes it: text parts joined into ``content``,
    data-URL images in ``images`` (base64, no prefix). A plain message is unchanged."""
    content = message.get("content")
    if not isinstance(content, list):
        return dict(message)
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text") or ""))
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url") or "")
            m = _DATA_URL.match(url)
            if m:
                images.append(m.group(2))
    out = {k: v for k, v in message.items() if k != "content"}
    out["content"] = "\n\n".join(texts)
    if images:
        out["images"] = images
    return out


def placeholder(content: Any, names: Iterable[str] = ()) -> Any:
    """A message's content as it is kept: an image part becomes
    "[image: name.png, 12 KB]", text parts stay; a string is unchanged."""
    if not isinstance(content, list):
        return content
    named = list(names)
    pieces: list[str] = []
    n = 0
    for part in content:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text":
            pieces.append(str(part.get("text") or ""))
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url") or "")
            m = _DATA_URL.match(url)
            size = len(base64.b64decode(m.group(2), validate=False)) if m else 0
            name = named[n] if n < len(named) else "image"
            n += 1
            pieces.append(f"[image: {name}, {size_text(size)}]")
    return "\n\n".join(pieces)


def rejects_images(err: ZekeError) -> bool:
    """The router's refusal says the model takes no images (a 400/415/422)."""
    return err.kind == "http" and (
        err.code == "images_unsupported"
        or (err.status in (400, 415, 422) and bool(_REJECTS.search(err.message)))
    )


def vision_alias(aliases: Mapping[str, Mapping[str, Any]]) -> str | None:
    """A configured alias whose name or model suggests it sees images."""
    for name in sorted(aliases):
        spec = aliases[name] if isinstance(aliases[name], Mapping) else {}
        if _VISIONISH.search(name) or _VISIONISH.search(str(spec.get("model") or "")):
            return name
    return None


def rejection_message(model: str, aliases: Mapping[str, Mapping[str, Any]]) -> str:
    """What the user reads when ``model`` refused the image."""
    alias = vision_alias(aliases)
    if alias:
        hint = f"e.g. the alias {alias!r}"
    else:
        hint = "no configured alias names a vision model; add one whose model sees images"
    return f"zeke: {model} does not take images; pick a vision model with :ZekeModel ({hint})"
