"""MockServer: a real socket on a free port, started and stopped cleanly, under either HTTP protocol."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.request
from typing import Any

import pytest

from aiml_mock import ApiError, MockServer
from aiml_mock.core.contract import ErrorStyle
from aiml_mock.core.errors import error_body
from aiml_mock.core.settings import ProtocolName


def test_server_listens_on_a_free_port_and_stops(protocol: ProtocolName) -> None:
    with MockServer(protocol=protocol) as server:
        assert server.port > 0 and server.base_url == f"http://127.0.0.1:{server.port}/v1"
        with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:  # noqa: S310
            assert json.load(response)["status"] == "ok"
    try:
        urllib.request.urlopen(f"{server.url}/health", timeout=2)  # noqa: S310
    except OSError:
        pass
    else:
        raise AssertionError("the server still answers after stop()")


def test_two_servers_run_side_by_side_with_their_own_settings(protocol: ProtocolName) -> None:
    with MockServer(protocol=protocol, success_status=200) as first, MockServer(protocol=protocol) as second:
        assert first.port != second.port
        assert first.settings.success_status == 200 and second.settings.success_status is None


def test_kept_alive_connections_send_answers_at_once(protocol: ProtocolName) -> None:
    """TCP_NODELAY on every connection: without it Nagle's algorithm holds each kept-alive answer ~40 ms."""
    import socket

    import httpx

    with MockServer(protocol=protocol) as server, httpx.Client() as client:
        assert client.get(f"{server.url}/health").status_code == 200
        assert server._server is not None
        [connection] = server._server.server_state.connections
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def _image_url(server: MockServer, **headers: str) -> str:
    import httpx

    answer = httpx.post(f"{server.base_url}/images/generations", json={"model": "dall-e-2", "prompt": "a fox"},
                        headers={"Authorization": "Bearer sk-test", **headers}, timeout=10)
    assert answer.status_code == 201, answer.text
    url: str = answer.json()["data"][0]["url"]
    return url


def test_a_trusted_proxy_s_forwarded_scheme_makes_image_urls_https_on_both_paths(protocol: ProtocolName) -> None:
    """Behind a TLS-terminating proxy on this host, image URLs use the scheme the client used (uvicorn's
    `proxy_headers` behaviour, which the app applies itself)."""
    with MockServer(protocol=protocol) as server:
        assert _image_url(server).startswith("http://127.0.0.1:")
        assert _image_url(server, **{"X-Forwarded-Proto": "https"}).startswith("https://127.0.0.1:")
        assert _image_url(server, **{"X-Forwarded-Proto": "https", "Origin": "http://app.test"}).startswith("https://")
        assert _image_url(server, **{"X-Forwarded-For": "203.0.113.9"}).startswith("http://127.0.0.1:")


def test_forwarded_headers_from_an_untrusted_host_are_ignored(monkeypatch: pytest.MonkeyPatch, protocol: ProtocolName
                                                              ) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")  # uvicorn's own setting: not us
    with MockServer(protocol=protocol) as server:
        assert _image_url(server, **{"X-Forwarded-Proto": "https"}).startswith("http://127.0.0.1:")


class UvicornErrors(logging.Handler):
    """The records of uvicorn's error log (MockServer configures it to not propagate to pytest's capture)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


GENERATION = json.dumps({"model": "dall-e-2", "prompt": "a fox"})


@pytest.mark.parametrize("dialect", ["aimlapi", "openai"])
@pytest.mark.parametrize("origin", [None, "http://app.test"], ids=["fast path", "middleware stack"])
def test_a_bug_answers_the_documented_500_and_the_same_connection_serves_the_next_request(
        protocol: ProtocolName, origin: str | None, dialect: ErrorStyle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: a bug of ours gets the 500 in the dialect, its traceback in the log once, and the connection
    kept alive (a generation without an Origin takes the fast path, one with an Origin the middleware stack)."""
    import aiml_mock.web.app

    real = aiml_mock.web.app.success_body
    calls: list[int] = []

    def broken_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the core")
        return real(*args, **kwargs)

    monkeypatch.setattr(aiml_mock.web.app, "success_body", broken_once)
    headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    errors = UvicornErrors()
    with MockServer(protocol=protocol, error_style=dialect) as server:
        logger = logging.getLogger("uvicorn.error")
        logger.addHandler(errors)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("POST", "/v1/images/generations", GENERATION, headers)
            failed = connection.getresponse()
            body = json.loads(failed.read())
            sock = connection.sock
            connection.request("POST", "/v1/images/generations", GENERATION, headers)
            after = connection.getresponse()
            after.read()
            assert connection.sock is sock  # the same connection: http.client reopens only a closed one
        finally:
            connection.close()
            logger.removeHandler(errors)
        entries = server.state.journal.entries()
    assert failed.status == 500 and failed.getheader("connection") != "close"
    request_id = failed.getheader("x-request-id")
    documented = error_body(ApiError(500), dialect, request_id, "/v1/images/generations")
    if dialect == "aimlapi":  # the only field made at the moment of answering
        assert body.pop("timestamp") and documented.pop("timestamp")
    assert body == documented
    assert after.status == 201 and after.getheader("x-request-id") != request_id
    tracebacks = [record for record in errors.records if record.exc_info]
    assert len(tracebacks) == 1 and "a bug in the core" in str(tracebacks[0].exc_info[1])  # type: ignore[index]
    assert [entry.status for entry in entries] == [201, 500]
