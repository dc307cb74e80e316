"""MockServer: a real socket on a free port, started and stopped cleanly, under either HTTP protocol."""

from __future__ import annotations

import json
import urllib.request

import pytest

from aiml_mock import MockServer
from aiml_mock.settings import ProtocolName


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

