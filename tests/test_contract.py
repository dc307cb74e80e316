"""The contract files: valid OpenAPI 3.1, profiles sharing one base, validators that name the field."""

from __future__ import annotations

import json

import pytest
import yaml

from aiml_mock.core.contract import contract_path, contracts_dir, load_contract


@pytest.mark.parametrize("profile", ["aimlapi", "openai"])
def test_contract_is_a_valid_openapi_3_1_document(profile: str) -> None:
    validator = pytest.importorskip("openapi_spec_validator", reason="needs the test extras")
    document = load_contract(profile).document  # type: ignore[arg-type]
    validator.validate(json.loads(json.dumps(document)))
    assert document["openapi"] == "3.1.0"


def test_openai_profile_references_the_shared_file_instead_of_copying_it() -> None:
    text = (contracts_dir() / "openai.yaml").read_text()
    assert "aimlapi.yaml#/components/schemas/dall-e-3/properties/prompt" in text
    assert "maxLength" not in text


def test_every_model_has_a_schema_with_its_id_and_success_status() -> None:
    contract = load_contract("aimlapi")
    assert len(contract.models) >= 80
    assert contract.models["dall-e-3"].success_status == 201
    assert contract.models["flux-pro"].success_status == 200  # its linked spec says 200
    assert contract.models["openai/gpt-image-1"].success_status == 200
    raw = yaml.safe_load(contract_path("aimlapi").read_text())
    mapping = raw["components"]["schemas"]["ImageRequest"]["discriminator"]["mapping"]
    assert set(mapping) == set(contract.models)


def test_dall_e_limits_come_from_the_file() -> None:
    contract = load_contract("aimlapi")
    dalle3, dalle2 = contract.models["dall-e-3"], contract.models["dall-e-2"]
    assert dalle3.enum("size") == ("1024x1024", "1024x1792", "1792x1024")
    assert dalle2.enum("size") == ("1024x1024", "512x512", "256x256")
    assert dalle3.properties["prompt"]["maxLength"] == 4000 and dalle2.properties["prompt"]["maxLength"] == 1000
    assert dalle3.enum("n") == (1,) and dalle2.maximum("n") == 10
    assert dalle3.enum("style") == ("vivid", "natural")


def test_validate_request_names_path_rule_and_value() -> None:
    [violation] = load_contract().validate_request({"model": "dall-e-3", "prompt": "x", "size": "512x512"})
    assert (violation.path, violation.rule, violation.value) == ("$.size", "enum", "512x512")
    assert violation.field == "size"


def test_nested_violation_points_inside_the_object() -> None:
    body = {"model": "flux-pro", "prompt": "x", "image_size": {"width": 0, "height": 512}}
    [violation] = load_contract().validate_request(body)
    assert violation.path == "$.image_size.width" and violation.rule == "exclusiveMinimum"


def test_check_request_flags_fields_the_api_ignores() -> None:
    contract = load_contract()
    body = {"model": "dall-e-3", "prompt": "x", "qualty": "hd"}
    assert contract.validate_request(body) == []
    [violation] = contract.check_request(body)
    assert violation.path == "$.qualty" and violation.rule == "additionalProperties"


def test_openai_profile_defaults_the_model_and_refuses_unknown_parameters() -> None:
    contract = load_contract("openai")
    assert contract.default_model == "dall-e-2"
    assert contract.validate_request({"prompt": "x"}) == []
    [violation] = contract.validate_request({"prompt": "x", "style": "vivid"})
    assert violation.field == "style" and violation.rule == "additionalProperties"


def test_error_style_override_swaps_the_error_schema() -> None:
    contract = load_contract("aimlapi", "openai")
    assert contract.document["components"]["schemas"]["ErrorBody"] == {"$ref": "#/components/schemas/OpenAIError"}
    body = {"error": {"message": "m", "type": "t", "param": None, "code": None}}
    headers = {"x-request-id": "r", "content-type": "application/json"}
    assert contract.validate_response("POST", "/v1/images/generations", 400, headers, body) == []
    aiml = load_contract("aimlapi")
    assert aiml.validate_response("POST", "/v1/images/generations", 400, headers, body)


def test_validate_response_finds_a_wrong_success_status() -> None:
    contract = load_contract()
    body = {"created": 1, "data": [{"revised_prompt": "A fox.", "url": "http://127.0.0.1/x.png"}],
            "meta": {"usage": {"credits_used": 80000}}}
    headers = {"x-request-id": "r", "content-type": "application/json"}
    assert contract.validate_response("POST", "/v1/images/generations", 201, headers, body, "dall-e-3") == []
    [violation] = contract.validate_response("POST", "/v1/images/generations", 200, headers, body, "dall-e-3")
    assert violation.rule == "x-success-status"


def test_validate_response_finds_missing_headers_and_bad_bodies() -> None:
    contract = load_contract()
    found = contract.validate_response("POST", "/v1/images/generations", 201, {"content-type": "application/json"},
                                       {"created": "yesterday", "data": []}, "dall-e-3")
    rules = {violation.rule for violation in found}
    assert {"required", "type", "minItems"} <= rules


def test_validate_response_holds_each_model_to_its_own_shape() -> None:
    contract = load_contract()
    headers = {"x-request-id": "r", "content-type": "application/json"}
    dalle_shape = {"created": 1, "data": [{"url": "http://127.0.0.1/x.png"}], "meta": {"usage": {"credits_used": 1}}}
    assert contract.validate_response("POST", "/v1/images/generations", 201, headers, dalle_shape, "dall-e-2") == []
    found = contract.validate_response("POST", "/v1/images/generations", 200, headers, dalle_shape, "flux-pro")
    assert {violation.path for violation in found} >= {"$.images", "$.seed", "$.timings", "$.has_nsfw_concepts"}
    assert all("flux-pro's response schema" in violation.message for violation in found)


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        load_contract("azure")  # type: ignore[arg-type]
