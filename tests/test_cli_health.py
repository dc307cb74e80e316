"""`aiml-mock health`: the container HEALTHCHECK's probe. 0 on a 200 from /health, 1 on anything else, never 2."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aiml_mock import MockServer
from aiml_mock.hosting.cli import main


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class Unavailable(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_health_passes_on_the_port_from_the_environment(live_server: MockServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIML_MOCK_HOST", "0.0.0.0")  # what the image sets: probed on 127.0.0.1
    monkeypatch.setenv("AIML_MOCK_PORT", str(live_server.port))
    assert main(["health"]) == 0


def test_health_flags_win_over_the_environment(live_server: MockServer, closed_port: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIML_MOCK_PORT", str(closed_port))
    assert main(["health", "--port", str(live_server.port), "--host", "127.0.0.1"]) == 0


def test_health_fails_when_nothing_listens(closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--port", str(closed_port)]) == 1
    assert f"127.0.0.1:{closed_port}/health" in capsys.readouterr().err


def test_health_fails_on_a_status_other_than_200(capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert main(["health", "--port", str(server.server_address[1])]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert "answered 503" in capsys.readouterr().err


def test_health_fails_when_the_server_does_not_answer_in_time(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert main(["health", "--port", str(silent.getsockname()[1]), "--timeout", "0.2"]) == 1
    assert "timed out" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_health_fails_with_status_1_on_an_unusable_port(port: str, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIML_MOCK_PORT", port)
    assert main(["health"]) == 1  # Docker reserves status 2
    assert "aiml-mock health:" in capsys.readouterr().err


def test_health_ignores_http_proxy_variables(live_server: MockServer, closed_port: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert main(["health", "--port", str(live_server.port)]) == 0
