"""Every model answers in the shape its documentation shows: its own response schema, and its page's example.

The first test holds each model's answer (url, and b64_json where the model offers it) to that model's response
schema in the contract, with a validator of its own. The family tests pin, by hand, the field sets of the
documented examples (aimlapi/api-docs pages), so a generator bug that changed both schema and answer together
still fails here.
"""

from __future__ import annotations

import io
from typing import Any

import jsonschema_rs
import pytest
from PIL import Image
from starlette.testclient import TestClient

from aiml_mock import Settings, create_app, load_contract
from aiml_mock.core.registry import example_request

CONTRACT = load_contract()
AUTH = {"authorization": "Bearer sk-test"}
GENERATE = "/v1/images/generations"


@pytest.fixture(scope="module")
def api() -> Any:
    with TestClient(create_app(Settings(content_policy_terms=()))) as client:
        yield client


def post(api: TestClient, body: dict[str, Any]) -> Any:
    response = api.post(GENERATE, json=body, headers=AUTH)
    assert response.status_code // 100 == 2, response.text
    return response.json()


def b64_variant(model_id: str) -> dict[str, Any] | None:
    properties = CONTRACT.models[model_id].properties
    if "b64_json" in properties.get("response_format", {}).get("enum", ()):
        return {"response_format": "b64_json"}
    if "convert_base64_to_url" in properties:
        return {"convert_base64_to_url": False}
    return None


@pytest.mark.parametrize("model_id", sorted(CONTRACT.models))
def test_every_model_answers_in_its_own_response_schema(api: TestClient, model_id: str) -> None:
    schema = CONTRACT.response_schema(model_id)
    validator = jsonschema_rs.validator_for(dict(schema), validate_formats=True)
    body = example_request(CONTRACT.models[model_id])
    for extra in ({}, b64_variant(model_id)):
        if extra is None:
            continue
        answer = post(api, {**body, **extra})
        errors = [f"{list(error.instance_path)}: {error.message}" for error in validator.iter_errors(answer)]
        assert not errors, f"{model_id} {extra}: {errors}"
        assert list(answer) == list(schema["properties"])  # every documented field, in the documented order


def test_no_model_answers_in_another_models_shape() -> None:
    """A mock regressed to DALL·E's shape fails: the fal-style models' schemas refuse it."""
    dalle_shape = {"created": 1, "data": [{"url": "http://127.0.0.1/x.png"}], "meta": {"usage": {"credits_used": 1}}}
    refused = [model_id for model_id in CONTRACT.models
               if not jsonschema_rs.validator_for(dict(CONTRACT.response_schema(model_id))).is_valid(dalle_shape)]
    assert {"flux-pro", "flux/schnell", "recraft-v3", "openai/gpt-image-1", "dall-e-3"} <= set(refused)


# -- the families, pinned by hand from the documented examples ---------------------------------------------


def test_dall_e_answers_created_data_and_meta(api: TestClient) -> None:
    """dall-e-3.md: `{created, data: [{revised_prompt, url}]}`; its spec adds `meta.usage.credits_used`."""
    answer = post(api, {"model": "dall-e-3", "prompt": "a fox", "quality": "hd", "size": "1792x1024"})
    assert list(answer) == ["created", "data", "meta"]
    assert list(answer["data"][0]) == ["revised_prompt", "url"]
    assert answer["meta"] == {"usage": {"credits_used": 240000}}  # $0.12 = hd 1792x1024, OpenAI's price
    assert list(post(api, {"model": "dall-e-2", "prompt": "a fox"})["data"][0]) == ["url"]


@pytest.mark.parametrize(("quality", "size", "tokens"), [
    ("low", "1024x1024", 272), ("medium", "1024x1024", 1056), ("high", "1024x1024", 4160),
    ("low", "1024x1536", 408), ("medium", "1536x1024", 1584), ("high", "1536x1024", 6240),
])
def test_gpt_image_answers_openai_usage_tokens(api: TestClient, quality: str, size: str, tokens: int) -> None:
    """gpt-image-1.md: OpenAI's body with `background`, `output_format`, `quality`, `size` and `usage` tokens."""
    answer = post(api, {"model": "openai/gpt-image-1", "prompt": "a fox on a hill", "quality": quality, "size": size})
    assert list(answer) == ["created", "background", "data", "output_format", "quality", "size", "usage", "meta"]
    assert (answer["quality"], answer["size"], answer["background"], answer["output_format"]) == (
        quality, size, "opaque", "png")
    usage = answer["usage"]
    assert usage["output_tokens"] == tokens
    assert usage["total_tokens"] == usage["input_tokens"] + tokens
    assert set(usage["input_tokens_details"]) == {"image_tokens", "text_tokens"}
    assert set(answer["meta"]["usage"]) == {"credits_used", "usd_spent"}


