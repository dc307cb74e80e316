"""What careless or hostile clients send, over HTTP against a real `aiml-mock serve`: memory stays within the
configured bounds, no byte gets a 5xx, the journal always serialises, and the loop keeps answering.

Each server runs with small bounds (`--journal-bytes`, `--images-bytes` 1 MiB) so a few hundred requests fill
them; resident memory is read from `/proc/PID/status`.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

BOUND = 1024 * 1024  # --journal-bytes and --images-bytes of these servers
SLACK_MIB = 40  # the "small constant": allocator slack and what one request in flight holds
GENERATE = "/v1/images/generations"
JSON = {"Content-Type": "application/json", "Authorization": "Bearer sk-test"}
BODY = {"model": "dall-e-2", "prompt": "a lighthouse at dusk", "size": "256x256"}

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc (Linux)")


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process, self.port = process, port

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                connection: http.client.HTTPConnection | None = None) -> tuple[int, dict[str, str], bytes]:
        own = connection is None
        conn = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            answer = conn.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            if own:
                conn.close()

    def journal(self) -> dict[str, Any]:
        status, _, body = self.request("GET", "/__mock/requests")
        assert status == 200, body[:300]
        parsed: dict[str, Any] = json.loads(body)
        return parsed


@contextmanager
def serve(*args: str) -> Iterator[Served]:
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--journal-bytes", str(BOUND),
               "--images-bytes", str(BOUND), *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "listening on http://" in line, line + (process.stderr.read() if process.stderr else "")
            yield Served(process, int(line.split("listening on http://")[1].split()[0].rsplit(":", 1)[1]))
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=15)
            assert "Traceback" not in stderr, stderr


def warmed(server: Served) -> float:
    """RSS once the server has answered each kind of request (imports, caches, the allocator's first arenas)."""
    body = json.dumps(BODY).encode()
    for _ in range(20):
        server.request("POST", GENERATE, body, JSON)
        server.request("POST", GENERATE, json.dumps({**BODY, "x" * 2000: 1}).encode(), JSON)
        server.request("GET", "/health")
    server.journal()
    return server.rss_mib()


def test_memory_stays_within_the_bound_after_300_requests_with_1_mb_field_names() -> None:
    with serve() as server:
        before = warmed(server)
        for index in range(300):
            name = f"{index:06d}" + "f" * (1_000_000 - 6)
            status, _, _ = server.request("POST", GENERATE, json.dumps({**BODY, name: 1}).encode(), JSON)
            assert status in (200, 201)  # the real API ignores a field it does not know
        after = server.rss_mib()
        entries = server.journal()["requests"]
        assert after - before < BOUND / 2**20 + SLACK_MIB, (before, after)
        [violation] = entries[0]["violations"]
        assert violation["path"].endswith("(1000002 chars)") and len(violation["path"]) < 1200


def test_memory_stays_within_the_bound_after_40_requests_with_8_mb_headers() -> None:
    with serve("--api-key", "sk-test") as server:
        before = warmed(server)
        header = "v" * (8 * 1024 * 1024)
        for _ in range(40):
            status, headers, body = server.request("POST", GENERATE, json.dumps(BODY).encode(),
                                                   {**JSON, "X-Big": header})
            assert status == 431 and headers["connection"] == "close"
            assert "too large" in json.loads(body)["message"]
        for _ in range(30):  # unauthenticated, to a route that does not exist
            assert server.request("GET", "/no-such-route", headers={"X-Big": header})[0] == 431
        after = server.rss_mib()
        newest = server.journal()["requests"][0]
        assert after - before < BOUND / 2**20 + SLACK_MIB, (before, after)
        assert newest["status"] == 431 and newest["headers"]["x-big"].endswith(f"...({len(header)} bytes)")
        assert len(newest["headers"]["x-big"]) < 5000


def test_the_image_registry_stays_within_its_byte_bound() -> None:
    bound = 50_000
    with serve("--journal-size", "1000000", "--images-bytes", str(bound)) as server:
        urls = 0
        for _ in range(300):
            status, _, answer = server.request("POST", GENERATE, json.dumps({**BODY, "n": 4}).encode(), JSON)
            assert status in (200, 201)
            urls += sum(len(item["url"]) for item in json.loads(answer)["data"])
        status, _, body = server.request("GET", "/__mock/images")
        listed = json.loads(body)
        assert urls > 2 * bound  # more than the bound was generated...
        assert status == 200 and 0 < listed["total"] < 1200  # ...and the oldest left
        assert sum(len(image["url"]) for image in listed["images"]) <= bound


SURROGATE_BODIES = [  # lone surrogates in fields the model defines: read as U+FFFD, which no enum holds
    (b'{"model": "dall-e-2", "prompt": "x", "size": "\\ud800"}', "size"),
    (b'{"model": "dall-e-3", "prompt": "x", "style": "\\udfff"}', "style"),
    (b'{"model": "\\ud800", "prompt": "x"}', "model"),
    (b'{"model": "dall-e-3", "prompt": "x", "quality": ["\\ud83e"]}', "quality"),
]


def test_lone_surrogates_get_no_5xx_and_the_journal_still_serialises() -> None:
    with serve() as server:
        for body, field in SURROGATE_BODIES:
            status, _, answer = server.request("POST", GENERATE, body, JSON)
            assert status == 400 and f'"{field}"' in json.loads(answer)["message"], (body, answer)
        for body in (b'{"model": "dall-e-2", "prompt": "a \\ud800 fox"}',  # free text: replaced
                     b'{"model": "dall-e-2", "prompt": "x", "\\ud800": 1, "extra": "\\udfff"}'):  # ignored
            status, _, answer = server.request("POST", GENERATE, body, JSON)
            assert status == 201 and json.loads(answer)["data"], answer
        entries = server.journal()["requests"]
        assert len(entries) == len(SURROGATE_BODIES) + 2
        assert entries[1]["json"]["prompt"] == "a \ufffd fox"
        assert sorted(violation["path"] for violation in entries[0]["violations"]) == ["$.extra", "$.\ufffd"]


def test_unicode_digits_and_signatures_get_4xx_and_the_journal_still_serialises() -> None:
    with serve() as server:
        _, _, answer = server.request("POST", GENERATE, json.dumps(BODY).encode(), JSON)
        url = json.loads(answer)["data"][0]["url"]
        path = url.split(str(server.port), 1)[1].split("?")[0]
        assert server.request("GET", url.split(str(server.port), 1)[1])[0] == 200
        for query in ("se=%C2%B2&sp=r&sig=abc", "se=1&sp=r&sig=%C3%A9", "se=%D9%A1%D9%A2&sig=x", "se=&sig="):
            assert server.request("GET", f"{path}?{query}")[0] == 403, query
        for query in ("limit=%C2%B2", "status=%C2%B2", "limit=%EF%BC%91", "status=4%E2%82%8429", "limit=" + "9" * 40):
            status, _, answer = server.request("GET", f"/__mock/requests?{query}")
            assert status == 400 and "whole number" in json.loads(answer)["message"], query
        assert server.journal()["total"] >= 5


def test_messages_say_what_was_received() -> None:
    with serve() as server:
        status, _, answer = server.request("POST", GENERATE, b'{"model": "dall-e-3", "prompt": "x", "n": 1e309}', JSON)
        assert status == 400 and "1e309" in json.loads(answer)["message"]
        status, _, answer = server.request("POST", GENERATE, json.dumps(BODY).encode(),
                                           {**JSON, "X-Mock-Latency": "-1"})
        assert status == 400 and "'-1'" in json.loads(answer)["message"]


def test_a_query_string_key_is_redacted_in_the_journal() -> None:
    with serve() as server:
        secret = "sk-live-0123456789abcdefghijklmn"
        server.request("POST", f"{GENERATE}?api_key={secret}&trace=1", json.dumps(BODY).encode(), JSON)
        [entry] = server.journal()["requests"]
        assert secret not in json.dumps(entry) and "trace=1" in entry["query"] and "api_key=sk-liv" in entry["query"]


def test_a_cross_site_text_plain_post_creates_no_rule_and_carries_no_cors_header() -> None:
    with serve() as server:
        status, headers, _ = server.request("POST", "/__mock/faults", b'{"status": 503}',
                                            {"Origin": "http://evil.example", "Content-Type": "text/plain"})
        assert status in (403, 415) and "access-control-allow-origin" not in headers
        _, _, listed = server.request("GET", "/__mock/faults")
        assert json.loads(listed)["rules"] == []
        assert server.request("POST", GENERATE, json.dumps(BODY).encode(), JSON)[0] == 201


def test_health_answers_within_50_ms_while_1_mb_model_ids_are_refused() -> None:
    with serve() as server:
        body = json.dumps({"model": "m" * 1_000_000, "prompt": "x"}).encode()
        stop = threading.Event()
        refused: list[int] = []

        def flood() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            while not stop.is_set():
                refused.append(server.request("POST", GENERATE, body, JSON, connection)[0])
            connection.close()

        flooders = [threading.Thread(target=flood) for _ in range(2)]
        for thread in flooders:
            thread.start()
        try:
            while len(refused) < 4:  # the flood is under way
                time.sleep(0.01)
            probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            latencies = []
            for _ in range(25):
                started = time.perf_counter()
                assert server.request("GET", "/health", connection=probe)[0] == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)
            probe.close()
        finally:
            stop.set()
            for thread in flooders:
                thread.join(30)
        assert set(refused) == {400} and len(refused) >= 10
        assert statistics.median(latencies) < 0.050, sorted(latencies)


