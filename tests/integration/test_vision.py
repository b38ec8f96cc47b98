"""Vision (issue 16 item 5) on a real Neovim with the real host: :ZekeExplain with an
image path, or on an image buffer, sends an OpenAI image_url part (a base64 data URL)
with intent "vision"; Ollama, in degraded mode, gets it in `images`; a non-image or
a file over the cap is refused with a message and nothing is sent; a router refusing
images gets a message naming an alias to use; the history keeps no base64."""

from __future__ import annotations

import base64
import functools
import json

import kit
from fakes import ollama as fl
from fakes import omen as fo
from nvimharness import one_build, wait_rows

SOURCE = "def total(xs):\n    return sum(xs)\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(200))

start = functools.partial(kit.start, text=SOURCE)
HISTORY = "SELECT request_id, command, intent, question, messages FROM history ORDER BY id"


def image_part(body: dict) -> dict:
    user = [m for m in body["messages"] if m["role"] == "user"][-1]
    assert isinstance(user["content"], list), user
    kinds = [p["type"] for p in user["content"]]
    assert kinds == ["text", "image_url"], kinds
    return user["content"][1]["image_url"]


@one_build
def test_an_image_path_argument_sends_an_image_url_part_with_intent_vision(
    make_nvim, omen, project, tmp_path
):
    (project / "shot.png").write_bytes(PNG)
    db = tmp_path / "cache" / "zeke.db"
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, db=db)
    nv.cmd("ZekeExplain shot.png what is on this screen?")
    last = nv.wait_done()
    assert last["state"] == "done", last
    assert last["intent"] == "vision"

    (req,) = omen.chat_requests()
    url = image_part(req.body)["url"]
    assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    user = req.body["messages"][-1]["content"][0]["text"]
    assert "what is on this screen?" in user and "shot.png" not in user
    assert req.body["tags"]["intent"] == "vision"
    assert req.headers.get("x-intent") == "vision"

    (row,) = wait_rows(db, 1, HISTORY)
    assert row["command"] == "ZekeExplain" and row["intent"] == "vision"
    kept = json.loads(row["messages"])
    assert (
        "base64" not in row["messages"]
        and base64.b64encode(PNG).decode()[:40] not in row["messages"]
    )
    assert "[image: shot.png, 1 KB]" in kept[-1]["content"]


@one_build
def test_explain_on_an_image_buffer_sends_it_known_by_its_bytes(make_nvim, omen, project):
    shot = project / "photo.jpg"
    shot.write_bytes(JPEG)
    nv = start(make_nvim, omen, project, {"alias": "code-smart"}, file=None)
    nv.cmd(f"edit {shot}")
    nv.cmd("ZekeExplain")
    last = nv.wait_done()
    assert last["state"] == "done", last
    (req,) = omen.chat_requests()
    assert image_part(req.body)["url"].startswith("data:image/jpeg;base64,")
    assert req.body["tags"]["intent"] == "vision"


@one_build
def test_a_non_image_or_a_file_over_5_mb_is_refused_and_nothing_is_sent(make_nvim, omen, project):
    (project / "fake.png").write_text("not a picture at all\n")
    (project / "big.png").write_bytes(PNG + b"\0" * (5 * 1024 * 1024))
    nv = start(make_nvim, omen, project, {"alias": "code-smart"})

    nv.cmd("ZekeExplain fake.png")
    last = nv.wait_done()
    assert last["state"] == "error"
    assert "fake.png is not a PNG, JPEG, GIF or WEBP image" in last["error"]
    assert "nothing was sent" in last["error"]

    nv.cmd("ZekeExplain big.png")
    last = nv.wait_done()
    assert last["state"] == "error"
    assert "big.png is 5.0 MB; images over 5.0 MB are not sent" in last["error"]
    assert omen.chat_requests() == []


@one_build
def test_a_model_refusing_images_gets_a_message_naming_a_vision_alias(make_nvim, omen, project):
    (project / "shot.png").write_bytes(PNG)
    refusal = {"error": {"message": "This model does not support image_url content", "code": 400}}
    omen.queue(fo.error(400, refusal), fo.error(400, refusal))
    config = {
        "alias": "code-smart",
        "aliases": {
            "code-smart": {"provider": "azure", "model": "gpt-5-codex"},
            "eyes": {"provider": "openai", "model": "gpt-4o"},
        },
    }
    nv = start(make_nvim, omen, project, config)
    nv.cmd("ZekeExplain shot.png")
    last = nv.wait_done()
    assert last["state"] == "error", last
    err = last["error"]
    assert "does not take images; pick a vision model with :ZekeModel" in err, err
    assert "'eyes'" in err, err


@one_build
def test_the_ollama_fallback_sends_the_image_in_its_images_field(make_nvim, omen, ollama, project):
    (project / "shot.png").write_bytes(PNG)
    dead = omen.url
    omen.stop()
    ollama.queue(fl.ollama_stream("a screenshot of a terminal"))
    nv = start(make_nvim, dead, project, ollama=ollama, timeouts=kit.QUICK_TIMEOUTS)
    nv.cmd("ZekeExplain shot.png")
    last = nv.wait_done()
    assert last["state"] == "done", last
    assert last["degraded"] is True
    (req,) = ollama.chat_requests()
    user = req.body["messages"][-1]
    assert user["images"] == [base64.b64encode(PNG).decode()]
    assert isinstance(user["content"], str) and "image_url" not in json.dumps(req.body)
