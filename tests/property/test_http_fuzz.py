"""No byte a client sends gets a 5xx: Hypothesis over every route's path, query, headers and body, over HTTP
against a real `aiml-mock serve` (both protocols), which keeps serving and whose journal always serialises."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiml_mock.core.contract import load_contract
from aiml_mock.core.faults import parse_latency

ROUTES = [
    ("POST", "/v1/images/generations"), ("GET", "/v1/models"), ("GET", "/images/{name}"), ("GET", "/health"),
    ("GET", "/openapi.json"), ("GET", "/__mock"), ("GET", "/__mock/faults"), ("POST", "/__mock/faults"),
    ("DELETE", "/__mock/faults"), ("DELETE", "/__mock/faults/{name}"), ("GET", "/__mock/requests"),
    ("DELETE", "/__mock/requests"), ("GET", "/__mock/images"), ("DELETE", "/__mock/images"),
    ("POST", "/__mock/reset"), ("GET", "/{name}"), ("OPTIONS", "/v1/images/generations"), ("PUT", "/__mock/faults"),
]
MODELS = sorted(load_contract("aimlapi").models)
FIELDS = ["model", "prompt", "size", "n", "quality", "style", "response_format", "image_size", "num_images",
          "output_format", "seed", "aspect_ratio", "resolution", "image_url", "negative_prompt", "status", "times",
          "kind", "latency", "retry_after", "stall", "message", "key", "should_retry"]
HEADER_NAMES = ["Authorization", "Content-Type", "X-Mock-Fault", "X-Mock-Latency", "Origin", "Host", "Accept",
                "If-None-Match", "X-Forwarded-For", "X-Forwarded-Proto", "Cookie", "Content-Encoding", "X-Api-Key"]
QUERY_NAMES = ["se", "sig", "sp", "limit", "status", "model", "path", "downloaded", "id", "include", "details",
               "api_key", "type"]

ROUTE_QUERIES = {"/images/{name}": ["se", "sig", "sp"], "/__mock/requests": ["limit", "status", "path", "model"],
                 "/__mock/images": ["downloaded"], "/v1/models": ["id", "include", "details", "type"]}

any_text = st.text(st.characters(codec=None, categories=None), max_size=40)  # lone surrogates included
header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                       max_size=60) | st.sampled_from(["Bearer sk-test", "application/json", "text/plain",
                                                      "503", "drop", "stall; stall=0", "-1", "1e309", "²", "٣"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | any_text
    | st.sampled_from(MODELS + ["1024x1024", "url", "b64_json", "hd", "²", "1e309"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A JSON object of known and unknown fields, an odd number literal, or bytes that are not JSON at all."""
    kind = draw(st.sampled_from(["object", "object", "object", "raw", "number"]))
    if kind == "raw":
        return draw(st.binary(max_size=80))
    fields = draw(st.dictionaries(st.sampled_from(FIELDS) | any_text, json_values, max_size=6))
    if draw(st.booleans()):
        fields.setdefault("model", draw(st.sampled_from(MODELS)))
        fields.setdefault("prompt", draw(any_text))
    text = json.dumps(fields, ensure_ascii=True, allow_nan=True)  # lone surrogates as \ud800 escapes
    if kind == "number":
        text = text[:-1] + (", " if fields else "") + '"n": ' + draw(st.sampled_from(["1e309", "-1e400", "1" * 400,
                                                                                    "0.0000001e-400", "1E+2"])) + "}"
    return text.encode()


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes | None]:
    method, template = draw(st.sampled_from(ROUTES))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "DELETE", "PATCH", "HEAD"]))
    segment = quote(draw(any_text).encode("utf-8", "surrogatepass"), safe="")
    if "{name}" in template and draw(st.booleans()):
        segment = "img-" + segment + draw(st.sampled_from([".png", ".jpg", ".webp", ".tif", ""]))
    path = template.replace("{name}", segment or "x")
    names = st.sampled_from(ROUTE_QUERIES.get(template, QUERY_NAMES))
    odd = st.sampled_from(["²", "٣", "１", "1", "-1", "99999999999999999999", "true", "é", "", "%", "0x10"])
    pairs = draw(st.lists(st.tuples(names, st.one_of(odd, odd, any_text)), max_size=2, unique_by=lambda p: p[0]))
    if draw(st.integers(0, 3)) == 0:  # a parameter the route does not know
        pairs.append((draw(st.sampled_from(QUERY_NAMES) | any_text), draw(odd | any_text)))
    query = "&".join(quote(key.encode("utf-8", "surrogatepass"), safe="") + "="
                     + quote(value.encode("utf-8", "surrogatepass"), safe="") for key, value in pairs)
    headers = draw(st.dictionaries(st.sampled_from(HEADER_NAMES), header_value, max_size=5))
    body = draw(bodies()) if method in ("POST", "PUT", "PATCH", "DELETE") and draw(st.integers(0, 4)) else None
    return method, path + ("?" + query if query else ""), headers, body


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process, self.port = process, port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> tuple[int, bytes]:
        """One request on a kept-alive connection (a new one when the server closed it, e.g. after a 431)."""
        for attempt in range(2):
            try:
                self.connection.putrequest(method, target, skip_host="Host" in headers, skip_accept_encoding=True)
                for name, value in headers.items():
                    self.connection.putheader(name, value.encode("utf-8"))  # UTF-8 bytes, read as latin-1
                if body is not None:
                    self.connection.putheader("Content-Length", str(len(body)))
                self.connection.endheaders(body)
                answer = self.connection.getresponse()
                content = answer.read()
                if answer.will_close:
                    self.connection.close()
                return answer.status, content
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture(scope="module", params=["fast", "stock"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--protocol", request.param,
               "--stall-seconds", "0.05", "--journal-bytes", str(256 * 1024)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://" in line, line
        server = Served(process, int(line.split("listening on http://")[1].split()[0].rsplit(":", 1)[1]))
        try:
            yield server
            status, journal = server.send("GET", "/__mock/requests", {}, None)
            assert status == 200 and isinstance(json.loads(journal)["requests"], list)
            assert server.send("GET", "/__mock/images", {}, None)[0] == 200
        finally:
            server.connection.close()
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=15)
        assert "Traceback" not in stderr, stderr


def tamed(method: str, target: str, headers: dict[str, str], body: Any) -> tuple[str, str, dict[str, str], Any]:
    """The request, but for what a client asks the mock to do to it: a fault it asks for (a 5xx, a drop) is not the
    mock failing, and a latency or stall it asks for is kept short, so each example takes milliseconds."""
    fault = headers.get("X-Mock-Fault", "").strip().lower()
    if fault.startswith(("5", "drop", "truncate", "malformed", "stall")):
        headers = {**headers, "X-Mock-Fault": "429" if not fault.startswith("stall") else "stall; stall=0.01"}
    try:
        latency = parse_latency(headers.get("X-Mock-Latency"))
    except ValueError:
        latency = None  # refused with a 400: worth sending
    if latency is not None:
        headers = {**headers, "X-Mock-Latency": "1ms"}
    return method, target, headers, body


@settings(max_examples=max(200, settings.default.max_examples),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(request=requests())
def test_no_path_query_header_or_body_gets_a_5xx(served: Served, request: tuple[str, str, dict[str, str], Any]
                                                 ) -> None:
    method, target, headers, body = tamed(*request)
    try:
        status, content = served.send(method, target, headers, body)
    except (ConnectionError, http.client.HTTPException):
        assert served.process.poll() is None, "the server died"
        return  # a stall or drop the client asked for ends without an answer
    assert status < 500, (method, target, headers, body, content[:500])
