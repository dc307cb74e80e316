"""`background: "transparent"`: a real alpha channel (background alpha 0, text alpha 255), the same file from the
fast and the plain renderer, the same picture as the opaque one once laid on its background colour; and through
the API, for generations (`b64_json`, `AIML_MOCK_RENDERER=plain` in a real server too) and their partial frames."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from PIL import Image, ImageChops
from starlette.testclient import TestClient

from aiml_mock.core.images import ImageSpec, _fast, _plain
from aiml_mock.core.settings import Settings
from aiml_mock.web.app import create_app
from tests.serving import serve_process
from tests.test_images_plain import tool

PROMPT = "A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses. " * 2
SIZES = [(1, 1), (64, 48), (1024, 1024), (1536, 1024), (1600, 1152), (2600, 2560)]  # text at 1/1, 1/2, 1/4
AUTH = {"Authorization": "Bearer k"}


def spec(size: tuple[int, int], fmt: str, transparent: bool = True) -> ImageSpec:
    return ImageSpec(PROMPT, bytes([size[0] % 256, 9, 8, 7, 6, 5, 4, 3]), "gpt-image-1", size[0], size[1], "", fmt,  # type: ignore[arg-type]
                     0, transparent)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def alphas(image: Image.Image) -> set[int]:
    low, high = image.getchannel("A").getextrema()
    histogram = image.getchannel("A").histogram()
    return {value for value in range(low, high + 1) if histogram[value]}


@pytest.mark.parametrize("fmt", ["png", "webp"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_fast_and_the_plain_renderer_write_the_same_transparent_file(fmt: str, size: tuple[int, int]) -> None:
    assert _fast.render(spec(size, fmt)) == _plain.render(spec(size, fmt))


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_a_transparent_image_is_rgba_with_a_clear_background_and_opaque_text(fmt: str, tmp_path: Path) -> None:
    data = _fast.render(spec((1024, 1024), fmt))
    image = opened(data)
    assert image.format == fmt.upper() and image.mode == "RGBA" and image.size == (1024, 1024)
    assert image.getpixel((40, 40))[3] == 0  # background
    assert {0, 255} <= alphas(image)  # the text fully opaque (its anti-aliased edges in between)
    if fmt == "png":
        (tmp_path / "image.png").write_bytes(data)
        check = subprocess.run([tool("pngcheck"), "-v", "image.png"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=60)
        assert check.returncode == 0 and "RGB+alpha" in check.stdout, check.stdout + check.stderr


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_laid_on_its_background_colour_a_transparent_image_is_the_opaque_picture(fmt: str) -> None:
    clear = opened(_fast.render(spec((1536, 1024), fmt)))
    opaque = _plain.picture(spec((1536, 1024), fmt, transparent=False)).convert("RGB")
    ground = Image.new("RGBA", clear.size, (*opaque.getpixel((40, 40)), 255))  # type: ignore[misc]
    laid = Image.alpha_composite(ground, clear).convert("RGB")
    assert max(high for _, high in ImageChops.difference(laid, opaque).getextrema()) <= 1  # rounding of blends


def test_a_transparent_jpeg_spec_is_drawn_opaque() -> None:
    assert _fast.render(spec((64, 48), "jpeg")) == _fast.render(spec((64, 48), "jpeg", transparent=False))


def generate(client: httpx.Client | TestClient, **fields: object) -> Image.Image:
    body = {"model": "gpt-image-1", "prompt": "a glass of water", "quality": "low", **fields}
    answer = client.post("/v1/images/generations", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["background"] == fields.get("background", "opaque")
    return opened(base64.b64decode(answer.json()["data"][0]["b64_json"]))


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_a_gpt_image_generation_with_a_transparent_background_has_an_alpha_channel(fmt: str) -> None:
    client = TestClient(create_app(Settings(profile="openai")))
    clear = generate(client, background="transparent", output_format=fmt)
    assert clear.mode == "RGBA" and {0, 255} <= alphas(clear)
    opaque = generate(client, background="opaque", output_format=fmt)
    assert opaque.mode != "RGBA" and not opaque.has_transparency_data


def test_the_partial_frames_of_a_transparent_image_are_transparent_too() -> None:
    client = TestClient(create_app(Settings(profile="openai")))
    body = {"model": "gpt-image-1", "prompt": "a kite", "stream": True, "partial_images": 2, "quality": "low",
            "background": "transparent", "output_format": "png"}
    with client.stream("POST", "/v1/images/generations", json=body, headers=AUTH) as answer:
        data = b"".join(answer.iter_bytes())
    events = [orjson.loads(chunk.partition(b"\ndata: ")[2]) for chunk in data.split(b"\n\n") if chunk]
    assert [event["type"] for event in events] == ["image_generation.partial_image"] * 2 + [
        "image_generation.completed"]
    for event in events:
        image = opened(base64.b64decode(event["b64_json"]))
        assert image.mode == "RGBA" and 0 in alphas(image) and event["background"] == "transparent"


def test_a_server_on_the_plain_renderer_answers_the_transparent_image_the_fast_one_does() -> None:
    env = {**os.environ, "AIML_MOCK_RENDERER": "plain"}
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--profile", "openai"]
    with serve_process(command, env) as (_, url), httpx.Client(base_url=url, timeout=30) as plain:
        from_plain = generate(plain, background="transparent", size="1536x1024")
    from_fast = generate(TestClient(create_app(Settings(profile="openai"))), background="transparent",
                         size="1536x1024")
    assert from_plain.mode == from_fast.mode == "RGBA"
    assert from_plain.tobytes() == from_fast.tobytes()


def test_an_ai_ml_api_url_answer_downloads_the_transparent_image() -> None:
    client = TestClient(create_app(Settings()))  # the AI/ML API dialect answers gpt-image with a URL
    body = {"model": "openai/gpt-image-1", "prompt": "a glass of water", "background": "transparent",
            "output_format": "png"}
    answer = client.post("/v1/images/generations", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    image = opened(client.get(answer.json()["data"][0]["url"]).content)
    assert image.mode == "RGBA" and {0, 255} <= alphas(image)
    body["background"] = "opaque"
    opaque = opened(client.get(client.post("/v1/images/generations", json=body, headers=AUTH).json()["data"][0]["url"]
                               ).content)
    assert opaque.mode != "RGBA" and not opaque.has_transparency_data
