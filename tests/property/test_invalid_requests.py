"""Every request the contract refuses gets a 4xx in the configured error dialect that names the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiml_mock import Settings
from aiml_mock.tools.strategies import invalid_image_requests
from tests.property.conftest import Mock

CONFIGURATIONS = {
    "aimlapi": Settings(profile="aimlapi"),
    "aimlapi-with-openai-errors": Settings(profile="aimlapi", error_style="openai"),
    "openai": Settings(profile="openai"),
}


@pytest.fixture(scope="module", params=list(CONFIGURATIONS))
def mock(request: pytest.FixtureRequest) -> Iterator[Mock]:
    built = Mock(CONFIGURATIONS[request.param])
    with built.client:
        yield built


@given(data=st.data())
def test_invalid_request_gets_400_in_the_dialect_naming_the_field(mock: Mock, data: st.DataObject) -> None:
    body, field = data.draw(invalid_image_requests(profile=mock.contract.profile), label="invalid")
    response = mock.post(body)
    assert response.status_code == 400, response.text
    payload = response.json()
    error_schema = "OpenAIError" if mock.contract.error_style == "openai" else "AimlError"
    assert mock.contract.validate_response("POST", "/v1/images/generations", 400, response.headers, payload) == []
    if error_schema == "OpenAIError":
        assert payload["error"]["param"] == field, payload
        assert payload["error"]["type"] == "invalid_request_error"
    else:
        assert payload["statusCode"] == 400
        assert f'"{field}' in payload["message"] or f"'{field}'" in payload["message"], payload["message"]
