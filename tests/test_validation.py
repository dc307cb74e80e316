"""Pure request validation: bytes in, an ImageRequest with defaults out, or an ApiError naming the field."""

from __future__ import annotations

import orjson
import pytest

from aiml_mock.core.contract import Contract, load_contract
from aiml_mock.core.errors import ApiError
from aiml_mock.core.validation import check_content_type, parse_json, validate_request


def test_defaults_fill_absent_and_null_fields() -> None:
    request = validate_request({"model": "dall-e-3", "prompt": "x", "style": None}, load_contract())
    assert request.params["style"] == "vivid" and request.params["quality"] == "standard"
    assert (request.width, request.height, request.count, request.fmt) == (1024, 1024, 1, "png")
    assert request.response_format == "url"


def test_catalogue_models_get_their_dimensions_count_and_format() -> None:
    contract = load_contract()
    flux = validate_request({"model": "flux/schnell", "prompt": "x", "image_size": "portrait_16_9",
                             "num_images": 2}, contract)
    assert (flux.width, flux.height, flux.count) == (576, 1024, 2)
    kontext = validate_request({"model": "flux/kontext-pro/text-to-image", "prompt": "x"}, contract)
    assert kontext.fmt == "jpeg" and kontext.width > kontext.height  # default 16:9, jpeg


def test_unknown_fields_are_answered_but_recorded() -> None:
    request = validate_request({"model": "dall-e-3", "prompt": "x", "qualty": "hd"}, load_contract())
    assert [violation.field for violation in request.violations] == ["qualty"]


def test_strict_refuses_unknown_fields() -> None:
    with pytest.raises(ApiError) as caught:
        validate_request({"model": "dall-e-3", "prompt": "x", "qualty": "hd"}, load_contract(), strict=True)
    assert caught.value.param == "qualty"


def test_unknown_model_is_400_on_model() -> None:
    with pytest.raises(ApiError) as caught:
        validate_request({"model": "dall-e-9", "prompt": "x"}, load_contract())
    assert caught.value.param == "model" and caught.value.code == "model_not_found"


