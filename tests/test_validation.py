"""Pure request validation: bytes in, an ImageRequest with defaults out, or an ApiError naming the field."""

from __future__ import annotations

import pytest

from aiml_mock.contract import load_contract
from aiml_mock.errors import ApiError
from aiml_mock.validation import check_content_type, parse_json, validate_request


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
