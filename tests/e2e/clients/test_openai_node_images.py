"""gpt-image through the official `openai` Node SDK (6.x) against a real `aiml-mock serve --profile openai`:
a streamed generation's partial and completed events, an edit of two real PNGs with a mask, two variations,
and a bad upload raised as `BadRequestError` with its documented code."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aiml_mock import MockHandle
from tests.e2e.clients.conftest import KEY, PROMPT, Served, _console_script, run_node

RED, BLUE = (220, 30, 30), (30, 30, 220)


@pytest.fixture(scope="module")
def openai_served(offline: None) -> Iterator[Served]:
    """`aiml-mock serve --profile openai --port 0 --api-key KEY`, its log to a temp file."""
    with tempfile.TemporaryFile("w+") as log, subprocess.Popen(
        [_console_script(), "serve", "--port", "0", "--profile", "openai", "--api-key", KEY, "--log-level",
         "warning", "--content-policy-terms", ""],
        stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "AIML_MOCK_API_KEYS": ""},
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if "listening on http://" not in line:
                log.seek(0)
                pytest.fail(f"aiml-mock serve did not start: {line}{log.read()}")
            with MockHandle.connect(line.split("listening on ")[1].split()[0], api_key=KEY) as handle:
                yield Served(process, handle)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)


def png(path: Path, size: tuple[int, int], colour: tuple[int, ...], mode: str = "RGB") -> str:
    Image.new(mode, size, colour).save(path, "PNG")
    return str(path)


def images(node: str, served: Served, call: str, request: dict[str, Any], **files: Any) -> dict[str, Any]:
    return run_node(node, "openai_images.mjs", {"baseURL": served.base_url, "apiKey": KEY, "call": call,
                                                 "request": request, "files": files})


def decoded(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def test_streamed_generation_yields_its_partials_then_a_completed_png_of_the_size(
        node: str, openai_served: Served) -> None:
    outcome = images(node, openai_served, "generate", {"model": "gpt-image-1", "prompt": PROMPT, "stream": True,
                                                       "partial_images": 2, "size": "1536x1024"})
    assert outcome["ok"], outcome
    events = outcome["events"]
    assert [event["type"] for event in events] == ["image_generation.partial_image"] * 2 + [
        "image_generation.completed"]
    assert [event["partial_image_index"] for event in events[:2]] == [0, 1]
    for event in events:
        image = decoded(event["b64_json"])
        assert (image.format, image.size, event["size"]) == ("PNG", (1536, 1024), "1536x1024")
    assert events[-1]["usage"]["total_tokens"] > 0


def test_edit_of_two_pngs_with_a_mask_returns_a_png_that_contains_the_first(
        node: str, openai_served: Served, tmp_path: Path) -> None:
    first, second = png(tmp_path / "a.png", (256, 256), RED), png(tmp_path / "b.png", (256, 256), BLUE)
    mask = png(tmp_path / "mask.png", (256, 256), (0, 0, 0, 255), "RGBA")
    outcome = images(node, openai_served, "edit", {"model": "gpt-image-1", "prompt": PROMPT, "size": "1024x1024"},
                     image=[first, second], mask=mask)
    assert outcome["ok"], outcome
    [item] = outcome["answer"]["data"]
    image = decoded(item["b64_json"]).convert("RGB")
    assert image.size == (1024, 1024) and outcome["answer"]["output_format"] == "png"
    assert image.getpixel((8, 8)) == RED  # the first input, fitted to the size (its corner outside the caption)
    [entry] = [entry for entry in openai_served.handle.requests if entry.path == "/v1/images/edits"][-1:]
    assert entry.status == 200


def test_create_variation_returns_two_images(node: str, openai_served: Served, tmp_path: Path) -> None:
    outcome = images(node, openai_served, "createVariation", {"n": 2, "size": "256x256",
                                                               "response_format": "b64_json"},
                     image=png(tmp_path / "square.png", (128, 128), BLUE))
    assert outcome["ok"], outcome
    pictures = [decoded(item["b64_json"]) for item in outcome["answer"]["data"]]
    assert [picture.size for picture in pictures] == [(256, 256), (256, 256)]


def test_a_mask_without_alpha_raises_bad_request_with_its_documented_code(node: str, openai_served: Served,
                                                               tmp_path: Path) -> None:
    outcome = images(node, openai_served, "edit", {"model": "gpt-image-1", "prompt": PROMPT},
                     image=png(tmp_path / "a.png", (64, 64), RED), mask=png(tmp_path / "m.png", (64, 64), BLUE))
    error = outcome["error"]
    assert (error["name"], error["isBadRequest"], error["status"]) == ("BadRequestError", True, 400)
    assert (error["code"], error["param"], error["type"]) == ("invalid_image_format", "mask", "invalid_request_error")
