"""The official `openai` SDK against a live mock, with the catalogue: discover models, call non-DALL·E ones."""

from __future__ import annotations

import base64
import io
import urllib.request

import pytest
from PIL import Image

from aiml_mock import MockServer, load_contract
from aiml_mock.core.registry import example_request
from tests.conftest import PROMPT

openai = pytest.importorskip("openai", reason="the e2e suite needs the openai SDK (pip install -e '.[test]')")


def fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (a 127.0.0.1 URL from the mock)
        return response.read(), response.headers["content-type"]


@pytest.fixture
def client(live_server: MockServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_server.base_url, api_key="sk-test", max_retries=0)


def test_models_list_discovers_every_served_image_model(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    assert [model.id for model in models] == sorted(load_contract().models)
    assert all(model.object == "model" and model.owned_by for model in models)
    assert models[0].model_dump()["type"] == "image"  # the provider's fields survive the SDK's parsing


def test_a_discovered_model_is_called_with_its_own_fields(client: openai.OpenAI) -> None:
    [schnell] = [model.id for model in client.models.list() if model.id.endswith("/schnell")]
    result = client.images.generate(model=schnell, prompt=PROMPT,
                                    extra_body={"image_size": "square", "num_images": 2})
    assert len(result.data) == 2
    data, content_type = fetch(result.data[1].url or "")
    assert content_type == "image/png" and Image.open(io.BytesIO(data)).size == (512, 512)


def test_gpt_image_b64_json_in_webp(client: openai.OpenAI) -> None:
    result = client.images.generate(model="openai/gpt-image-1", prompt=PROMPT, size="1024x1536",
                                    response_format="b64_json", extra_body={"output_format": "webp"})
    [image] = result.data
    picture = Image.open(io.BytesIO(base64.b64decode(image.b64_json or "")))
    assert (picture.format, picture.size) == ("WEBP", (1024, 1536))


def test_an_image_to_image_model_takes_a_data_url(client: openai.OpenAI) -> None:
    reference = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    result = client.images.generate(model="blackforestlabs/flux-2-edit", prompt=PROMPT,
                                    extra_body={"image_urls": [reference], "output_format": "jpeg"})
    data, content_type = fetch(result.data[0].url or "")
    assert content_type == "image/jpeg" and Image.open(io.BytesIO(data)).format == "JPEG"


def test_an_unknown_model_raises_bad_request_with_the_nearest_names(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="openai/dall-e-3", prompt=PROMPT)
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict) and "Did you mean 'dall-e-3'" in caught.value.body["message"]


@pytest.mark.parametrize("model_id", sorted(load_contract().models))
def test_the_sdk_parses_every_models_answer(client: openai.OpenAI, model_id: str) -> None:
    body = example_request(load_contract().models[model_id])
    fields = {name: value for name, value in body.items() if name not in ("model", "prompt")}
    result = client.images.generate(model=model_id, prompt=str(body.get("prompt", PROMPT)), extra_body=fields)
    assert result.data and result.data[0].url  # unknown fields (images, meta, seed...) are kept, not refused
    assert result.model_dump()["meta"]["usage"]["credits_used"] > 0


def test_flux_pro_images_carry_the_served_images_size(client: openai.OpenAI) -> None:
    raw = client.images.with_raw_response.generate(model="flux-pro", prompt=PROMPT,
                                                   extra_body={"image_size": "portrait_16_9"})
    [image] = raw.http_response.json()["images"]
    data, content_type = fetch(image["url"])
    assert Image.open(io.BytesIO(data)).size == (image["width"], image["height"]) == (576, 1024)
    assert content_type == image["content_type"]
    assert raw.parse().data[0].url == image["url"]
