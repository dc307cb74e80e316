"""The proxy's connections to its upstream: kept alive between requests, each request with its client's own key,
closed when the server (or a `configured` block) ends; 502 and 504 in the API's shape when the upstream is away.

The upstream is the standard library's threaded HTTP/1.1 server on 127.0.0.1, which shows what a proxy's
connections look like from the other side: which connection each request came on, and when one closed.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from aiml_mock import MockServer

ANSWER = json.dumps({"created": 1, "data": [{"url": "http://127.0.0.1:9/a.png"}]}).encode()
BODY = {"model": "dall-e-3", "prompt": "a lighthouse"}


class Upstream(ThreadingHTTPServer):
    """Answers every POST with a generation's JSON, noting each request's connection (the client's port) and
    key, and each connection's end."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[int, str | None]] = []
        self.closed: list[int] = []
        self.changed = threading.Condition()
        self.hold: threading.Event | None = None  # set: requests wait for it (a silent upstream)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_closed(self, count: int, timeout: float = 10) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.closed) >= count, timeout)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Upstream

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.changed:
            self.server.seen.append((self.client_address[1], self.headers.get("authorization")))
        if self.server.hold is not None:
            self.server.hold.wait(10)
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("x-request-id", "req-up")
            self.send_header("content-length", str(len(ANSWER)))
            self.end_headers()
            self.wfile.write(ANSWER)
        except (BrokenPipeError, ConnectionResetError):  # the proxy gave up waiting (a silent upstream)
            self.close_connection = True

    def finish(self) -> None:
        super().finish()
        with self.server.changed:
            self.server.closed.append(self.client_address[1])
            self.server.changed.notify_all()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    server.thread.start()
    yield server
    if server.hold is not None:
        server.hold.set()
    server.shutdown()
    server.server_close()


def generate(proxy: MockServer, key: str) -> httpx.Response:
    return httpx.post(f"{proxy.base_url}/images/generations", json=BODY, headers={"authorization": f"Bearer {key}"},
                      timeout=30)


def test_requests_share_one_upstream_connection_each_with_its_own_key(upstream: Upstream) -> None:
    keys = ["sk-alice-1", "sk-bob-2", "sk-alice-1", "sk-carol-3"]
    with MockServer(upstream=upstream.url) as proxy:
        answers = [generate(proxy, key) for key in keys]
        assert [answer.status_code for answer in answers] == [200] * 4
        assert all(answer.content == ANSWER for answer in answers)
        assert [auth for _, auth in upstream.seen] == [f"Bearer {key}" for key in keys]
        assert len({port for port, _ in upstream.seen}) == 1  # one connection, kept alive
        assert upstream.closed == []
    assert upstream.wait_closed(1)  # the server's shutdown (its lifespan) closed it


def test_upstream_keepalive_0_opens_a_connection_per_request(upstream: Upstream) -> None:
    with MockServer(upstream=upstream.url, upstream_keepalive=0) as proxy:
        for _ in range(3):
            assert generate(proxy, "sk-x").status_code == 200
        assert len({port for port, _ in upstream.seen}) == 3


def test_a_configured_block_closes_its_upstream_connections_when_it_ends(upstream: Upstream) -> None:
    with MockServer() as server:
        with server.configured(upstream=upstream.url):
            assert generate(server, "sk-x").status_code == 200
            assert upstream.closed == []
        assert upstream.wait_closed(1)
        answer = generate(server, "sk-x")  # the mock's own answer again, after the block
        assert answer.status_code == 201 and len(upstream.seen) == 1


def test_a_silent_upstream_is_a_504_in_the_api_shape(upstream: Upstream) -> None:
    upstream.hold = threading.Event()
    with MockServer(upstream=upstream.url, upstream_timeout=0.5) as proxy:
        answer = generate(proxy, "sk-x")
        assert answer.status_code == 504
        body = answer.json()
        assert body["statusCode"] == 504 and "did not answer in time" in body["message"]
        assert upstream.url in body["message"] and "ReadTimeout" in body["message"]
        [entry] = proxy.state.journal.entries()
        assert entry.status == 504
        upstream.hold.set()
        assert proxy.state.front.forwarded == 1  # it reached the upstream: counted against --max-requests


def test_an_unreachable_upstream_is_a_502_in_the_openai_dialect_too() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with MockServer(profile="openai", upstream=f"http://127.0.0.1:{port}") as proxy:
        answer = generate(proxy, "sk-x")
        assert answer.status_code == 502
        error = answer.json()["error"]
        assert error["type"] == "server_error" and "could not be reached: ConnectError" in error["message"]
        assert proxy.state.front.forwarded == 0


ORIGIN = "https://app.example"
CORS_NAMES = ("access-control-allow-origin", "access-control-expose-headers", "access-control-allow-credentials",
              "vary")


def cors_of(answer: httpx.Response) -> dict[str, list[str]]:
    """An answer's CORS headers, every value of each (a repeated header shows twice)."""
    return {name: answer.headers.get_list(name) for name in CORS_NAMES if name in answer.headers}


def test_a_proxied_answer_carries_the_same_cors_headers_as_the_mocks_own(upstream: Upstream, tmp_path: Any) -> None:
    browser = {"authorization": "Bearer sk-x", "origin": ORIGIN}
    with MockServer() as up, MockServer(upstream=up.url, replay=str(tmp_path), record_mode="all") as proxy, \
            MockServer(upstream=upstream.url) as bare_proxy:
        own = httpx.post(f"{up.base_url}/images/generations", json=BODY, headers=browser)
        proxied = httpx.post(f"{proxy.base_url}/images/generations", json=BODY, headers=browser)
        bare = httpx.post(f"{bare_proxy.base_url}/images/generations", json=BODY, headers=browser)
        plain = httpx.post(f"{proxy.base_url}/images/generations", json=BODY, headers={"authorization": "Bearer k"})
    assert own.status_code == proxied.status_code == 201 and bare.status_code == 200
    assert cors_of(bare) == cors_of(own)  # an upstream sending no CORS headers: the proxy's own policy
    assert cors_of(proxied) == cors_of(own)  # one Access-Control-Allow-Origin: the upstream's own is not doubled
    assert proxied.headers["access-control-allow-origin"] == "*"
    assert "x-mock-violations" in proxied.headers["access-control-expose-headers"]
    assert plain.headers.get_list("vary") == ["Origin"] and "access-control-allow-origin" not in plain.headers
    with MockServer(replay=str(tmp_path)) as replay:  # a replayed answer too
        replayed = httpx.post(f"{replay.base_url}/images/generations", json=BODY, headers=browser)
        assert replayed.headers["x-mock-replayed"] and cors_of(replayed) == cors_of(own)


def test_a_browsers_preflight_is_answered_by_the_proxy_not_forwarded(upstream: Upstream) -> None:
    preflight = {"origin": ORIGIN, "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization, content-type"}
    with MockServer(upstream=upstream.url) as proxy, MockServer() as mock:
        answer = httpx.options(f"{proxy.base_url}/images/generations", headers=preflight)
        own = httpx.options(f"{mock.base_url}/images/generations", headers=preflight)
        admin = httpx.get(f"{proxy.url}/__mock/requests", headers={"origin": ORIGIN})
    assert answer.status_code == own.status_code == 200 and upstream.seen == []
    assert {name: value for name, value in answer.headers.items() if name.startswith("access-control-")} == \
        {name: value for name, value in own.headers.items() if name.startswith("access-control-")}
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert admin.status_code == 200 and "access-control-allow-origin" not in admin.headers  # the admin API: none


@pytest.mark.parametrize("profile", ["aimlapi", "openai"])
def test_a_replay_miss_is_a_404_in_the_profiles_dialect_naming_the_closest_recording(
        profile: str, upstream: Upstream, tmp_path: Any) -> None:
    with MockServer(profile=profile, upstream=upstream.url, replay=str(tmp_path), record_mode="all") as proxy:
        assert generate(proxy, "sk-x").status_code == 200
    [recorded] = tmp_path.glob("*.json")
    with MockServer(profile=profile, replay=str(tmp_path)) as replay:
        answer = httpx.post(f"{replay.base_url}/images/generations", json={**BODY, "prompt": "a windmill"},
                            headers={"authorization": "Bearer sk-x"})
    assert answer.status_code == 404
    body = answer.json()
    if profile == "openai":
        error = body["error"]
        assert error["code"] == "cassette_miss" and error["type"] == "invalid_request_error"
        message = error["message"]
    else:
        assert body["statusCode"] == 404 and set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
        message = body["message"]
    assert recorded.name in message and 'prompt ("a windmill" here, "a lighthouse" recorded)' in message
