"""Each fault against the official `openai` SDK over a real socket: what a production client does on a bad day.

Delays are kept to milliseconds with `retry-after-ms`, so the retries are real and the suite stays fast.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from aiml_mock import MockServer
from aiml_mock.core.faults import FaultRule
from aiml_mock.core.journal import Entry
from aiml_mock.core.settings import ProtocolName
from tests.conftest import PROMPT
from tests.test_cli import serve

openai = pytest.importorskip("openai", reason="the e2e suite needs the openai SDK (pip install -e '.[test]')")

FAST = 0.01  # seconds of retry-after: the SDK honours it instead of its own 0.5 s+ backoff


@pytest.fixture(scope="module")
def server(protocol: ProtocolName) -> Iterator[MockServer]:
    with MockServer(protocol=protocol, fault_retry_after=FAST) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(server: MockServer) -> None:
    server.state.reset()


def client(server: MockServer, *, retries: int = 2, timeout: float = 10.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=retries, timeout=timeout)


def generate(server: MockServer, **options: object) -> object:
    extra = options.pop("extra_headers", None)
    sdk = client(server, **options)  # type: ignore[arg-type]
    return sdk.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", extra_headers=extra)  # type: ignore[arg-type]


def attempts(server: MockServer) -> list[Entry]:
    """The generation requests the server saw, oldest first."""
    return list(reversed(server.state.journal.entries(path="/v1/images/generations")))


# -- HTTP faults: retries honour retry-after, then success or the SDK's exception ----------------------


def test_429_is_retried_after_retry_after_then_succeeds(server: MockServer) -> None:
    server.state.faults.add(FaultRule(status=429, times=2))
    result = generate(server)
    assert result.data[0].url  # type: ignore[attr-defined]
    seen = attempts(server)
    assert [entry.status for entry in seen] == [429, 429, 201]
    assert [entry.headers["x-stainless-retry-count"] for entry in seen] == ["0", "1", "2"]


def test_429_raises_rate_limit_error_once_retries_are_exhausted(server: MockServer) -> None:
    server.state.faults.add(FaultRule(status=429, times=None))
    with pytest.raises(openai.RateLimitError) as caught:
        generate(server)
    assert caught.value.status_code == 429 and caught.value.body["message"] == "Too Many Requests"  # type: ignore[index]
    headers = caught.value.response.headers
    assert headers["retry-after-ms"] == "10" and headers["x-ratelimit-remaining-requests"] == "0"
    assert len(attempts(server)) == 3  # the first try and max_retries=2


def test_an_injected_429_waits_one_second_by_default(protocol: ProtocolName) -> None:
    with MockServer(protocol=protocol) as server:
        server.state.faults.add(FaultRule(status=429))
        response = httpx.post(f"{server.base_url}/images/generations", json={"model": "dall-e-2", "prompt": "x"},
                              headers={"Authorization": "Bearer k"})
    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("1", "1000")


@pytest.mark.parametrize(("status", "wording"), [(500, "Internal server error"), (502, "Bad Gateway"),
                                                 (503, "Service unavailable"), (504, "Generation timeout")])
def test_server_errors_are_retried_then_succeed(server: MockServer, status: int, wording: str) -> None:
    server.state.faults.add(FaultRule(status=status, retry_after=FAST))
    assert generate(server).data  # type: ignore[attr-defined]
    assert [entry.status for entry in attempts(server)] == [status, 201]


@pytest.mark.parametrize(("status", "wording"), [(500, "Internal server error"), (504, "Generation timeout")])
def test_persistent_server_errors_raise_internal_server_error(server: MockServer, status: int, wording: str) -> None:
    server.state.faults.add(FaultRule(status=status, retry_after=FAST, times=None))
    with pytest.raises(openai.InternalServerError) as caught:
        generate(server)
    assert caught.value.status_code == status and caught.value.body["message"] == wording  # type: ignore[index]
    assert len(attempts(server)) == 3


def test_out_of_credits_raises_permission_denied_without_retrying(server: MockServer) -> None:
    server.state.faults.add(FaultRule(status=403, times=None))
    with pytest.raises(openai.PermissionDeniedError) as caught:
        generate(server)
    assert "run out of credits" in caught.value.body["message"]  # type: ignore[index]
    assert len(attempts(server)) == 1


def test_x_should_retry_false_stops_the_retries(server: MockServer) -> None:
    server.state.faults.add(FaultRule(status=503, should_retry=False, times=None))
    with pytest.raises(openai.InternalServerError):
        generate(server)
    assert len(attempts(server)) == 1


def test_the_fault_header_fails_every_attempt(server: MockServer) -> None:
    with pytest.raises(openai.InternalServerError):
        generate(server, extra_headers={"X-Mock-Fault": "502; retry-after=0.01"})
    assert [entry.fault for entry in attempts(server)] == ["502 (X-Mock-Fault)"] * 3


# -- transport faults ------------------------------------------------------------------------------


def test_a_stall_past_the_client_timeout_raises_api_timeout_error(server: MockServer) -> None:
    server.state.faults.add(FaultRule(kind="stall"))  # held for up to 30 s
    with pytest.raises(openai.APITimeoutError):
        generate(server, retries=0, timeout=0.3)
    # the stall ends when the client gives up, long before its 30 s bound
    assert server.state.journal.wait_for(lambda entries: bool(entries) and entries[0].status == 499, timeout=10)


def test_a_stall_then_a_retry_succeeds(server: MockServer) -> None:
    server.state.faults.add(FaultRule(kind="stall"))
    assert generate(server, retries=1, timeout=0.3).data  # type: ignore[attr-defined]
    assert server.state.journal.wait_for(lambda entries: sorted(e.status for e in entries) == [201, 499], timeout=10)


def test_latency_past_the_client_timeout_raises_api_timeout_error(server: MockServer) -> None:
    with pytest.raises(openai.APITimeoutError):
        generate(server, retries=0, timeout=0.2, extra_headers={"X-Mock-Latency": "20s"})
    assert server.state.journal.wait_for(lambda entries: bool(entries) and entries[0].status == 499, timeout=10)


def test_a_dropped_connection_raises_api_connection_error(server: MockServer) -> None:
    server.state.faults.add(FaultRule(kind="drop"))
    with pytest.raises(openai.APIConnectionError) as caught:
        generate(server, retries=0)
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert "disconnected" in str(caught.value.__cause__)
    assert [(entry.status, entry.fault) for entry in attempts(server)] == [(0, "drop")]


def test_a_dropped_connection_is_retried(server: MockServer) -> None:
    server.state.faults.add(FaultRule(kind="drop"))
    assert generate(server).data  # type: ignore[attr-defined]
    assert [entry.status for entry in attempts(server)] == [0, 201]


def test_a_truncated_body_raises_api_connection_error(server: MockServer) -> None:
    server.state.faults.add(FaultRule(kind="truncate"))
    with pytest.raises(openai.APIConnectionError) as caught:
        generate(server, retries=0)
    assert "complete message body" in str(caught.value.__cause__)


def test_a_malformed_body_reaches_the_sdk_as_a_json_error(server: MockServer) -> None:
    server.state.faults.add(FaultRule(kind="malformed"))
    with pytest.raises(json.JSONDecodeError):  # the SDK neither retries nor wraps a broken 2xx body
        generate(server)
    assert len(attempts(server)) == 1


def test_the_server_keeps_serving_while_a_request_is_held(server: MockServer) -> None:
    body = json.dumps({"model": "dall-e-2", "prompt": "x"}).encode()
    held = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    held.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer k\r\n"
                 b"X-Mock-Latency: 30s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:  # noqa: S310
        assert response.status == 200
    assert generate(server, retries=0).data  # type: ignore[attr-defined]
    assert [entry.status for entry in server.state.journal.entries()] == [201, 200]  # the held one is still held
    held.close()  # the client goes away: the server stops holding it at once, not after 30 s
    assert server.state.journal.wait_for(lambda entries: entries[0].status == 499, timeout=10)


# -- content policy and rate limits ----------------------------------------------------------------


def test_content_policy_raises_bad_request_with_its_code(protocol: ProtocolName) -> None:
    with MockServer(protocol=protocol, error_style="openai") as server:
        with pytest.raises(openai.BadRequestError) as caught:
            client(server).images.generate(model="dall-e-3", prompt="an NSFW poster")
        assert caught.value.code == "content_policy_violation" and caught.value.type == "invalid_request_error"
        assert len(server.state.journal) == 1  # a 400 is not retried


def test_content_policy_in_the_aimlapi_dialect(server: MockServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).images.generate(model="dall-e-3", prompt="a gory scene")
    assert "safety system" in caught.value.body["message"] and caught.value.code is None  # type: ignore[index]


def test_the_rate_limit_raises_rate_limit_error_with_its_headers(protocol: ProtocolName) -> None:
    with MockServer(protocol=protocol, rate_limit="2/min") as server:
        sdk = client(server, retries=0)
        for _ in range(2):
            sdk.images.generate(model="dall-e-2", prompt="x", size="256x256")
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.images.generate(model="dall-e-2", prompt="x", size="256x256")
        headers = caught.value.response.headers
        assert headers["x-ratelimit-limit-requests"] == "2" and headers["x-ratelimit-remaining-requests"] == "0"
        assert 0 < float(headers["retry-after-ms"]) <= 60_000
        raw = sdk.images.with_raw_response.generate(model="dall-e-2", prompt="x", extra_headers={
            "Authorization": "Bearer sk-other"})
        assert raw.headers["x-ratelimit-remaining-requests"] == "1"


# -- the admin API and `aiml-mock serve` -----------------------------------------------------------


def test_a_rule_added_through_the_admin_api_reaches_the_sdk(server: MockServer) -> None:
    added = httpx.post(f"{server.url}/__mock/faults", json={"status": 503, "times": 2, "retry_after": FAST})
    assert added.status_code == 201
    assert generate(server).data  # type: ignore[attr-defined]
    journal = httpx.get(f"{server.url}/__mock/requests", params={"path": "/v1/images/generations"}).json()
    assert [item["status"] for item in journal["requests"]] == [201, 503, 503]


def test_aiml_mock_serve_drops_connections_for_real(protocol: ProtocolName) -> None:
    with serve("--protocol", protocol, "--fault-rate", "1", "--fault-kinds", "drop") as (_, url):
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.APIConnectionError) as caught:
            sdk.images.generate(model="dall-e-2", prompt="x")
        assert "disconnected" in str(caught.value.__cause__)