@pytest.mark.parametrize("raw", [b"", b"{", b"NaN", b'{"a": Infinity}', b"[" * 5000])
def test_unparsable_bodies_are_400(raw: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=1"])
def test_non_json_content_types_are_415(ctype: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_content_type(ctype)
    assert caught.value.status == 415


@pytest.mark.parametrize("ctype", [None, "application/json", "application/json; charset=utf-8", "application/x+json"])
def test_json_content_types_pass(ctype: str | None) -> None:
    check_content_type(ctype)


# -- bodies that differ only by their prompt (the shape cache) ----------------------------------------


def fresh_contract() -> Contract:
    contract = load_contract()
    contract.request_shapes.clear()
    return contract


def test_a_body_like_a_valid_one_but_for_its_prompt_gets_its_own_prompt_and_the_same_facts() -> None:
    contract = fresh_contract()
    first = validate_request({"model": "dall-e-3", "prompt": "a fox", "size": "1792x1024", "quality": "hd"}, contract)
    second = validate_request({"model": "dall-e-3", "prompt": "a cat", "size": "1792x1024", "quality": "hd"},
                              contract)
    assert contract.request_shapes, "the first body's shape was not kept"
    assert second.prompt == second.params["prompt"] == "a cat" and first.prompt == "a fox"
    assert second._replace(prompt="a fox", params={**second.params, "prompt": "a fox"}) == first


@pytest.mark.parametrize(("body", "field"), [
    ({"model": "dall-e-3", "prompt": "x" * 4001}, "prompt"),  # the prompt's own bound still holds
    ({"model": "dall-e-2", "prompt": "x", "n": True}, "n"),  # true == 1 in Python, not in JSON Schema
    ({"model": "dall-e-2", "prompt": "x", "n": 1.5}, "n"),
    ({"model": "dall-e-2", "prompt": 7}, "prompt"),
])
def test_bodies_like_a_known_valid_one_are_still_refused_for_what_differs(body: dict[str, object], field: str
                                                                           ) -> None:
    contract = fresh_contract()
    validate_request({**body, "prompt": "a valid prompt", **({"n": 1} if "n" in body else {})}, contract)
    validate_request({"model": body["model"], "prompt": "a valid prompt"}, contract)
    with pytest.raises(ApiError) as caught:
        validate_request(body, contract)
    assert caught.value.status == 400 and caught.value.param == field


def test_a_body_with_unknown_fields_is_journaled_as_such_every_time() -> None:
    contract = fresh_contract()
    for prompt in ("one", "two"):
        request = validate_request({"model": "dall-e-3", "prompt": prompt, "qualty": "hd"}, contract)
        assert [violation.field for violation in request.violations] == ["qualty"]
    with pytest.raises(ApiError):
        validate_request({"model": "dall-e-3", "prompt": "three", "qualty": "hd"}, contract, strict=True)


def test_non_ascii_prompts_are_measured_in_characters_like_the_schema_does() -> None:
    contract = fresh_contract()
    validate_request({"model": "dall-e-3", "prompt": "ascii"}, contract)
    assert validate_request({"model": "dall-e-3", "prompt": "🦊" * 4000}, contract).prompt == "🦊" * 4000
    with pytest.raises(ApiError):
        validate_request({"model": "dall-e-3", "prompt": "🦊" * 4001}, contract)


def test_the_shape_cache_stays_bounded_under_many_distinct_bodies() -> None:
    contract = fresh_contract()
    for index in range(5000):
        validate_request({"model": "alibaba/qwen-image", "prompt": "x", "seed": index + 1}, contract)
    assert 0 < len(contract.request_shapes) <= 4096


# -- every field read through the model's own schema ---------------------------------------------------


UNDEFINED = [  # (model, a field it does not define that another model does, a value valid there)
    ("dall-e-2", "output_format", "b64_json"),  # what LiteLLM's aiml/ provider sends
    ("dall-e-2", "output_format", "jpeg"),
    ("flux-pro", "response_format", "b64_json"),
    ("flux-pro", "output_format", "tiff"),
    ("flux-pro", "n", 5),
    ("dall-e-3", "num_images", 3),
    ("dall-e-2", "image_size", "portrait_16_9"),
    ("dall-e-2", "aspect_ratio", "21:9"),
    ("flux-pro", "quality", "hd"),  # drawn on the image's caption where a model defines it
    ("flux-pro", "convert_base64_to_url", False),
    ("topaz-labs/sharpen", "prompt", "a fox"),  # an upscaler that takes no prompt
]


@pytest.mark.parametrize(("model", "name", "value"), UNDEFINED, ids=[f"{m}-{n}-{v}" for m, n, v in UNDEFINED])
def test_a_field_the_model_does_not_define_is_recorded_and_changes_nothing(model: str, name: str, value: object
                                                                           ) -> None:
    contract = fresh_contract()
    spec = contract.models[model]
    assert name not in spec.properties
    base: dict[str, object] = {"model": model, **({"prompt": "a red fox"} if "prompt" in spec.properties else {}),
                               **({"image_url": "https://example.com/a.png"} if "image_url" in spec.required else {}),
                               **({"mode": spec.enum("mode")[0]} if "mode" in spec.required else {})}
    without = validate_request(base, contract)
    assert spec.prompt_lengths is None or contract.request_shapes  # the fast path knows the body without the field
    for _ in range(2):  # the second time, the shape cache knows the body without the field
        request = validate_request({**base, name: value}, contract)
        assert [violation.field for violation in request.violations] == [name]
        assert name not in request.params
        assert request._replace(violations=()) == without


@pytest.mark.parametrize(("body", "field"), [
    ({"model": "openai/gpt-image-1", "output_format": "b64_json"}, "output_format"),
    ({"model": "alibaba/qwen-image-3", "output_format": "tiff"}, "output_format"),
    ({"model": "dall-e-2", "response_format": "png"}, "response_format"),
    ({"model": "x-ai/grok-2-image", "response_format": "base64"}, "response_format"),
    ({"model": "google/imagen4/preview", "convert_base64_to_url": "no"}, "convert_base64_to_url"),
])
def test_a_field_the_model_defines_with_a_value_outside_its_schema_is_400_naming_it(body: dict[str, object],
                                                                                    field: str) -> None:
    with pytest.raises(ApiError) as caught:
        validate_request({**body, "prompt": "x"}, fresh_contract())
    assert caught.value.status == 400 and caught.value.param == field


def test_litellm_style_dalle2_base64_body_is_base64_png() -> None:
    request = validate_request({"prompt": "x", "model": "dall-e-2", "output_format": "b64_json",
                                "response_format": "b64_json"}, fresh_contract())
    assert (request.response_format, request.fmt) == ("b64_json", "png")
    assert [violation.field for violation in request.violations] == ["output_format"]


# -- lone surrogates: valid JSON escapes, not UTF-8 ---------------------------------------------------------


@pytest.mark.parametrize(("extra", "field"), [({"size": "\ud800"}, "size"), ({"style": {"\udfff": 1}}, "style"),
                                              ({"size": ["x\ud800"]}, "size")])
def test_a_lone_surrogate_in_a_field_the_model_defines_is_a_400_naming_it(extra: dict[str, object], field: str
                                                                         ) -> None:
    with pytest.raises(ApiError) as caught:
        validate_request({"model": "dall-e-3", "prompt": "x", **extra}, fresh_contract())
    assert caught.value.status == 400 and caught.value.param == field
    orjson.dumps(caught.value.message)  # the error body can be written


@pytest.mark.parametrize("extra", [{"foo": "\ud800"}, {"\ud800": 1}, {"foo": {"\udfff": ["\ud800"]}}])
def test_a_lone_surrogate_in_a_field_the_model_does_not_define_is_recorded_and_ignored(extra: dict[str, object]
                                                                                      ) -> None:
    request = validate_request({"model": "dall-e-3", "prompt": "x", **extra}, fresh_contract())
    assert len(request.violations) == 1 and request.width == 1024
    orjson.dumps([violation.to_dict() for violation in request.violations])  # the journal can write them


def test_an_unknown_model_with_a_lone_surrogate_is_a_400_in_both_dialects() -> None:
    with pytest.raises(ApiError) as caught:
        validate_request({"model": "dall-\ud800", "prompt": "x"}, fresh_contract())
    assert caught.value.param == "model"
    orjson.dumps([caught.value.message, caught.value.openai_fields()[0]])