def test_the_server_is_still_serving_after_all_of_it() -> None:
    """A control: the same process answers a normal generation after refusing what came before."""
    with serve() as server:
        server.request("POST", GENERATE, b"\xff\xfe{", JSON)
        server.request("GET", "/images/" + "x" * 100_000)
        assert server.request("POST", GENERATE, json.dumps(BODY).encode(), JSON)[0] == 201


def _held_request(port: int, fault_header: bytes, answers: dict[bytes, bytes]) -> None:
    """A generation with a fault header that holds it (a long latency, a stall); what comes back before the close."""
    body = json.dumps(BODY).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
        connection.sendall(b"POST " + GENERATE.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n"
                           b"Content-Type: application/json\r\n" + fault_header + b"\r\nContent-Length: %d\r\n\r\n"
                           % len(body) + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    answers[fault_header] = received


@pytest.mark.parametrize("protocol", ["fast", "stock"])
def test_sigterm_with_stalled_requests_in_flight_answers_each_with_a_json_503_or_a_clean_close(protocol: str) -> None:
    with serve("--protocol", protocol, "--shutdown-grace", "1") as server:
        server.request("GET", "/health")  # up (the banner comes before the app is built): a SIGTERM now is uvicorn's
        answers: dict[bytes, bytes] = {}
        held = [b"X-Mock-Latency: 60s", b"X-Mock-Fault: stall", b"X-Mock-Fault: stall; stall=60",
                b"X-Mock-Latency: 100ms-59s"]
        clients = [threading.Thread(target=_held_request, args=(server.port, header, answers)) for header in held]
        for client in clients:
            client.start()
        time.sleep(0.5)  # the requests are in and waiting (the journal records them only once answered)
        stopped = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for client in clients:
            client.join(15)
        assert server.process.wait(10) == 0
        assert time.monotonic() - stopped < 1 + 2  # the grace, and a margin for a loaded machine
    for header, received in answers.items():
        if not received:
            continue  # a clean close
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), (header, received[:300])
        assert b"connection: close" in head.lower() and b"application/json" in head
        assert "shutting down" in json.loads(body)["message"]
    assert len(answers) == len(held)


