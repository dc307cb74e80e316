"""Edits and variations in-process: form fields read as their schema types them, the upload limits, the answer's
shape (the contract's response schema), the AI/ML profile's edits (the generation's body) and its 404 for variations."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from starlette.testclient import TestClient

from aiml_mock.core.contract import _validator, load_contract
from aiml_mock.core.edits import EDIT, form_rules, output_size, typed_fields
from aiml_mock.core.settings import Settings
from aiml_mock.web.app import create_app

AUTH = {"Authorization": "Bearer k"}


def png(width: int, height: int, colour: tuple[int, int, int] = (0, 200, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(profile="openai")))


def test_form_strings_are_read_as_the_schema_types_them() -> None:
    rules = form_rules(load_contract("openai"), EDIT, "gpt-image-1")
    assert rules is not None
    typed = typed_fields({"n": "2", "stream": "true", "prompt": "3", "partial_images": "x"}, rules.properties)
    assert typed == {"n": 2, "stream": True, "prompt": "3", "partial_images": "x"}


def test_auto_size_follows_the_input_shape() -> None:
    assert output_size({"size": "auto"}, Image.new("RGB", (300, 100))) == (1536, 1024)
    assert output_size({"size": "auto"}, Image.new("RGB", (100, 300))) == (1024, 1536)
    assert output_size({"size": "1024x1024"}, Image.new("RGB", (100, 300))) == (1024, 1024)


def test_a_gpt_edit_answers_in_the_contracts_gpt_image_shape(client: TestClient) -> None:
    answer = client.post("/v1/images/edits", headers=AUTH, data={"model": "gpt-image-1.5", "prompt": "x", "n": "2",
                                                                  "output_format": "webp", "size": "1024x1536"},
                         files=[("image[]", ("a.png", png(64, 64), "image/png"))])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    contract = load_contract("openai")
    assert not contract._model_response_violations("gpt-image-1.5", body)
    assert len(body["data"]) == 2 and body["output_format"] == "webp"
    image = Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"])))
    assert image.format == "WEBP" and image.size == (1024, 1536)


@pytest.mark.parametrize(("fields", "param"), [
    ({"model": "gpt-image-1", "prompt": "x", "n": "two"}, "n"),
    ({"model": "gpt-image-1-mini", "prompt": "x", "input_fidelity": "high"}, "input_fidelity"),
    ({"model": "gpt-image-1", "prompt": "x", "background": "transparent", "output_format": "jpeg"}, "output_format"),
    ({"model": "gpt-image-2", "prompt": "x", "size": "1000x1000"}, "size"),
    ({"model": "dall-e-3", "prompt": "x"}, "model"),
])
def test_bad_form_fields_are_refused_naming_the_field(client: TestClient, fields: dict[str, str], param: str) -> None:
    answer = client.post("/v1/images/edits", headers=AUTH, data=fields,
                         files=[("image", ("a.png", png(64, 64), "image/png"))])
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param


def test_a_json_edit_is_refused_with_415_naming_multipart(client: TestClient) -> None:
    answer = client.post("/v1/images/edits", headers=AUTH, json={"prompt": "x"})
    assert answer.status_code == 415 and "multipart/form-data" in answer.json()["error"]["message"]


def test_a_variation_is_dall_e_2_only(client: TestClient) -> None:
    answer = client.post("/v1/images/variations", headers=AUTH, data={"model": "gpt-image-1"},
                         files=[("image", ("a.png", png(64, 64), "image/png"))])
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "model"
    answer = client.post("/v1/images/variations", headers=AUTH, data={"response_format": "b64_json", "n": "3"},
                         files=[("image", ("a.png", png(64, 64), "image/png"))])
    assert answer.status_code == 200 and len(answer.json()["data"]) == 3


def test_the_aimlapi_profile_answers_variations_with_its_404() -> None:
    answer = TestClient(create_app(Settings())).post("/v1/images/variations", headers=AUTH,
                                                     files=[("image", ("a.png", png(8, 8), "image/png"))])
    assert answer.status_code == 404 and answer.json()["statusCode"] == 404


@pytest.mark.parametrize("fields", [{}, {"model": "openai/gpt-image-2", "response_format": "b64_json"}])
def test_an_aimlapi_edit_answers_its_models_generation_response_schema(fields: dict[str, str]) -> None:
    contract = load_contract("aimlapi")
    answer = TestClient(create_app(Settings())).post("/v1/images/edits", headers=AUTH, data={"prompt": "x", **fields},
                                                     files=[("image", ("a.png", png(8, 8), "image/png"))])
    assert answer.status_code == 200
    model = fields.get("model", "openai/gpt-image-1")
    errors = list(_validator(contract.response_schema(model)).iter_errors(answer.json()))
    assert errors == [] and answer.json()["meta"]["usage"]["credits_used"] > 0


def test_a_field_an_aimlapi_edit_form_does_not_define_never_changes_the_answer() -> None:
    rules = form_rules(load_contract("aimlapi"), EDIT, "openai/gpt-image-1")
    assert rules is not None and "stream" not in rules.properties
    client = TestClient(create_app(Settings()))
    bodies = [client.post("/v1/images/edits", headers=AUTH, data={"prompt": "x", "response_format": "b64_json",
                                                                  **extra},
                          files=[("image", ("a.png", png(8, 8), "image/png"))]).json()
              for extra in ({}, {"stream": "true", "partial_images": "3", "whatever": "1"})]
    assert bodies[0]["data"] == bodies[1]["data"] and bodies[0]["usage"] == bodies[1]["usage"]


def test_strict_refuses_a_field_the_aimlapi_edit_form_does_not_define() -> None:
    answer = TestClient(create_app(Settings(strict=True))).post(
        "/v1/images/edits", headers=AUTH, data={"prompt": "x", "stream": "true"},
        files=[("image", ("a.png", png(8, 8), "image/png"))])
    assert answer.status_code == 400 and answer.json()["message"].endswith('at "stream"')


@pytest.mark.parametrize(("rule", "status", "words"), [
    ({"kind": "content_policy"}, 400, "safety system"),
    ({"status": 500}, 500, ""),
])
def test_an_edit_gets_the_fault_a_generation_would(rule: dict[str, object], status: int, words: str) -> None:
    client = TestClient(create_app(Settings(profile="openai")))
    assert client.post("/__mock/faults", json={**rule, "times": 1}).status_code == 201
    answer = client.post("/v1/images/edits", headers=AUTH, data={"model": "dall-e-2", "prompt": "x"},
                         files=[("image", ("a.png", png(8, 8), "image/png"))])
    assert answer.status_code == status and words in answer.text
    assert client.get("/__mock/requests").json()["requests"][0]["fault"] == (rule.get("kind") or str(rule["status"]))
    assert client.get("/__mock/usage").json()["total"]["requests"] == 0  # a refused edit books nothing


def test_an_edits_url_image_is_in_the_registry_with_its_downloads() -> None:
    client = TestClient(create_app(Settings(profile="openai")))
    answer = client.post("/v1/images/variations", headers=AUTH, data={"size": "256x256"},
                         files=[("image", ("a.png", png(8, 8), "image/png"))])
    url = answer.json()["data"][0]["url"]
    assert client.get("/__mock/images", params={"downloaded": "false"}).json()["images"][0]["url"] == url
    assert client.get(url.removeprefix("http://testserver")).status_code == 200
    listed = client.get("/__mock/images").json()["images"]
    assert [(record["url"], record["downloads"], record["model"]) for record in listed] == [(url, 1, "dall-e-2")]
