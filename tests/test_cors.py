"""The CORS middleware answers exactly as Starlette's does, with or without an Origin, whatever Vary the app set."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware as StarletteCORS
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from aiml_mock.web.cors import CORSMiddleware

OPTIONS = {"allow_origins": ["*"], "allow_methods": ["*"], "allow_headers": ["*"], "expose_headers": ["x-request-id"]}


async def plain(request: Request) -> Response:
    return Response(b"{}", 201, media_type="application/json")


async def with_vary(request: Request) -> Response:
    return Response(b"{}", 200, {"Vary": "Accept-Encoding"}, "application/json")


def client(middleware: type) -> TestClient:
    routes = [Route("/plain", plain, methods=["POST"]), Route("/vary", with_vary)]
    return TestClient(Starlette(routes=routes, middleware=[Middleware(middleware, **OPTIONS)]))


CASES = [
    ("POST", "/plain", {}),
    ("POST", "/plain", {"Origin": "http://localhost:3000"}),
    ("GET", "/vary", {}),
    ("GET", "/vary", {"Origin": "http://a.test"}),
    ("OPTIONS", "/plain", {"Origin": "http://a.test", "Access-Control-Request-Method": "POST",
                           "Access-Control-Request-Headers": "authorization"}),
]


@pytest.mark.parametrize(("method", "path", "headers"), CASES)
def test_answers_exactly_as_starlettes_cors_middleware(method: str, path: str, headers: dict[str, str]) -> None:
    ours = client(CORSMiddleware).request(method, path, headers=headers)
    theirs = client(StarletteCORS).request(method, path, headers=headers)
    assert ours.status_code == theirs.status_code
    assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())


def test_a_request_without_origin_still_says_the_answer_varies_by_origin() -> None:
    response = client(CORSMiddleware).post("/plain")
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in response.headers
