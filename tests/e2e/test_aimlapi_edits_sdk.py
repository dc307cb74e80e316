"""AI/ML API edits (`openai/gpt-image-1`, `openai/gpt-image-2`) through the official `openai` SDK, unchanged but for
`base_url`, against a real `aiml-mock serve` (the default profile) on port 0, under both protocols."""

from __future__ import annotations

import base64
import io
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from aiml_mock.core.settings import ProtocolName
from tests.e2e.test_gpt_image_sdk import BLUE, GREEN, mask_png, near, picture
from tests.test_cli import serve

openai = pytest.importorskip("openai", reason="the e2e suite needs the openai SDK (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def aiml_mock(protocol: ProtocolName) -> Iterator[str]:
    """`aiml-mock serve` (default profile, the protocol under test); its URL."""
    with serve("--protocol", protocol) as (_, url):
        yield url


def client_for(url: str) -> Any:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)


def fetched(url: str) -> Image.Image:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (127.0.0.1)
        return Image.open(io.BytesIO(response.read()))


def test_an_edit_answers_the_generation_shape_with_the_input_in_its_picture(aiml_mock: str) -> None:
    result = client_for(aiml_mock).images.edit(
        model="openai/gpt-image-1", image=("a.png", picture(512, 512)), mask=("m.png", mask_png(512, 512)),
        prompt="add a crown")
    [item] = result.data
    assert item.url and item.b64_json is None  # response_format url, the provider's default
    edited = fetched(item.url)
    assert edited.format == "PNG" and edited.size == (1024, 1024)
    rgb = edited.convert("RGB")
    assert near(rgb.getpixel((200, 300)), GREEN) and near(rgb.getpixel((800, 200)), BLUE)
    masked = [rgb.getpixel((x, y)) for x in range(560, 1000, 7) for y in range(560, 900, 7)]
    assert any(near(pixel, (255, 0, 255)) for pixel in masked)
    body = result.model_dump()
    assert body["meta"]["usage"]["credits_used"] > 0 and body["meta"]["usage"]["usd_spent"] > 0
    assert (result.size, result.quality, result.background, result.output_format) == (
        "1024x1024", "medium", "opaque", "png")
    assert result.usage.input_tokens_details.image_tokens > 0


def test_gpt_image_2_edits_in_b64_json_to_the_requested_size(aiml_mock: str) -> None:
    result = client_for(aiml_mock).images.edit(model="openai/gpt-image-2", image=("a.webp", picture(300, 200, "WEBP")),
                                               prompt="x", size="1536x1024", response_format="b64_json")
    edited = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert edited.size == (1536, 1024) and near(edited.convert("RGB").getpixel((300, 500)), GREEN)


@pytest.mark.parametrize(("fields", "field", "wording"), [
    ({"n": 2}, "n", "Expected 1, received 2"),
    ({"size": "auto"}, "size", "received 'auto'"),
])
def test_n_above_one_and_auto_size_are_refused_in_the_flat_dialect_naming_the_field(
        aiml_mock: str, fields: dict[str, Any], field: str, wording: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(aiml_mock).images.edit(model="openai/gpt-image-1", image=("a.png", picture(64, 64)), prompt="x",
                                          **fields)
    body = caught.value.body
    assert caught.value.status_code == 400 and body["statusCode"] == 400 and body["path"] == "/v1/images/edits"
    assert body["message"].startswith("Body validation error!") and body["message"].endswith(f'at "{field}"')
    assert wording in body["message"] and "error" not in body


def test_a_model_without_edits_is_refused_pointing_at_image_url_on_generations(aiml_mock: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(aiml_mock).images.edit(model="flux/schnell", image=("a.png", picture(64, 64)), prompt="x")
    message = caught.value.body["message"]
    assert "'flux/schnell' does not support image edits" in message and "image_url" in message
    assert "openai/gpt-image-1, openai/gpt-image-2" in message and message.endswith('at "model"')


def test_stream_is_ignored_as_on_generations(aiml_mock: str) -> None:
    files = {"image": ("a.png", picture(64, 64), "image/png")}
    answer = httpx.post(f"{aiml_mock}/v1/images/edits", headers={"Authorization": "Bearer sk-test"}, files=files,
                        data={"model": "openai/gpt-image-1", "prompt": "x", "stream": "true", "partial_images": "2"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    assert answer.json()["data"][0]["url"]


@pytest.mark.parametrize(("files", "part", "wording"), [
    ({"image": ("a.png", b"not an image at all")}, "image", "not an image"),
    ({"image": ("a.gif", picture(64, 64, "GIF"))}, "image", "format must be in ['png', 'webp', 'jpeg'], got gif"),
    ({"image": [("a.png", picture(32, 32))] * 17}, "image", "takes at most 16, got 17"),
    ({"image": ("a.png", picture(64, 64)), "mask": ("m.png", mask_png(64, 64, "RGB"))}, "mask", "alpha channel"),
    ({"image": ("a.png", picture(64, 64)), "mask": ("m.png", mask_png(32, 32))}, "mask", "dimensions 64x64"),
])
def test_each_bad_upload_is_refused_as_a_body_validation_error_naming_the_part(
        aiml_mock: str, files: dict[str, Any], part: str, wording: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(aiml_mock).images.edit(model="openai/gpt-image-1", prompt="x", **files)
    body = caught.value.body
    assert caught.value.code is None and set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert body["statusCode"] == 400 and body["path"] == "/v1/images/edits"
    assert body["message"].startswith("Body validation error! ") and body["message"].endswith(f'at "{part}"')
    assert wording in body["message"]


def test_a_form_that_does_not_parse_is_a_body_validation_error() -> None:
    with serve() as (_, url):
        answer = httpx.post(f"{url}/v1/images/edits", headers={
            "Authorization": "Bearer sk-test", "Content-Type": "multipart/form-data; boundary=b"},
            content=b"--b\r\nno colon in this header\r\n\r\nx\r\n--b--\r\n")
    assert answer.status_code == 400 and answer.json()["message"].startswith(
        "Body validation error! The multipart body could not be parsed")


def test_the_edit_answers_the_documented_200_or_the_configured_success_status() -> None:
    for flags, status in (((), 200), (("--success-status", "201"), 201)):
        with serve(*flags) as (_, url):
            raw = client_for(url).images.with_raw_response.edit(model="openai/gpt-image-2",
                                                                image=("a.png", picture(64, 64)), prompt="x")
            assert raw.status_code == status and raw.parse().data[0].url
