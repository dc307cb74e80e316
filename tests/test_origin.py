"""The admin API is no cross-site target: no CORS, JSON bodies only, no state change from another origin."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.conftest import AUTH, PROMPT

EVIL = "http://evil.example"
GENERATE = "/v1/images/generations"


def rules(client: TestClient) -> list[object]:
    listed: list[object] = client.get("/__mock/faults").json()["rules"]
    return listed


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; "
                                          "boundary=x"])
def test_a_simple_cross_site_post_adds_no_rule_and_gets_no_cors_header(client: TestClient, content_type: str) -> None:
    answer = client.post("/__mock/faults", content=b'{"status": 503}',
                         headers={"Origin": EVIL, "Content-Type": content_type})
    assert answer.status_code == 403 and "access-control-allow-origin" not in answer.headers
    assert "another web origin" in answer.json()["message"]
    assert rules(client) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_same_origin_post_that_is_not_json_gets_415(client: TestClient, content_type: str) -> None:
    answer = client.post("/__mock/faults", content=b'{"status": 503}', headers={"Content-Type": content_type})
    assert answer.status_code == 415 and "application/json" in answer.json()["message"]
    assert rules(client) == []


def test_json_posts_without_an_origin_or_from_the_mocks_own_still_work(client: TestClient) -> None:
    assert client.post("/__mock/faults", json={"status": 503}).status_code == 201
    own = {"Origin": "http://127.0.0.1:8000", "Host": "127.0.0.1:8000"}  # the mock's own page (its dashboard)
    assert client.post("/__mock/faults", json={"status": 500}, headers=own).status_code == 201
    assert client.post("/__mock/reset").status_code == 200  # no body, no content type: curl -X POST
    assert client.delete("/__mock/requests", headers=own).status_code == 200


@pytest.mark.parametrize("method", ["DELETE", "POST"])
def test_a_cross_site_reset_or_clear_without_a_body_is_refused(client: TestClient, method: str) -> None:
    client.post(GENERATE, json={"model": "dall-e-2", "prompt": PROMPT}, headers=AUTH)
    path = "/__mock/requests" if method == "DELETE" else "/__mock/reset"
    answer = client.request(method, path, headers={"Origin": EVIL})
    assert answer.status_code == 403
    assert client.get("/__mock/requests").json()["total"] == 1


def test_a_configured_admin_origin_may_change_state(make_client: Callable[..., TestClient]) -> None:
    client = make_client(admin_origins=("http://dashboard.example:3000/",))
    allowed = client.post("/__mock/faults", json={"status": 503}, headers={"Origin": "http://dashboard.example:3000"})
    assert allowed.status_code == 201
    assert client.post("/__mock/faults", json={"status": 503}, headers={"Origin": EVIL}).status_code == 403


def test_a_rebound_domain_is_not_the_mocks_own_origin_without_a_token(client: TestClient) -> None:
    """DNS rebinding: the page's own domain resolves to 127.0.0.1, so Host and Origin agree but name no loopback."""
    rebound = {"Origin": "http://rebound.example:8000", "Host": "rebound.example:8000"}
    assert client.post("/__mock/faults", json={"status": 503}, headers=rebound).status_code == 403
    loopback = {"Origin": "http://localhost:8000", "Host": "localhost:8000"}
    assert client.post("/__mock/faults", json={"status": 503}, headers=loopback).status_code == 201


def test_admin_preflights_and_reads_carry_no_cors_headers_while_the_api_keeps_them(client: TestClient) -> None:
    preflight = {"Origin": EVIL, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    admin = client.options("/__mock/faults", headers=preflight)
    assert admin.status_code >= 400 and "access-control-allow-origin" not in admin.headers
    read = client.get("/__mock/requests", headers={"Origin": EVIL})
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
    api = client.options(GENERATE, headers=preflight)
    assert api.status_code == 200 and api.headers["access-control-allow-origin"] == "*"
    generated = client.post(GENERATE, json={"model": "dall-e-2", "prompt": PROMPT}, headers={**AUTH, "Origin": EVIL})
    assert generated.headers["access-control-allow-origin"] == "*"
