"""Shared fixtures: in-process clients whose every response is checked against the contract."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from aiml_mock import MockServer, Settings, create_app
from aiml_mock.core.contract import Contract
from aiml_mock.core.settings import ProtocolName

pytest_plugins = ["pytester"]
PROTOCOLS: tuple[ProtocolName, ...] = ("stock", "fast")
HTTP_LIBRARIES = ("httpx", "httpx2")  # httpx2: what the openai SDK 3.x is built on

# Bounded for CI (the whole suite stays within minutes on 2 cores); `HYPOTHESIS_PROFILE=deep pytest` (or
# `pytest --hypothesis-profile=deep`) runs many more examples for a deep search.
settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PROMPT = "A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses."
AUTH = {"Authorization": "Bearer sk-test"}


def contract_hook(contract: Contract) -> Callable[[httpx.Response], None]:
    """An httpx response hook failing the test when a response breaks the contract."""

    def check(response: httpx.Response) -> None:
        response.read()
        request = response.request
        model = None
        if request.method == "POST" and request.content:
            try:
                sent = json.loads(request.content)
                model = sent.get("model", contract.default_model) if isinstance(sent, dict) else None
            except (ValueError, RecursionError):
                model = None
        path = request.url.path
        if request.method == "OPTIONS" or path == "/openapi.json" or path.startswith("/__mock"):
            return  # the admin API is the mock's own, outside the API's contract
        ctype = response.headers.get("content-type", "")
        body: Any = response.json() if ctype.startswith("application/json") else None
        violations = contract.validate_response(request.method, path, response.status_code, response.headers, body,
                                                model_id=model)
        assert not violations, f"{request.method} {path} -> {response.status_code} broke the contract: {violations}"

    return check


def checked_client(settings: Settings | None = None) -> TestClient:
    app = create_app(settings or Settings())
    client = TestClient(app, raise_server_exceptions=True)
    client.event_hooks["response"] = [contract_hook(app.state.mock.contract)]
    return client


@pytest.fixture
def client() -> Iterator[TestClient]:
    with checked_client() as test_client:
        yield test_client


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    made: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        test_client = checked_client(Settings(**settings))
        made.append(test_client)
        return test_client

    yield make
    for test_client in made:
        test_client.close()


def load_lazy_http_cores() -> None:
    """Load, in this process, what the loaded HTTP libraries' transports import on first use.

    An in-process pytester run drops every module first imported during it. httpx/httpx2 import their
    core (httpcore/httpcore2) on first use and map its errors through classes cached from that first copy;
    if the copy is dropped, every later request's transport error escapes raw (`httpcore2.ReadError`
    instead of `openai.APIConnectionError`). Building one transport per library loads the core for good.
    """
    for name in HTTP_LIBRARIES:
        library = sys.modules.get(name)
        if library is not None:
            library.HTTPTransport(verify=False).close()


@pytest.fixture
def _http_cores_loaded() -> None:
    load_lazy_http_cores()


@pytest.fixture
def pytester(_http_cores_loaded: None, pytester: pytest.Pytester) -> pytest.Pytester:
    """pytest's `pytester`, taken only once the HTTP cores are loaded (its sys.modules snapshot keeps them)."""
    return pytester


@pytest.fixture(scope="session", params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> ProtocolName:
    """Each HTTP protocol a server can run (`--protocol`): a test over a real socket taking it runs under both."""
    name: ProtocolName = request.param
    return name


@pytest.fixture(scope="session")
def live_server() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server
