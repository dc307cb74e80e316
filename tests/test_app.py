"""The HTTP surface, in-process: success shapes, every kind of bad input, headers, images, profiles."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image
from starlette.testclient import TestClient

from tests.conftest import AUTH, PROMPT

GEN = "/v1/images/generations"


def post(client: TestClient, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post(GEN, json=body, headers=headers if headers is not None else AUTH)


def assert_still_serves(client: TestClient) -> None:
    response = post(client, {"model": "dall-e-2", "prompt": "still alive", "size": "256x256"})
    assert response.status_code == 201


# -- success ------------------------------------------------------------------------------------------


def test_seed_example_returns_201_with_url_and_revised_prompt(client: TestClient) -> None:
    response = post(client, {"prompt": PROMPT, "model": "dall-e-3", "quality": "hd"})
    assert response.status_code == 201
    body = response.json()
    assert abs(body["created"] - time.time()) < 5
    [item] = body["data"]
    assert item["url"].startswith("http://testserver/images/img-")
    assert "T-Rex" in item["revised_prompt"] and len(item["revised_prompt"]) > len(PROMPT)


def test_url_serves_a_png_of_the_requested_size(client: TestClient) -> None:
    body = post(client, {"prompt": PROMPT, "model": "dall-e-3", "size": "1792x1024"}).json()
    image = client.get(body["data"][0]["url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (1792, 1024)


def test_b64_json_decodes_to_the_same_png_the_url_serves(client: TestClient) -> None:
    request = {"prompt": PROMPT, "model": "dall-e-2", "size": "512x512"}
    b64 = post(client, {**request, "response_format": "b64_json"}).json()["data"][0]
    url = post(client, request).json()["data"][0]["url"]
    png = base64.b64decode(b64["b64_json"])
    assert "revised_prompt" not in b64 and "url" not in b64
    assert Image.open(io.BytesIO(png)).size == (512, 512)
    assert client.get(url).content == png


def test_dall_e_2_answers_n_images_without_revised_prompt(client: TestClient) -> None:
    data = post(client, {"prompt": "cats", "model": "dall-e-2", "n": 3, "size": "256x256"}).json()["data"]
    assert len(data) == 3
    assert all("revised_prompt" not in item for item in data)
    assert len({item["url"] for item in data}) == 3


def test_null_fields_take_their_defaults(client: TestClient) -> None:
    body = {"prompt": "x", "model": "dall-e-3", "size": None, "style": None, "response_format": None}
    response = post(client, body)
    assert response.status_code == 201
    png = client.get(response.json()["data"][0]["url"]).content
    assert Image.open(io.BytesIO(png)).size == (1024, 1024)


def test_same_request_gives_same_image_and_revised_prompt(client: TestClient) -> None:
    body = {"prompt": PROMPT, "model": "dall-e-3", "response_format": "b64_json"}
    first, second = post(client, body).json()["data"][0], post(client, body).json()["data"][0]
    assert first == second
    other = post(client, {**body, "prompt": PROMPT + " At night."}).json()["data"][0]
    assert other["b64_json"] != first["b64_json"]


def test_seed_changes_images_deterministically(make_client: Callable[..., TestClient]) -> None:
    body = {"prompt": PROMPT, "model": "dall-e-2", "size": "256x256", "response_format": "b64_json"}
    seven_a = post(make_client(seed=7), body).json()["data"][0]["b64_json"]
    seven_b = post(make_client(seed=7), body).json()["data"][0]["b64_json"]
    zero = post(make_client(seed=0), body).json()["data"][0]["b64_json"]
    assert seven_a == seven_b != zero


def test_quality_is_tolerated_on_dall_e_2_as_the_provider_examples_send_it(client: TestClient) -> None:
    assert post(client, {"prompt": "x", "model": "dall-e-2", "quality": "hd"}).status_code == 201


# -- validation errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"model": "dall-e-3"}, "prompt", "Required"),
        ({"prompt": "x"}, "model", "Required"),
        ({"model": "dall-e-3", "prompt": "x" * 4001}, "prompt", "at most 4000"),
        ({"model": "dall-e-2", "prompt": "x" * 1001}, "prompt", "at most 1000"),
        ({"model": "dall-e-3", "prompt": "x", "n": 2}, "n", "Expected 1"),
        ({"model": "dall-e-2", "prompt": "x", "n": 11}, "n", "less than or equal to 10"),
        ({"model": "dall-e-2", "prompt": "x", "n": 0}, "n", "greater than or equal to 1"),
        ({"model": "dall-e-2", "prompt": "x", "n": True}, "n", "received boolean"),
        ({"model": "dall-e-2", "prompt": "x", "n": 2.5}, "n", "received number"),
        ({"model": "dall-e-2", "prompt": "x", "n": "2"}, "n", "received string"),
        ({"model": "dall-e-3", "prompt": "x", "size": "512x512"}, "size", "received '512x512'"),
        ({"model": "dall-e-2", "prompt": "x", "size": "1792x1024"}, "size", "'256x256'"),
        ({"model": "dall-e-3", "prompt": "x", "quality": "ultra"}, "quality", "'standard' | 'hd'"),
        ({"model": "dall-e-3", "prompt": "x", "style": "cartoon"}, "style", "'vivid' | 'natural'"),
        ({"model": "dall-e-3", "prompt": "x", "style": {}}, "style", "received"),
        ({"model": "dall-e-3", "prompt": "x", "response_format": "png"}, "response_format", "'b64_json'"),
        ({"model": "dall-e-4", "prompt": "x"}, "model", "dall-e-3"),
        ({"model": 3, "prompt": "x"}, "model", "string"),
        ({"model": "dall-e-3", "prompt": 42}, "prompt", "Expected string"),
    ],
)
def test_invalid_body_is_400_naming_the_field(client: TestClient, body: Any, field: str, fragment: str) -> None:
    response = post(client, body)
    assert response.status_code == 400
    error = response.json()
    assert error["statusCode"] == 400 and error["path"] == GEN
    assert error["requestId"] == response.headers["x-request-id"]
    assert error["message"].startswith("Body validation error!")
    assert f'"{field}"' in error["message"] and fragment in error["message"]
    assert_still_serves(client)


@pytest.mark.parametrize(
    ("body", "param", "code", "fragment"),
    [
        ({"model": "dall-e-3", "prompt": "x", "n": 2}, "n", None, "You must provide n=1 for this model."),
        ({"model": "dall-e-3", "prompt": "x", "size": "512x512"}, "size", "invalid_size", "size is not supported"),
        ({"model": "dall-e-2", "prompt": "x" * 1192}, "prompt", None, "Your prompt length is 1192"),
        ({"model": "dall-e-2", "prompt": "x", "n": "two"}, "n", "invalid_type", "Invalid type for 'n'"),
        ({"model": "dall-e-3", "prompt": "x", "quality": "best"}, "quality", "invalid_value", "'standard', 'hd'"),
        ({"model": "dall-e-3"}, "prompt", "missing_required_parameter", "'prompt'"),
    ],
)
def test_openai_dialect_fills_param_and_code(
    make_client: Callable[..., TestClient], body: Any, param: str, code: str | None, fragment: str
) -> None:
    response = post(make_client(error_style="openai"), body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and error["code"] == code
    assert fragment in error["message"]


def test_unknown_model_suggests_the_nearest_names(client: TestClient) -> None:
    message = post(client, {"model": "dalle-3", "prompt": "x"}).json()["message"]
    assert "'dall-e-3'" in message and "/v1/models" in message


# -- malformed requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"model": "dall-e-3", "prompt": NaN}', "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_unreadable_body_is_400(client: TestClient, content: bytes, fragment: str) -> None:
    response = client.post(GEN, content=content, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert_still_serves(client)


@pytest.mark.parametrize("content", [b"[]", b'"a prompt"', b"42", b"null", b"true"])
def test_non_object_body_is_400(client: TestClient, content: bytes) -> None:
    response = client.post(GEN, content=content, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400
    assert "must be a JSON object" in response.json()["message"]


def test_form_body_is_415(client: TestClient) -> None:
    response = client.post(GEN, data={"prompt": "x"}, headers=AUTH)
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]
    assert_still_serves(client)


def test_body_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    small = make_client(max_body_bytes=1000)
    response = post(small, {"model": "dall-e-3", "prompt": "x" * 2000})
    assert response.status_code == 413
    assert "1000" in response.json()["message"]
    assert post(small, {"model": "dall-e-2", "prompt": "ok"}).status_code == 201


def test_streamed_body_over_the_limit_is_413_without_content_length(make_client: Callable[..., TestClient]) -> None:
    small = make_client(max_body_bytes=1000)

    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 500

    response = small.post(GEN, content=chunks(), headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 413


def test_lone_surrogate_in_prompt_is_answered(client: TestClient) -> None:
    content = b'{"model": "dall-e-2", "prompt": "bad \\ud800 surrogate", "response_format": "b64_json"}'
    response = client.post(GEN, content=content, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 201


# -- auth ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Token sk-test", "sk-test"])
def test_missing_or_malformed_credentials_are_401(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = post(client, {"model": "dall-e-2", "prompt": "x"}, headers=headers)
    assert response.status_code == 401
    assert "valid API key" in response.json()["message"]


def test_any_key_passes_when_none_is_configured(client: TestClient) -> None:
    placeholder = {"Authorization": "Bearer <YOUR_AIMLAPI_KEY>"}
    response = post(client, {"model": "dall-e-2", "prompt": "x"}, headers=placeholder)
    assert response.status_code == 201


def test_configured_keys_refuse_others(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=("sk-one", "sk-two"), error_style="openai")
    body = {"model": "dall-e-2", "prompt": "x"}
    assert post(client, body, {"Authorization": "Bearer sk-two"}).status_code == 201
    wrong = post(client, body, {"Authorization": "Bearer sk-three-wrong"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-three-wrong" not in wrong.json()["error"]["message"]


# -- routes, headers, profiles ------------------------------------------------------------------------


def test_every_answer_has_a_unique_request_id_and_openai_headers(client: TestClient) -> None:
    ids = set()
    for response in (post(client, {"model": "dall-e-2", "prompt": "x"}), post(client, {}), client.get("/nope")):
        ids.add(response.headers["x-request-id"])
        assert response.headers["openai-version"]
        assert response.headers["openai-processing-ms"].isdigit()
    assert len(ids) == 3


def test_unknown_route_and_wrong_method_get_json_errors(client: TestClient) -> None:
    missing = client.get("/v2/nothing")
    assert missing.status_code == 404 and missing.json()["statusCode"] == 404
    wrong = client.get(GEN)
    assert wrong.status_code == 405 and wrong.json()["statusCode"] == 405
    assert "POST" in wrong.headers["allow"]


def test_cors_preflight_allows_browser_clients(client: TestClient) -> None:
    response = client.options(
        GEN, headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                      "Access-Control-Request-Headers": "authorization,content-type"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "http://localhost:3000")
    posted = client.post(GEN, json={"model": "dall-e-2", "prompt": "x"}, headers={**AUTH, "Origin": "http://a.test"})
    assert "x-request-id" in posted.headers["access-control-expose-headers"]


def test_health_and_openapi_are_served(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["version"]
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "/v1/images/generations" in document["paths"]


def test_openai_profile_behaves_like_openai(make_client: Callable[..., TestClient]) -> None:
    client = make_client(profile="openai")
    ok = post(client, {"prompt": "no model given"})
    assert ok.status_code == 200
    refused = post(client, {"prompt": "x", "model": "dall-e-2", "quality": "hd"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unknown_parameter"
    assert refused.json()["error"]["param"] == "quality"


def test_success_status_override(make_client: Callable[..., TestClient]) -> None:
    client = make_client(success_status=200)
    assert post(client, {"prompt": "x", "model": "dall-e-3"}).status_code == 200
    assert "200" in client.get("/openapi.json").json()["paths"][GEN]["post"]["responses"]


def test_strict_mode_refuses_unknown_fields(make_client: Callable[..., TestClient]) -> None:
    lenient = post(make_client(), {"prompt": "x", "model": "dall-e-3", "qualty": "hd"})
    assert lenient.status_code == 201
    strict = post(make_client(strict=True), {"prompt": "x", "model": "dall-e-3", "qualty": "hd"})
    assert strict.status_code == 400
    assert '"qualty"' in strict.json()["message"]


# -- image URLs ---------------------------------------------------------------------------------------


def _url(client: TestClient) -> str:
    url: str = post(client, {"prompt": "a fox", "model": "dall-e-2", "size": "256x256"}).json()["data"][0]["url"]
    return url


def test_tampered_signature_is_403(client: TestClient) -> None:
    url = _url(client)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    sig = query["sig"][0]
    forged = url.replace(sig, ("A" if sig[0] != "A" else "B") + sig[1:])
    assert client.get(forged).status_code == 403


def test_other_image_with_a_stolen_signature_is_403(client: TestClient) -> None:
    first, second = _url(client), post(client, {"prompt": "a hen", "model": "dall-e-2"}).json()["data"][0]["url"]
    swapped = urlsplit(second).path + "?" + urlsplit(first).query
    assert client.get(swapped).status_code == 403


def test_expired_url_is_403(client: TestClient) -> None:
    path = urlsplit(_url(client)).path
    name = path.rsplit("/", 1)[-1]
    signer = client.app.state.mock.signer  # type: ignore[attr-defined]
    two_hours_ago = time.time() - 7200
    response = client.get(f"{path}?{signer.query(name, two_hours_ago)}")
    assert response.status_code == 403
    assert "expired" in response.json()["message"]


@pytest.mark.parametrize(
    "path",
    ["/images/img-AAAA.png?se=1&sig=x", "/images/..%2F..%2Fetc%2Fpasswd", "/images/%2e%2e/%2e%2e/etc/passwd",
     "/images/img-.png", "/images/x.exe?se=9999999999&sig=abc", "/images/img-" + "A" * 9000 + ".png"],
)
def test_guessed_or_traversing_image_paths_get_nothing(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (403, 404)
    assert not response.headers["content-type"].startswith("image/")


def test_public_url_sets_the_image_host(make_client: Callable[..., TestClient]) -> None:
    client = make_client(public_url="http://mock.internal:9000/")
    assert _url(client).startswith("http://mock.internal:9000/images/img-")
