"""Every request the contract accepts gets the model's documented success, with the images it asked for."""

from __future__ import annotations

import base64
import io
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image

from aiml_mock.core.contract import ModelSpec
from aiml_mock.core.dimensions import IMAGE_SIZE_PRESETS, object_defaults
from aiml_mock.core.validation import validate_request
from aiml_mock.tools.strategies import image_requests
from tests.property.conftest import Mock

PIXEL_BUDGET = 6_000_000  # decoded pixels per example in the image tests (decoding is the slow part)
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP", "tiff": "TIFF", "tif": "TIFF"}


def expected_count(body: dict[str, Any], spec: ModelSpec) -> int:
    """`n` or `num_images` as sent, else the schema's default, else one image."""
    for name in ("n", "num_images"):
        if name in spec.properties:
            value = body.get(name)
            return int(value if value is not None else spec.defaults.get(name, 1))
    return 1


def _wxh(size: Any) -> tuple[int, int] | None:
    """`"1024x1792"` -> (1024, 1792); anything else (`"adaptive"`, None) -> None."""
    width, sep, height = size.partition("x") if isinstance(size, str) else ("", "", "")
    return (int(width), int(height)) if sep and width.isdigit() and height.isdigit() else None


def requested_size(body: dict[str, Any], spec: ModelSpec) -> tuple[int, int] | None:
    """The exact size a request spells out (`size: "WxH"`, `image_size` object or preset), or None."""
    size = body.get("size") if body.get("size") is not None else spec.defaults.get("size")
    if "size" in spec.properties:
        return _wxh(size)
    image_size = body.get("image_size", spec.defaults.get("image_size"))
    if isinstance(image_size, dict):
        defaults = object_defaults(spec.properties.get("image_size", {}))
        width, height = image_size.get("width", defaults.get("width")), image_size.get("height", defaults.get("height"))
        if isinstance(width, int) and isinstance(height, int):
            return width, height
    if isinstance(image_size, str) and image_size in IMAGE_SIZE_PRESETS:
        return IMAGE_SIZE_PRESETS[image_size]
    return None


def requested_ratio(body: dict[str, Any], spec: ModelSpec) -> float | None:
    ratio = body.get("aspect_ratio", spec.defaults.get("aspect_ratio"))
    if not isinstance(ratio, str) or ":" not in ratio:
        return None
    left, _, right = ratio.partition(":")
    return float(left) / float(right)


def images_of(mock: Mock, payload: dict[str, Any]) -> list[bytes]:
    """The image files of a success body: decoded `b64_json`, or each `url` fetched in-process."""
    found = []
    for item in payload["data"]:
        if item.get("b64_json") is not None:  # some models send `"b64_json": null` beside a url, as documented
            found.append(base64.b64decode(item["b64_json"], validate=True))
        else:
            response = mock.client.get(item["url"])
            assert response.status_code == 200, response.text
            found.append(response.content)
    return found


def within_budget(mock: Mock, body: dict[str, Any]) -> None:
    """Skip examples whose images would take long to decode (the size rules are tested on the rest)."""
    planned = validate_request(body, mock.contract)
    assume(planned.width * planned.height * planned.count <= PIXEL_BUDGET)


@given(data=st.data())
def test_valid_request_gets_the_documented_success_and_a_valid_body(mock: Mock, data: st.DataObject) -> None:
    body = data.draw(image_requests(profile=mock.contract.profile), label="body")
    response = mock.post(body)
    spec = mock.contract.models[mock.model_of(body)]
    assert response.status_code == spec.success_status, response.text
    payload = response.json()
    assert mock.contract.validate_response("POST", "/v1/images/generations", response.status_code,
                                           response.headers, payload, spec.id) == []
    assert len(payload["data"]) == expected_count(body, spec)


@given(data=st.data())
def test_images_are_real_files_of_exactly_the_requested_size(mock: Mock, data: st.DataObject) -> None:
    body = data.draw(image_requests(profile=mock.contract.profile), label="body")
    within_budget(mock, body)
    response = mock.post(body)
    spec = mock.contract.models[mock.model_of(body)]
    files = images_of(mock, response.json())
    assert len(files) == expected_count(body, spec)
    decoded = [Image.open(io.BytesIO(file)) for file in files]
    fmt = body.get("output_format") or spec.defaults.get("output_format") or "png"
    assert {image.format for image in decoded} == {PIL_FORMATS[str(fmt).lower()]}
    for image in decoded:
        image.load()  # the whole file decodes, not just its header
    sizes = {image.size for image in decoded}
    assert len(sizes) == 1, sizes
    [(width, height)] = sizes
    exact, ratio = requested_size(body, spec), requested_ratio(body, spec)
    if exact is not None:
        assert (width, height) == exact
    elif ratio is not None:
        assert abs(width / height - ratio) <= 0.05 * ratio, (width, height, ratio)


@given(data=st.data())
def test_the_same_request_gives_the_same_image_bytes(mock: Mock, data: st.DataObject) -> None:
    body = data.draw(image_requests(profile=mock.contract.profile), label="body")
    within_budget(mock, body)
    first, second = mock.post(body), mock.post(body)
    assert first.status_code == second.status_code
    assert images_of(mock, first.json()) == images_of(mock, second.json())