def _closed_within(connection: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing the connection, or None when it was still open after `seconds`."""
    connection.settimeout(seconds)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    return received


@pytest.mark.parametrize("protocol", ["fast", "stock"])
def test_slow_and_silent_clients_are_closed_while_a_slow_answer_is_not(protocol: str) -> None:
    body = json.dumps(BODY).encode()
    head = (b"POST " + GENERATE.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n"
            b"Content-Type: application/json\r\n")
    with serve("--protocol", protocol, "--read-timeout", "0.5", "--idle-timeout", "1") as server:
        address = ("127.0.0.1", server.port)
        with socket.create_connection(address) as silent:  # never sends a request
            assert _closed_within(silent, 10) == b""
        with socket.create_connection(address) as trickle:  # headers that never end
            trickle.sendall(head)
            assert _closed_within(trickle, 10) == b""
        for sent in (5, 70_000):  # a body cut short, small (an inline run under fast) and large
            long_body = json.dumps({**BODY, "prompt": "p" * 90_000}).encode() if sent > 5 else body
            with socket.create_connection(address) as slow:
                slow.sendall(head + b"Content-Length: %d\r\n\r\n" % len(long_body) + long_body[:sent])
                assert _closed_within(slow, 10) == b""
        with socket.create_connection(address) as patient:  # waits 1.5 s for its answer: the mock holds it whole
            patient.sendall(head + b"X-Mock-Latency: 1500ms\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            patient.settimeout(10)
            assert patient.recv(65536).startswith(b"HTTP/1.1 201 ")
        statuses = [entry["status"] for entry in server.journal()["requests"]]
        assert statuses == [201, 499, 499]
