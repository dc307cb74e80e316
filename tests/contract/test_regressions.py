"""Bugs the contract suites found, each pinned by the behaviour that broke."""

from __future__ import annotations

import json
import socket
from urllib.parse import quote

import pytest

from aiml_mock import MockServer
from aiml_mock.core.contract import load_contract


@pytest.mark.parametrize("profile", ["aimlapi", "openai"])
def test_bundled_profile_defines_the_bearer_scheme_instead_of_referring_to_itself(profile: str) -> None:
    # openai.yaml aliases aimlapi.yaml's bearerAuth by the same name; bundled naively, the alias became
    # `{"$ref": "#/components/securitySchemes/bearerAuth"}` and Schemathesis could not read the document.
    scheme = load_contract(profile).document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "$ref" not in scheme


def test_longest_image_file_name_the_contract_allows_is_answered_in_the_dialect(live_server: MockServer) -> None:
    # The contract allowed 8192 characters; percent-encoded 4-byte characters made a ~98 KB request line,
    # past the server's 64 KiB, which answered a plain-text 400 ("Invalid HTTP request received.").
    limit = load_contract().document["paths"]["/images/{image_file}"]["get"]["parameters"][0]["schema"]["maxLength"]
    name = quote("\U000fe3bf" * limit)
    with socket.create_connection(("127.0.0.1", live_server.port)) as sock:  # any client would refuse such a URL
        sock.sendall(f"GET /images/{name}?se=1&sig=x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404") and b"application/json" in head
    assert json.loads(body)["statusCode"] == 404
