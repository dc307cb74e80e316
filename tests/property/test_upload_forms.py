"""Edit and variation forms with real image bytes, over HTTP against a real `aiml-mock serve` in each profile: a valid
form gets the documented success with images of the requested size (as JSON or as an event stream), each refusal
its documented 400 in the profile's dialect, and never a 5xx. Bounded by the Hypothesis profile (`ci`; `deep` for
a long search)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from aiml_mock.core.contract import load_contract
from aiml_mock.core.dimensions import parse_size
from aiml_mock.core.edits import form_rules
from aiml_mock.tools.strategies import (
    EDIT_OPERATION,
    VARIATION_OPERATION,
    InvalidForm,
    MultipartForm,
    edit_forms,
    invalid_edit_forms,
    invalid_variation_forms,
    variation_forms,
)
from tests.test_cli import serve

PATHS = {EDIT_OPERATION: "/v1/images/edits", VARIATION_OPERATION: "/v1/images/variations"}
FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
STANDARD = {(1024, 1024), (1536, 1024), (1024, 1536)}
FEW = st.sampled_from(["1", "2"])  # n: a valid form renders n images at full size; two show the count is right


class Served:
    """A real `aiml-mock serve` in one profile, and an HTTP client on it."""

    def __init__(self, profile: str, url: str) -> None:
        self.profile, self.url = profile, url
        self.contract = load_contract(profile)  # type: ignore[arg-type]
        self.client = httpx.Client(base_url=url, headers={"Authorization": "Bearer sk-test"}, timeout=60)

    def send(self, form: MultipartForm) -> httpx.Response:
        if form.files:
            response = self.client.post(PATHS[form.operation], data=form.fields, files=form.files)
        else:  # httpx sends a form without files urlencoded
            content_type, body = form.encoded()
            response = self.client.post(PATHS[form.operation], content=body, headers={"Content-Type": content_type})
        assert response.status_code < 500, response.text[:500]
        return response


@pytest.fixture(scope="module", params=["openai", "aimlapi"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with serve("--profile", request.param, "--content-policy-terms", "") as (_, url):
        mock = Served(request.param, url)
        with mock.client:
            yield mock


def operations(served: Served) -> list[str]:
    return [name for name in (EDIT_OPERATION, VARIATION_OPERATION) if name in served.contract.document[
        "components"]["schemas"]]


def expected_size(served: Served, form: MultipartForm) -> tuple[int, int] | None:
    """The size asked for (the form's, or the model's default); None for `auto`."""
    rules = form_rules(served.contract, form.operation, form.model)
    assert rules is not None
    return parse_size(form.fields.get("size") or str(rules.defaults.get("size", "auto")))


def first_image_shape(form: MultipartForm) -> float:
    with Image.open(io.BytesIO(form.files[0][1][1])) as first:
        return first.width / first.height


def images_of(served: Served, form: MultipartForm, response: httpx.Response
              ) -> tuple[list[Image.Image], dict[str, Any]]:
    """The images an answer carries (inline, streamed or by URL), and the body (a stream's completed event)."""
    if response.headers["content-type"].startswith("text/event-stream"):
        events = [json.loads(line.removeprefix("data: ")) for line in response.text.split("\n")
                  if line.startswith("data: ")]
        completed = [event for event in events if event["type"].endswith(".completed")]
        assert completed and events[-1] is completed[-1] and all("usage" in event for event in completed)
        assert len(completed) == int(form.fields.get("n", "1"))
        group: list[int] = []  # per image: its partials, 0-based in order, then its completed event
        for event in events:
            if event["type"].endswith(".partial_image"):
                group.append(event["partial_image_index"])
                continue
            assert group == list(range(int(form.fields.get("partial_images", "0")))), group
            group = []
        return [decoded(event["b64_json"]) for event in events], completed[-1]
    body = response.json()
    pictures = []
    for item in body["data"]:
        if item.get("b64_json"):
            pictures.append(decoded(item["b64_json"]))
        else:
            fetched = served.client.get(item["url"])
            assert fetched.status_code == 200, item["url"]
            pictures.append(Image.open(io.BytesIO(fetched.content)))
    return pictures, body


def decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def valid_forms(served: Served) -> st.SearchStrategy[MultipartForm]:
    profile: Any = served.profile
    drawn = [edit_forms(profile=profile, n=FEW)]
    if VARIATION_OPERATION in operations(served):
        drawn.append(variation_forms(profile=profile, n=FEW))
    return st.one_of(drawn)


def invalid_forms(served: Served) -> st.SearchStrategy[InvalidForm]:
    profile: Any = served.profile
    drawn = [invalid_edit_forms(profile=profile, n=FEW)]
    if VARIATION_OPERATION in operations(served):
        drawn.append(invalid_variation_forms(profile=profile, n=FEW))
    return st.one_of(drawn)


@given(data=st.data())
def test_a_valid_form_gets_the_success_with_images_of_the_requested_size(served: Served, data: st.DataObject) -> None:
    form = data.draw(valid_forms(served), label="form")
    response = served.send(form)
    assert response.status_code == 200, response.text[:500]
    pictures, body = images_of(served, form, response)
    requested = expected_size(served, form)
    sizes = {picture.size for picture in pictures}
    assert len(sizes) == 1, sizes  # every image (partials too) at the answer's size
    [size] = sizes
    if requested is not None:
        assert size == requested
    else:  # `auto`: the standard size nearest the first input's shape
        ratio = first_image_shape(form)
        assert size in STANDARD
        assert size == (1536, 1024) if ratio > 1.3 else size == (1024, 1536) if ratio < 1 / 1.3 else True
        assert size == (1024, 1024) if 1 / 1.15 < ratio < 1.15 else True
    if "size" in body:
        assert body["size"] == f"{size[0]}x{size[1]}"
    fmt = form.fields.get("output_format")
    if fmt is not None:
        assert {FORMATS.get(picture.format or "") for picture in pictures} == {fmt}
    if not response.headers["content-type"].startswith("text/event-stream"):
        assert len(pictures) == int(form.fields.get("n", "1"))


@given(data=st.data())
def test_each_refusal_gets_its_documented_400_in_the_profiles_dialect(served: Served, data: st.DataObject) -> None:
    invalid = data.draw(invalid_forms(served), label="invalid")
    response = served.send(invalid.form)
    assert response.status_code == 400, (invalid.kind, invalid.field, response.text[:500])
    payload = response.json()
    path = PATHS[invalid.form.operation]
    assert served.contract.validate_response("POST", path, 400, response.headers, payload) == []
    if served.contract.error_style == "openai":
        assert payload["error"]["param"] == invalid.field, (invalid.kind, payload)
        assert payload["error"]["type"] == "invalid_request_error" and payload["error"]["code"]
        if invalid.code is not None:
            assert payload["error"]["code"] == invalid.code, (invalid.kind, payload)
    else:
        assert payload["statusCode"] == 400 and payload["path"] == path
        assert payload["message"].startswith("Body validation error!"), payload["message"]
        assert payload["message"].endswith(f'at "{invalid.field}"'), (invalid.kind, payload["message"])
