"""Success bodies: a `url` answer's names describe exactly the images a `b64_json` answer renders."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from aiml_mock.core.contract import load_contract
from aiml_mock.core.generation import image_bytes, image_names, image_specs, plan_for, success_body
from aiml_mock.core.images import ImageCache
from aiml_mock.core.urls import UrlSigner, file_name, spec_from_name
from aiml_mock.core.validation import ImageRequest, validate_request

CONTRACT = load_contract()
SIGNER = UrlSigner(b"secret", ttl=3600)


def answer(image_request: ImageRequest, **settings: Any) -> dict[str, Any]:
    """The success body the mock sends for this request, in its model's documented shape."""
    return success_body(image_request, plan=plan_for(CONTRACT, image_request.model), **settings)


def request(**body: object) -> ImageRequest:
    return validate_request({"model": "dall-e-2", "prompt": "a red fox", **body}, CONTRACT)


@pytest.mark.parametrize("body", [
    {"n": 3, "size": "256x256"},
    {"model": "dall-e-3", "quality": "hd", "style": "natural", "prompt": "a fox 🦊 " * 60},
    {"model": "flux/schnell", "num_images": 2, "image_size": "landscape_4_3"},
    {"model": "flux/kontext-pro/text-to-image", "output_format": "jpeg", "aspect_ratio": "21:9"},
])
def test_url_names_are_the_names_of_the_images_b64_json_renders(body: dict[str, object]) -> None:
    image_request = request(**body)
    names = image_names(image_request, seed=7)
    specs = image_specs(image_request, seed=7)
    assert names == [file_name(spec) for spec in specs]
    assert [spec_from_name(name) for name in names] == specs
    assert len(set(names)) == image_request.count


def test_the_seed_changes_the_images() -> None:
    assert image_names(request(), seed=1) != image_names(request(), seed=2)


def test_a_url_answer_points_at_signed_names_under_the_base_url() -> None:
    image_request = request(n=2)
    body = answer(image_request, seed=0, now=1000.0, cache=ImageCache(), signer=SIGNER,
                        base_url="http://127.0.0.1:9")
    assert body["created"] == 1000
    for item, name in zip(body["data"], image_names(image_request, seed=0), strict=True):
        assert list(item) == ["url"]
        url = urlsplit(item["url"])
        assert (url.scheme, url.netloc, url.path) == ("http", "127.0.0.1:9", f"/images/{name}")
        query = parse_qs(url.query)
        SIGNER.verify(name, query["se"][0], query["sig"][0], now=1000.0)


def test_b64_json_carries_the_bytes_the_url_serves() -> None:
    cache = ImageCache()
    image_request = request(size="256x256", response_format="b64_json")
    body = answer(image_request, seed=0, now=1.0, cache=cache, signer=SIGNER, base_url="http://x")
    [spec] = image_specs(image_request, seed=0)
    assert base64.b64decode(body["data"][0]["b64_json"]) == image_bytes(spec, cache)


def test_dall_e_3_puts_its_revised_prompt_first_in_every_item() -> None:
    image_request = request(model="dall-e-3")
    body = answer(image_request, seed=0, now=1.0, cache=ImageCache(), signer=SIGNER, base_url="http://x")
    [item] = body["data"]
    assert list(item) == ["revised_prompt", "url"] and "red fox" in item["revised_prompt"]
    assert "revised_prompt" not in answer(request(), seed=0, now=1.0, cache=ImageCache(), signer=SIGNER,
                                                base_url="http://x")["data"][0]


def test_a_prompt_with_a_lone_surrogate_is_echoed_as_text_an_answer_can_carry() -> None:
    """`"\\ud800"` is valid JSON; the models whose answers echo the prompt write U+FFFD in its place."""
    image_request = validate_request({"model": "flux/kontext-max/text-to-image", "prompt": "a fox \ud800"}, CONTRACT)
    body = answer(image_request, seed=0, now=1.0, cache=ImageCache(), signer=SIGNER, base_url="http://x")
    assert "a fox \ufffd" in orjson.dumps(body).decode()
