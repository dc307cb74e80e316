"""Property-test fixtures: in-process mocks (no socket), one per configuration, shared by a module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiml_mock import Settings, create_app
from aiml_mock.core.contract import Contract

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
        response = self.client.post(IMAGE_PATH, content=content, headers=headers)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return Streamed(response)
        return response

    def model_of(self, body: Any) -> str:
        return str(body.get("model", self.contract.default_model))


class Streamed:
    """A streamed answer (`stream: true`) read as the body it stands for: its completed events' images and fields,
    so the properties of answers hold for streams too."""

    def __init__(self, response: Any) -> None:
        self.status_code, self.headers, self.content, self.text = (response.status_code, response.headers,
                                                                   response.content, response.text)
        events = [json.loads(line.removeprefix("data: ")) for line in response.text.split("\n")
                  if line.startswith("data: ")]
        completed = [event for event in events if event["type"].endswith(".completed")]
        assert completed and all(event["type"].endswith((".partial_image", ".completed")) for event in events)
        last = completed[-1]
        self.body = {"created": last["created_at"], "data": [{"b64_json": event["b64_json"]} for event in completed],
                     **{name: last[name] for name in ("background", "output_format", "quality", "size", "usage")}}

    def json(self) -> Any:
        return self.body


@pytest.fixture(scope="module", params=["aimlapi", "openai"])
def mock(request: pytest.FixtureRequest) -> Iterator[Mock]:
    """The mock in each profile, each with its own error dialect and success statuses."""
    built = Mock(Settings(profile=request.param))
    with built.client:
        yield built
