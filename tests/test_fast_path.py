"""Generation requests without an Origin skip the middleware stack (`MockApp`, `serve_generation`): they must be
answered and journaled exactly as the stack answers and journals them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from aiml_mock import Settings, create_app
from aiml_mock.web.transport import ConnectionDropped

GENERATE = "/v1/images/generations"
AUTH = {"Authorization": "Bearer sk-test-0123456789"}
VOLATILE = {"x-request-id", "openai-processing-ms", "requestId", "timestamp", "created"}
SETTINGS = Settings(url_secret="fixed", content_policy_terms=("forbidden",))

CASES: list[tuple[str, dict[str, Any]]] = [
    ("url answer", {"json": {"model": "dall-e-3", "prompt": "a fox", "size": "1024x1792"}, "headers": AUTH}),
    ("b64_json answer", {"json": {"model": "dall-e-2", "prompt": "a fox", "size": "256x256", "n": 2,
                                  "response_format": "b64_json"}, "headers": AUTH}),
    ("unknown field", {"json": {"model": "dall-e-2", "prompt": "a fox", "colour": "blue"}, "headers": AUTH}),
    ("invalid size", {"json": {"model": "dall-e-3", "prompt": "a fox", "size": "512x512"}, "headers": AUTH}),
    ("unknown model", {"json": {"model": "dalle-3", "prompt": "a fox"}, "headers": AUTH}),
    ("no key", {"json": {"model": "dall-e-2", "prompt": "a fox"}}),
    ("form post", {"content": b"prompt=x", "headers": {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}}),
    ("malformed JSON", {"content": b'{"model": ', "headers": {**AUTH, "Content-Type": "application/json"}}),
    ("too large", {"content": b"{}", "headers": {**AUTH, "Content-Type": "application/json",
                                                 "Content-Length": str(2 * 1024 * 1024)}}),
    ("content policy", {"json": {"model": "dall-e-2", "prompt": "something forbidden"}, "headers": AUTH}),
    ("fault header", {"json": {"model": "dall-e-2", "prompt": "a fox"},
                      "headers": {**AUTH, "X-Mock-Fault": "429; retry-after=0.01"}}),
    ("malformed fault", {"json": {"model": "dall-e-2", "prompt": "a fox"},
                         "headers": {**AUTH, "X-Mock-Fault": "malformed"}}),
    ("truncate fault", {"json": {"model": "dall-e-2", "prompt": "a fox"},
                        "headers": {**AUTH, "X-Mock-Fault": "truncate"}}),
]


def through_the_stack(app: Starlette) -> Any:
    """The same app, every request taking Starlette's middleware stack and router."""

    async def stacked(scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(app, scope, receive, send)

    return stacked


@pytest.fixture
def clients() -> Iterator[tuple[TestClient, TestClient, Starlette, Starlette]]:
    fast, stacked = create_app(SETTINGS), create_app(SETTINGS)
    with TestClient(fast) as fast_client, TestClient(through_the_stack(stacked)) as stack_client:
        yield fast_client, stack_client, fast, stacked


def comparable_headers(response: Any) -> list[tuple[str, str]]:
    return sorted((name, value) for name, value in response.headers.multi_items() if name not in VOLATILE)


def normalised(value: Any) -> Any:
    """A JSON value without what differs between two identical requests: ids, clocks, URL signatures."""
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, str) and value.startswith("http://testserver/images/"):
        return value.partition("?")[0]
    if isinstance(value, str):  # a truncated answer, journaled as text: its clock and signatures still differ
        return re.sub(r'"created":\d+|se=\d+&sp=r&sig=[\w-]*', "", value)
    return value


def comparable_body(response: Any) -> Any:
    try:
        return normalised(response.json())
    except ValueError:  # a malformed or truncated answer: its length says where it was cut
        return ("not JSON", len(response.content))


def comparable_entry(app: Starlette) -> dict[str, Any]:
    entry = app.state.mock.journal.entries()[0].to_dict()
    for name in ("id", "time", "duration_ms"):
        entry.pop(name)
    normalised_entry: dict[str, Any] = normalised(entry)
    return normalised_entry


@pytest.mark.parametrize(("case", "request_options"), CASES, ids=[case for case, _ in CASES])
def test_a_generation_is_answered_and_journaled_as_the_stack_does(
    clients: tuple[TestClient, TestClient, Starlette, Starlette], case: str, request_options: dict[str, Any]
) -> None:
    fast_client, stack_client, fast, stacked = clients
    fast_answer = fast_client.post(GENERATE, **request_options)
    stack_answer = stack_client.post(GENERATE, **request_options)
    assert fast_answer.status_code == stack_answer.status_code
    assert comparable_headers(fast_answer) == comparable_headers(stack_answer)
    assert comparable_body(fast_answer) == comparable_body(stack_answer)
    assert comparable_entry(fast) == comparable_entry(stacked)


def test_a_dropped_connection_is_raised_into_the_client_and_journaled_on_both_paths(
    clients: tuple[TestClient, TestClient, Starlette, Starlette]
) -> None:
    fast_client, stack_client, fast, stacked = clients
    for client in (fast_client, stack_client):
        with pytest.raises(ConnectionDropped):
            client.post(GENERATE, json={"model": "dall-e-2", "prompt": "x"}, headers={**AUTH, "X-Mock-Fault": "drop"})
    assert comparable_entry(fast) == comparable_entry(stacked)
    assert comparable_entry(fast)["status"] == 0


def test_a_bug_answers_500_in_the_dialect_and_reaches_the_server_on_both_paths(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(scope: Scope, receive: Receive, headers: Any = None) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("aiml_mock.web.app.create_image", broken)
    fast, stacked = create_app(SETTINGS), create_app(SETTINGS)
    for app in (fast, stacked):
        app.router.routes[0].app.handler = broken  # the stack's route holds the handler it was built with
    answers = []
    for app, target in ((fast, fast), (stacked, through_the_stack(stacked))):
        with TestClient(target, raise_server_exceptions=False) as client:
            answers.append(client.post(GENERATE, json={"model": "dall-e-2", "prompt": "x"}, headers=AUTH))
        with TestClient(target) as client, pytest.raises(RuntimeError, match="a bug"):
            client.post(GENERATE, json={"model": "dall-e-2", "prompt": "x"}, headers=AUTH)
        assert app.state.mock.journal.entries()[0].status == 500
    assert [answer.status_code for answer in answers] == [500, 500]
    assert answers[0].json()["message"] == answers[1].json()["message"] == "Internal server error"


def test_requests_with_an_origin_take_the_stack_and_get_cors_headers() -> None:
    with TestClient(create_app(SETTINGS)) as client:
        answer = client.post(GENERATE, json={"model": "dall-e-2", "prompt": "x"},
                             headers={**AUTH, "Origin": "http://localhost:3000"})
    assert answer.status_code == 201
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in answer.headers["access-control-expose-headers"]
