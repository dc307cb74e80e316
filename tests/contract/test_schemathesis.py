"""Schemathesis runs the contract against the in-process mock with every response check, in each configuration.

Each suite loads the contract the app itself serves at `/openapi.json` (its error dialect and success statuses
applied), so the checks hold the mock to exactly what it advertises. Keys are configured, so `ignored_auth`
proves a missing or wrong key is refused. The content policy is off: it refuses schema-valid prompts on
purpose, which `positive_data_acceptance` cannot tell from a bug.

Bounded by the Hypothesis profile (`ci`: 40 examples per operation and phase) and `schemathesis.toml`. The
coverage phase (boundary values, built when the tests are collected) runs for every operation, except the
image endpoint of the AI/ML profile: its 81-model `oneOf` yields ~7,700 boundary cases (~80 s), so the
image endpoint's boundaries are covered for DALL·E 2/3 (the `openai` profile, ~150 cases) and by the
property tests (`tests/property/`) for every model.

Edits and variations get real PNGs for their `image/png` parts, and every streamed answer is held to the event
stream's documented shape by `streams_as_documented`, a check of our own (Schemathesis's schema checks pass over
`text/event-stream`).
"""

from __future__ import annotations

import base64
import io
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import schemathesis
from PIL import Image
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aiml_mock import Settings, create_app
from aiml_mock.core.contract import Contract
from aiml_mock.core.dimensions import parse_size, size_rule_problem
from aiml_mock.tools.strategies import pictures
from tests.contract.sent_forms import rejects_negative_forms

# The multipart parts the contract encodes as `image/png` (edits' `image` and `mask`, variations' `image`) are drawn
# as real PNGs rather than random bytes: square RGBA pictures of one size, so any image is a valid dall-e-2 input
# and any mask has alpha and the image's dimensions. Registered for image/png only: dall-e-2 takes no other format.
schemathesis.openapi.media_type("image/png", pictures("png", (16, 16), mode="RGBA"))

ROOT = Path(__file__).resolve().parents[2]
IMAGE_PATH = "/v1/images/generations"
KEY = "sk-contract-suite"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection,
    ignored_auth,
]


def suite_config(*, cover_images: bool) -> schemathesis.Config:
    """The checked-in `schemathesis.toml`; with `cover_images`, the image endpoint's coverage phase back on."""
    data = tomllib.loads((ROOT / "schemathesis.toml").read_text(encoding="utf-8"))
    if cover_images:
        data["operations"] = [item for item in data.get("operations", []) if item.get("include-path") != IMAGE_PATH]
    return schemathesis.Config.from_dict(data, base_dir=str(ROOT))


def served_contract(settings: Settings, *, cover_images: bool = False) -> schemathesis.BaseSchema:
    """The contract as the app serves it, bound to that app (every request stays in-process)."""
    app = create_app(settings.replace(api_keys=(KEY,), content_policy_terms=()))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=suite_config(cover_images=cover_images))
    CONTRACTS[id(schema)] = app.state.mock.contract
    return schema


CONTRACTS: dict[int, Contract] = {}


def answers_in_its_models_shape(contract: Contract) -> Callable[..., None]:
    """A check the operation's `anyOf` of every model's body cannot make: the answer is in the shape of the
    model the request named (a mock answering flux-pro in DALL·E's shape passes the `anyOf`, not this)."""

    def check(ctx: Any, response: Any, case: Case[Any]) -> None:
        if case.path != IMAGE_PATH or response.status_code // 100 != 2 or not isinstance(case.body, dict):
            return
        model = case.body.get("model", contract.default_model)
        headers = {name: values[0] for name, values in response.headers.items()}
        found = contract.validate_response("POST", IMAGE_PATH, response.status_code, headers, response.json(), model)
        assert not found, f"{model} answered outside its response schema: {[str(v) for v in found]}"

    check.__name__ = "answers_in_its_models_shape"
    return check


