"""Vision's pure pieces (engine/images.py): an image known by its bytes, the 5 MB cap,
the OpenAI image_url part, Ollama's images field, what the history keeps in place of
the bytes, and the message when a model refuses images."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from zeke.backends.http.failures import describe_http_error
from zeke.engine import images
from zeke.engine.backend import ollama_body
from zeke.errors import ZekeError

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 40
GIF = b"GIF89a" + b"\0" * 40
WEBP = b"RIFF\x24\0\0\0WEBPVP8 " + b"\0" * 40


@pytest.mark.parametrize(
    ("data", "mime"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_an_image_is_known_by_its_first_bytes(data: bytes, mime: str) -> None:
    assert images.sniff(data) == mime
    assert images.check("x.bin", data).mime == mime  # whatever its name says


@pytest.mark.parametrize("data", [b"hello, world\n" * 4, b"RIFF\0\0\0\0WAVEfmt ", b""])
def test_anything_else_is_not_an_image_and_says_nothing_was_sent(data: bytes) -> None:
    with pytest.raises(ZekeError, match="not a PNG, JPEG, GIF or WEBP image") as info:
        images.check("notes.png", data)
    assert "notes.png" in info.value.message and "nothing was sent" in info.value.message
    assert info.value.kind == "refused"


def test_the_cap_is_5_mb_and_a_bigger_file_is_refused_unread(tmp_path: Path) -> None:
    assert images.MAX_IMAGE_BYTES == 5 * 1024 * 1024
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\0" * images.MAX_IMAGE_BYTES)
    with pytest.raises(ZekeError, match=r"big\.png is 5\.0 MB; images over 5\.0 MB are not sent"):
        images.load(str(big))
    ok = tmp_path / "ok.png"
    ok.write_bytes(PNG)
    assert images.load(str(ok)).data == PNG
    with pytest.raises(ZekeError, match=r"cannot read the image gone\.png"):
        images.load(str(tmp_path / "gone.png"))


def test_the_openai_content_is_a_text_part_and_an_image_url_data_url() -> None:
    parts = images.openai_content("what is this?", images.check("a.png", PNG))
    assert parts[0] == {"type": "text", "text": "what is this?"}
    assert parts[1]["type"] == "image_url"
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == PNG


def test_ollama_takes_the_text_as_content_and_the_base64_in_images() -> None:
    img = images.check("a.jpg", JPEG)
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": images.openai_content("look", img)},
    ]
    body = ollama_body("llava", msgs, None)
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assert body["messages"][1] == {"role": "user", "content": "look", "images": [img.b64]}
    assert msgs[1]["content"][1]["type"] == "image_url"  # the OpenAI shape is untouched


def test_the_history_keeps_a_placeholder_never_the_bytes() -> None:
    img = images.check("shot.png", PNG + b"\0" * 12 * 1024)
    kept = images.placeholder(images.openai_content("why?", img), ["shot.png"])
    assert kept == "why?\n\n[image: shot.png, 12 KB]"
    assert "base64" not in kept
    assert images.placeholder("plain text") == "plain text"


def test_a_router_refusing_images_names_a_vision_alias_when_one_is_configured() -> None:
    err = describe_http_error(
        400,
        {},
        b'{"error":{"message":"model does not support image_url content","type":"invalid"}}',
        endpoint_name="OMEN",
        model="code-fast",
    )
    assert images.rejects_images(err)
    aliases = {"code-fast": {"model": "qwen2.5-coder"}, "look": {"model": "llava:13b"}}
    msg = images.rejection_message("code-fast", aliases)
    assert msg.startswith(
        "zeke: code-fast does not take images; pick a vision model with :ZekeModel"
    )
    assert "'look'" in msg
    general = images.rejection_message("code-fast", {"code-fast": {"model": "qwen"}})
    assert "no configured alias names a vision model" in general
    plain = describe_http_error(400, {}, b'{"error":"bad json"}', endpoint_name="OMEN")
    assert not images.rejects_images(plain)
