"""Property-test fixtures: in-process mocks (no socket), one per configuration, shared by a module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiml_mock import Settings, create_app
from aiml_mock.contract import Contract

AUTH = {"Authorization": "Bearer sk-test"}
IMAGE_PATH = "/v1/images/generations"


class Mock:
    """An in-process mock and the contract it answers by."""

    def __init__(self, settings: Settings) -> None:
        # The content policy refuses schema-valid prompts on purpose (Hypothesis finds its words in our source).
        self.app = create_app(settings.replace(content_policy_terms=()))
        self.client = TestClient(self.app, raise_server_exceptions=True)
        self.contract: Contract = self.app.state.mock.contract

    def post(self, body: Any) -> Any:
        """POST a body exactly as JSON text (big integers and unicode as drawn)."""
        content = json.dumps(body, ensure_ascii=False).encode()
        headers = {**AUTH, "Content-Type": "application/json"}
        return self.client.post(IMAGE_PATH, content=content, headers=headers)

    def model_of(self, body: Any) -> str:
        return str(body.get("model", self.contract.default_model))


@pytest.fixture(scope="module", params=["aimlapi", "openai"])
def mock(request: pytest.FixtureRequest) -> Iterator[Mock]:
    """The mock in each profile, each with its own error dialect and success statuses."""
    built = Mock(Settings(profile=request.param))
    with built.client:
        yield built