def streams_as_documented(contract: Contract) -> Callable[..., None]:
    """A check for `text/event-stream` answers, which the schema checks pass over: every frame is `event:` and one
    `data:` line of JSON in its event schema (`ImageStreamEvent`); per image its partials (`partial_image_index`
    0-based, increasing) then its completed event with `usage`, the completed event last; every `b64_json` decodes
    to an image of the event's `size`, in its `output_format`."""
    documented = "ImageStreamEvent" in contract.document["components"]["schemas"]
    validator = jsonschema_rs.validator_for({"$ref": "#/components/schemas/ImageStreamEvent",
                                             "components": contract.document["components"]}) if documented else None

    def check(ctx: Any, response: Any, case: Case[Any]) -> None:
        if not response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
            return
        assert validator is not None, f"a stream from a profile that documents none ({contract.profile})"
        frames = [chunk for chunk in response.content.decode().split("\n\n") if chunk]
        assert frames, "an empty event stream"
        expected_index = 0
        for chunk in frames:
            event_line, data_line = chunk.split("\n")
            event = json.loads(data_line.removeprefix("data: "))
            assert event_line == f"event: {event['type']}", chunk[:200]
            assert validator.is_valid(event), f"{event['type']} outside ImageStreamEvent"
            if event["type"].endswith(".partial_image"):
                assert event["partial_image_index"] == expected_index, (event["partial_image_index"], expected_index)
                expected_index += 1
            else:
                assert event["type"].endswith(".completed") and "usage" in event, event["type"]
                expected_index = 0
            with Image.open(io.BytesIO(base64.b64decode(event["b64_json"]))) as image:
                assert image.size == parse_size(event["size"]), (image.size, event["size"])
                assert (image.format or "").lower() == event["output_format"]
        assert json.loads(frames[-1].split("\n")[1].removeprefix("data: "))["type"].endswith(".completed")

    check.__name__ = "streams_as_documented"
    return check


def checks_for(schema: schemathesis.BaseSchema, case: Case[Any]) -> list[Any]:
    contract = CONTRACTS[id(schema)]
    checks = [*CHECKS, answers_in_its_models_shape(contract), streams_as_documented(contract)]
    if case.path in UPLOAD_PATHS:  # as schemathesis.toml says: the shared form cannot say each model's limits, and
        # a form carries a "wrong type" as a string (null as "null"): negative forms are judged as they were sent
        checks = [rejects_negative_forms(schema, AUTH) if check is negative_data_rejection else check
                  for check in checks if check is not positive_data_acceptance]
    return checks


aimlapi = served_contract(Settings())
aimlapi_openai_errors_200 = served_contract(Settings(error_style="openai", success_status=200))
aimlapi_201 = served_contract(Settings(success_status=201))
openai = served_contract(Settings(profile="openai"), cover_images=True)


@aimlapi.parametrize()
def test_aimlapi_profile_keeps_its_contract(case: Case[Any]) -> None:
    case.call_and_validate(headers=AUTH, checks=checks_for(aimlapi, case))


@aimlapi_openai_errors_200.parametrize()
def test_aimlapi_profile_with_openai_errors_and_200_keeps_its_contract(case: Case[Any]) -> None:
    case.call_and_validate(headers=AUTH, checks=checks_for(aimlapi_openai_errors_200, case))


@aimlapi_201.parametrize()
def test_aimlapi_profile_with_201_everywhere_keeps_its_contract(case: Case[Any]) -> None:
    case.call_and_validate(headers=AUTH, checks=checks_for(aimlapi_201, case))


@openai.parametrize()
def test_openai_profile_keeps_its_contract(case: Case[Any]) -> None:
    if breaks_free_size_rule(case):  # a rule JSON Schema cannot say (gpt-image-2's WxH): refused as invalid_size
        case.headers = {**(case.headers or {}), **AUTH}  # a drawn Authorization header would win over call()'s
        response = case.call()
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_size"
        return
    case.call_and_validate(headers=AUTH, checks=checks_for(openai, case))


UPLOAD_PATHS = ("/v1/images/edits", "/v1/images/variations")


def breaks_free_size_rule(case: Case[Any]) -> bool:
    """Whether a schema-valid body's `size` breaks its model's `x-mock-size-rule` (multiples of 16, ratio, pixels)."""
    body = case.body
    if case.path != IMAGE_PATH or not isinstance(body, dict) or not isinstance(body.get("size"), str):
        return False
    contract = CONTRACTS[id(openai)]
    spec = contract.models.get(str(body.get("model")))
    rule = spec.properties.get("size", {}).get("x-mock-size-rule") if spec else None
    if rule is None or contract.validate_request(body):
        return False
    return size_rule_problem(body["size"], rule) is not None
