"""Error bodies in both dialects, built in one place."""

from __future__ import annotations

from datetime import datetime

from aiml_mock.core.contract import Violation
from aiml_mock.core.errors import ApiError, error_body, validation_error, zod_text


def test_aimlapi_body_is_flat_with_request_id_and_timestamp() -> None:
    body = error_body(ApiError(401), "aimlapi", "req123", "/v1/images/generations")
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert body["statusCode"] == 401 and body["requestId"] == "req123"
    assert body["message"].startswith("This request requires a valid API key")
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


def test_openai_body_nests_message_type_param_code() -> None:
    body = error_body(ApiError(429), "openai", "r", "/x")
    assert body == {"error": {"message": body["error"]["message"], "type": "requests", "param": None,
                              "code": "rate_limit_exceeded"}}
    assert "Rate limit exceeded" in body["error"]["message"]


def test_server_errors_use_the_provider_wording() -> None:
    assert error_body(ApiError(504), "aimlapi", "r", "/x")["message"] == "Generation timeout"
    assert error_body(ApiError(500), "openai", "r", "/x")["error"]["type"] == "server_error"


def test_zod_text_names_the_field_expected_and_received() -> None:
    violation = Violation("$.size", "enum", "512x512", "", ["1024x1024", "1024x1792", "1792x1024", None])
    assert zod_text(violation) == (
        "Invalid enum value. Expected '1024x1024' | '1024x1792' | '1792x1024', received '512x512' at \"size\""
    )


def test_validation_error_lists_every_violation_and_sets_param_from_the_first() -> None:
    violations = [Violation("$.prompt", "required", None, "", "prompt"), Violation("$.n", "type", True, "", "integer")]
    error = validation_error(violations, "dall-e-2")
    assert error.status == 400 and error.param == "prompt"
    assert '"prompt"' in error.message and '"n"' in error.message
    assert error.openai_message == "Missing required parameter: 'prompt'."