def test_data_and_meta_models_answer_credits_and_dollars(api: TestClient) -> None:
    """qwen-image-2.0.md: `{created (ms), data: [{url}], meta: {usage: {credits_used, usd_spent}}}`."""
    answer = post(api, {"model": "alibaba/qwen-image-2-0", "prompt": "a fox"})
    assert list(answer) == ["created", "data", "meta"]
    assert answer["created"] > 10**12  # milliseconds, as the example's 1777511878231
    assert answer["meta"] == {"usage": {"credits_used": 91000, "usd_spent": 0.0455}}  # the example's figures


def test_fal_style_models_answer_images_with_the_served_size(api: TestClient) -> None:
    """flux-pro.md: `{images: [{url, width, height, content_type}], timings, seed, has_nsfw_concepts, prompt}`."""
    answer = post(api, {"model": "flux-pro", "prompt": "a fox", "image_size": "landscape_16_9"})
    assert list(answer) == ["images", "timings", "seed", "has_nsfw_concepts", "prompt", "data", "meta"]
    [image] = answer["images"]
    assert list(image) == ["url", "width", "height", "content_type"]
    served = Image.open(io.BytesIO(api.get(image["url"]).content))
    assert (image["width"], image["height"]) == served.size == (1024, 576)
    assert image["content_type"] == "image/png"
    assert (answer["prompt"], answer["has_nsfw_concepts"], answer["timings"]) == ("a fox", [False], {})
    assert answer["data"] == [{"url": image["url"]}]


def test_fal_style_seed_is_the_requests_else_deterministic(api: TestClient) -> None:
    first, second = (post(api, {"model": "flux/schnell", "prompt": "a fox"}) for _ in range(2))
    other = post(api, {"model": "flux/schnell", "prompt": "a hare"})
    assert first["seed"] == second["seed"] != other["seed"]
    assert post(api, {"model": "flux/srpo", "prompt": "a fox", "seed": 42})["seed"] == 42  # it takes a seed
    assert post(api, {"model": "flux/schnell", "prompt": "a fox", "seed": 42})["seed"] == first["seed"]  # no seed


def test_models_with_both_answer_images_and_data(api: TestClient) -> None:
    """uso.md: fal-style `images` and `seed` beside `data` (the same files) and `meta` (`tokens_used`)."""
    body = example_request(CONTRACT.models["bytedance/uso"])
    answer = post(api, body)
    assert list(answer) == ["images", "seed", "has_nsfw_concepts", "prompt", "timings", "data", "meta"]
    fields = ["url", "content_type", "file_name", "file_size", "width", "height"]
    assert list(answer["images"][0]) == list(answer["data"][0]) == fields
    assert answer["images"][0]["url"] == answer["data"][0]["url"]
    assert set(answer["meta"]["usage"]) == {"credits_used", "tokens_used"}
    assert answer["meta"]["usage"]["credits_used"] == answer["meta"]["usage"]["tokens_used"] == 420000


def test_the_contract_notes_where_a_page_and_its_spec_disagree() -> None:
    notes = CONTRACT.response_schema("flux-pro")["x-docs-conflict"]
    assert any("images" in note and "does not list" in note for note in notes)
    assert CONTRACT.response_schema("flux-pro")["x-source-example"].endswith("flux/flux-pro.md @ 0264da91")


def test_the_newest_docs_models_are_served() -> None:
    assert {"openai/gpt-image-1-5", "blackforestlabs/flux-2-max"} <= set(CONTRACT.models)
    assert CONTRACT.models["openai/gpt-image-1-5"].enum("size") == ("1024x1024", "1024x1536", "1536x1024")


def test_flux_v1_answers_200_as_its_linked_spec_says() -> None:
    flux_v1 = ["flux-pro", "flux-pro/v1.1", "flux-pro/v1.1-ultra", "flux-realism", "flux/dev",
               "flux/dev/image-to-image", "flux/schnell"]
    assert {CONTRACT.success_status(model_id) for model_id in flux_v1} == {200}
    assert CONTRACT.success_status("dall-e-3") == CONTRACT.success_status("dall-e-2") == 201


def test_the_openai_profile_answers_openai_s_shape_without_meta() -> None:
    with TestClient(create_app(Settings(profile="openai"))) as client:
        answer = client.post(GENERATE, json={"prompt": "a fox"}, headers=AUTH).json()
    assert list(answer) == ["created", "data"] and list(answer["data"][0]) == ["url"]
