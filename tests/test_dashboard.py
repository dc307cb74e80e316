"""The dashboard's HTTP side (`/__mock/ui`), in-process: access, escaping, pagination, filters, controls.

What a browser does with these pages is tested in tests/e2e/test_dashboard_browser.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from aiml_mock import Settings, create_app
from aiml_mock.core.ledger import TEST_HEADER
from aiml_mock.web import dashboard
from aiml_mock.web.dashboard import COOKIE, CSP, pointer

AUTH = {"Authorization": "Bearer sk-test"}
UI = "/__mock/ui"


def generate(client: TestClient | httpx.Client, prompt: str = "a lighthouse", model: str = "dall-e-2",
             headers: dict[str, str] | None = None, **fields: Any) -> int:
    body = {"model": model, "prompt": prompt, **fields}
    if model == "dall-e-2":
        body.setdefault("size", "256x256")
    return client.post("/v1/images/generations", json=body, headers={**AUTH, **(headers or {})}).status_code


@pytest.fixture
def ui() -> TestClient:
    return TestClient(create_app(Settings()))


def rows(client: TestClient | httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get(f"{UI}/api/requests", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_every_page_carries_a_policy_forbidding_inline_script(ui: TestClient) -> None:
    generate(ui)
    for path in ("", "/requests/1", "/images", "/controls", "/login", "/api/requests"):
        response = ui.get(UI + path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CSP
        assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
        assert response.headers["x-frame-options"] == "DENY"


def test_pages_hold_no_inline_script_or_style(ui: TestClient) -> None:
    generate(ui, prompt="x", colour="blue")
    for path in ("", "/requests/1", "/images", "/controls", "/login"):
        html = ui.get(UI + path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
        assert re.findall(r"<[^>]*\s(?:style|on[a-z]+)=", html) == [], path


def test_a_hostile_prompt_is_shown_as_text_on_the_detail_page(ui: TestClient) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    generate(ui, prompt=hostile, colour="<b>bold</b>")
    html = ui.get(f"{UI}/requests/1").text
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert rows(ui)["rows"][0]["prompt"] == hostile  # JSON for the list, which the script puts in as text


def test_no_admin_leaves_the_dashboard_out() -> None:
    client = TestClient(create_app(Settings(admin=False)))
    for path in ("", "/controls", "/api/requests", "/static/dashboard.js", "/login"):
        assert client.get(UI + path).status_code == 404
    assert client.post(f"{UI}/api/faults", json={"status": 503}).status_code == 404


def test_with_an_admin_token_pages_ask_for_it_and_the_api_refuses_without_it() -> None:
    client = TestClient(create_app(Settings(admin_token="s3cret")), follow_redirects=False)
    page = client.get(f"{UI}/controls")
    assert page.status_code == 303 and page.headers["location"] == f"{UI}/login?next={UI}/controls"
    assert client.get(f"{UI}/api/requests").status_code == 401
    assert client.post(f"{UI}/api/faults", json={"status": 503}).status_code == 401
    assert client.get(f"{UI}/api/requests", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get(f"{UI}/static/dashboard.css").status_code == 200  # the login page needs it


def test_logging_in_sets_an_httponly_strict_cookie_that_opens_the_dashboard() -> None:
    client = TestClient(create_app(Settings(admin_token="s3cret")), follow_redirects=False)
    wrong = client.post(f"{UI}/login", data={"token": "nope", "next": f"{UI}/images"})
    assert wrong.status_code == 401 and "not the admin token" in wrong.text and COOKIE not in client.cookies
    right = client.post(f"{UI}/login", data={"token": "s3cret", "next": f"{UI}/images"})
    assert right.status_code == 303 and right.headers["location"] == f"{UI}/images"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"Path={UI}" in cookie
    assert "s3cret" not in cookie
    assert client.get(f"{UI}/images").status_code == 200
    assert client.get(f"{UI}/api/requests").status_code == 200
    client.post(f"{UI}/logout")
    assert client.get(f"{UI}/api/requests").status_code == 401


def test_login_never_redirects_off_the_dashboard() -> None:
    client = TestClient(create_app(Settings(admin_token="t")), follow_redirects=False)
    for target in ("https://evil.example/", "//evil.example/x", f"{UI}//evil.example"):
        assert client.post(f"{UI}/login", data={"token": "t", "next": target}).headers["location"] == UI


def test_cross_site_writes_and_logins_are_refused(ui: TestClient) -> None:
    evil = {"Origin": "https://evil.example"}
    assert ui.post(f"{UI}/api/faults", json={"status": 503}, headers=evil).status_code == 403
    cross_site = {"Sec-Fetch-Site": "cross-site"}
    assert ui.post(f"{UI}/api/faults", json={"status": 503}, headers=cross_site).status_code == 403
    assert ui.request("DELETE", f"{UI}/api/faults", json={}, headers=evil).status_code == 403
    assert ui.get("/__mock/faults").json()["rules"] == []
    client = TestClient(create_app(Settings(admin_token="t")), follow_redirects=False)
    assert client.post(f"{UI}/login", data={"token": "t"}, headers=evil).status_code == 403


def test_writes_take_json_bodies_only(ui: TestClient) -> None:
    form = ui.post(f"{UI}/api/faults", data={"status": "503"})
    assert form.status_code == 415 and "JSON" in form.json()["message"]
    same_site = ui.post(f"{UI}/api/faults", json={"status": 503}, headers={"Origin": "http://testserver"})
    assert same_site.status_code == 201


def test_a_fault_added_from_the_dashboard_fails_the_next_request(ui: TestClient) -> None:
    made = ui.post(f"{UI}/api/faults", json={"status": 503, "times": 1}).json()
    assert made["id"] == 1 and ui.get(f"{UI}/api/state").json()["rules"][0]["status"] == 503
    assert generate(ui) == 503
    assert generate(ui) == 201
    assert ui.post(f"{UI}/api/faults", json={"status": 99}).status_code == 400
    ui.post(f"{UI}/api/faults", json={"kind": "content_policy", "times": None})
    assert ui.request("DELETE", f"{UI}/api/faults/2", json={}).json() == {"cleared": 1}
    assert ui.request("DELETE", f"{UI}/api/faults/2", json={}).status_code == 404


@pytest.mark.parametrize("path", [f"{UI}/api/latency", "/__mock/latency"])
def test_latency_set_at_run_time_slows_every_generation(ui: TestClient, path: str) -> None:
    assert ui.put(path, json={"latency": "60ms"}).json() == {"latency": "60ms"}
    assert ui.get("/__mock/faults").json()["latency"] == "60ms"
    generate(ui)
    assert ui.get("/__mock/requests").json()["requests"][0]["duration_ms"] >= 60
    assert ui.put(path, json={"latency": "soon"}).status_code == 400
    assert ui.put(path, json={"latency": None}).json() == {"latency": None}
    assert ui.get("/__mock/faults").json()["latency"] is None


def test_the_list_is_paginated_server_side_newest_first(ui: TestClient) -> None:
    for index in range(120):
        generate(ui, prompt=f"prompt {index}")
    first = rows(ui)
    assert first["total"] == 120 and len(first["rows"]) == 50
    assert [row["prompt"] for row in first["rows"][:2]] == ["prompt 119", "prompt 118"]
    last = rows(ui, offset=100)
    assert len(last["rows"]) == 20 and last["rows"][-1]["prompt"] == "prompt 0"
    assert len(rows(ui, limit=1000)["rows"]) == 120 and len(rows(ui, limit=5000)["rows"]) == 120
    assert ui.get(f"{UI}/api/requests", params={"offset": "-1"}).status_code == 400
    assert ui.get(f"{UI}/api/requests", params={"colour": "x"}).status_code == 400


def test_an_unchanged_journal_answers_the_poll_without_a_page(ui: TestClient) -> None:
    generate(ui)
    version = rows(ui)["version"]
    assert rows(ui, since=version) == {"version": version, "unchanged": True}
    generate(ui)
    assert len(rows(ui, since=version)["rows"]) == 2
    ui.request("DELETE", f"{UI}/api/requests", json={})
    assert rows(ui, since=rows(ui)["version"])["unchanged"]
    assert rows(ui)["total"] == 0


def test_the_list_filters_by_model_status_verdict_key_and_test(ui: TestClient) -> None:
    generate(ui, model="dall-e-3", headers={TEST_HEADER: "tests/test_a.py::test_one"})
    generate(ui, colour="blue", headers={"Authorization": "Bearer sk-other-key-123"})
    generate(ui, size="1x1")
    ui.get("/nowhere")
    assert [r["model"] for r in rows(ui, model="dall-e-3")["rows"]] == ["dall-e-3"]
    assert {r["status"] for r in rows(ui, status="4xx")["rows"]} == {400, 404}
    assert [r["status"] for r in rows(ui, status="404")["rows"]] == [404]
    invalid = rows(ui, verdict="invalid")
    assert invalid["matching"] == 3 and invalid["total"] == 4
    assert rows(ui, verdict="valid")["rows"][0]["model"] == "dall-e-3"
    assert [r["key"] for r in rows(ui, key="sk-ot")["rows"]] == ["sk-ot...(16 chars)"]
    assert [r["test"] for r in rows(ui, test="test_one")["rows"]] == ["tests/test_a.py::test_one"]
    assert rows(ui, path="/nowhere")["matching"] == 1
    assert ui.get(f"{UI}/api/requests", params={"verdict": "maybe"}).status_code == 400
    assert {"dall-e-2", "dall-e-3", "flux/schnell"} <= set(rows(ui)["models"])  # the contract's, for the datalist


def test_the_detail_shows_violations_as_json_pointers_with_their_rule(ui: TestClient) -> None:
    generate(ui, colour="blue")
    html = ui.get(f"{UI}/requests/1").text
    assert "<code>/colour</code>" in html and "<code>additionalProperties</code>" in html
    assert pointer("$.image_size.width") == "/image_size/width"
    assert pointer("$.items[0]") == "/items/0" and pointer("$") == "" and pointer("$['a/b']") == "/a~1b"


def test_the_detail_redacts_credentials_as_the_journal_does(ui: TestClient) -> None:
    generate(ui, headers={"Authorization": "Bearer sk-live-0123456789abcdef"})
    html = ui.get(f"{UI}/requests/1").text
    assert "0123456789abcdef" not in html and "Bearer sk-liv...(24 chars)" in html


def test_images_show_whether_the_client_downloaded_them_and_viewing_does_not_count(ui: TestClient) -> None:
    generate(ui, n=2)
    html = ui.get(f"{UI}/requests/1").text
    assert html.count("not downloaded yet") == 2
    thumb = re.findall(r'src="(/__mock/ui/image/[^"]+)"', html)[0]
    shown = ui.get(thumb)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    assert "not downloaded yet" in ui.get(f"{UI}/requests/1").text
    url = ui.get("/__mock/requests").json()["requests"][0]["response"]["data"][0]["url"]
    assert ui.get(url).status_code == 200  # the client's own download
    html = ui.get(f"{UI}/requests/1").text
    assert "downloaded 1x before it expired" in html and html.count("not downloaded yet") == 1
    assert ui.get(f"{UI}/image/not-an-image.png").status_code == 404


def test_images_the_client_never_fetched_show_as_expired_after_their_ttl() -> None:
    client = TestClient(create_app(Settings(image_ttl=1)))
    generate(client)
    record = client.app.state.mock.images  # type: ignore[attr-defined]
    batch, size = record._batches[0]  # each batch is kept with its size, for the registry's byte bound
    record._batches[0] = ((*batch[:6], 0.0, *batch[7:]), size)  # created long ago
    assert "expired without being downloaded" in client.get(f"{UI}/images").text


def test_the_gallery_pages_through_the_images(ui: TestClient) -> None:
    for index in range(5):
        generate(ui, prompt=f"p{index}", n=10)
    first = ui.get(f"{UI}/images").text
    assert "50 images" in first and first.count("<figure") == 48 and "page 1 of 2" in first
    assert ui.get(f"{UI}/images", params={"page": 2}).text.count("<figure") == 2
    assert ui.get(f"{UI}/images", params={"downloaded": "true"}).text.count("<figure") == 0
    assert ui.get(f"{UI}/images", params={"downloaded": "maybe"}).status_code == 400


def test_export_downloads_the_whole_journal_as_json(ui: TestClient) -> None:
    generate(ui, prompt="first")
    generate(ui, prompt="second")
    response = ui.get(f"{UI}/export.json")
    assert response.headers["content-disposition"].startswith('attachment; filename="aiml-mock-journal-')
    data = response.json()
    assert data["total"] == 2 and [entry["json"]["prompt"] for entry in data["requests"]] == ["second", "first"]


def test_the_spend_is_the_ledgers_total(ui: TestClient) -> None:
    generate(ui, model="dall-e-3")
    generate(ui, n=2)
    state = ui.get(f"{UI}/api/state").json()
    usage = ui.get("/__mock/usage").json()
    assert state["usage"] == usage and state["spend_usd"] == usage["total"]["usd"] > 0
    assert state["usage"]["total"]["requests"] == 2
    ui.request("DELETE", f"{UI}/api/requests", json={})
    assert ui.get(f"{UI}/api/state").json()["spend_usd"] == 0


def test_the_cost_column_shows_what_each_answered_request_would_cost(ui: TestClient) -> None:
    generate(ui, model="dall-e-3")
    generate(ui, size="1x1")
    listed = rows(ui)["rows"]
    journaled = ui.get("/__mock/requests").json()["requests"]
    assert listed[1]["cost"] == f"${journaled[1]['cost']['usd']:.4f}" and journaled[1]["cost"]["usd"] > 0
    assert listed[0]["cost"] is None and journaled[0]["cost"] is None  # a 400 is not billed


def test_a_streamed_answer_shows_its_frames_in_order() -> None:
    client = TestClient(create_app(Settings(profile="openai")))
    body = {"model": "gpt-image-1", "prompt": "a fox", "stream": True, "partial_images": 2, "quality": "low"}
    assert client.post("/v1/images/generations", json=body, headers=AUTH).status_code == 200
    html = client.get(f"{UI}/requests/1").text
    frames = re.findall(r"<td>(\d+)</td><td><code>([^<]+)</code></td>", html.split('id="frames"')[1])
    assert frames == [("1", "image_generation.partial_image"), ("2", "image_generation.partial_image"),
                      ("3", "image_generation.completed")]
    assert "completed" in html and "the client read it to the end" in html
    client.post("/v1/images/generations", json=body, headers={**AUTH, "X-Mock-Fault": "500@1"})
    html = client.get(f"{UI}/requests/2").text
    assert "cut short" in html and '<span class="tag fault">error</span>' in html and "<code>error</code>" in html


# -- with --state: two real replicas on one real redis-server ---------------------------------------------


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[httpx.Client, httpx.Client]]:
    from tests.test_redis_state import redis_server, replica

    with redis_server() as (_, port), replica(f"redis://127.0.0.1:{port}/0") as a_url, \
            replica(f"redis://127.0.0.1:{port}/0") as b_url, \
            httpx.Client(base_url=a_url, timeout=10) as a, httpx.Client(base_url=b_url, timeout=10) as b:
        yield a, b


@pytest.fixture
def pair(replicas: tuple[httpx.Client, httpx.Client]) -> tuple[httpx.Client, httpx.Client]:
    assert replicas[0].post("/__mock/reset").status_code == 200
    return replicas


def test_every_view_on_one_replica_shows_the_requests_sent_to_the_other(
        pair: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = pair
    for index in range(3):
        generate(a, prompt=f"sent to A {index}", n=2)
    generate(a, prompt="a typo on A", colour="blue")
    listed = rows(b)
    assert listed["total"] == 4 and listed["complete"]
    assert [row["prompt"] for row in listed["rows"]] == ["a typo on A", "sent to A 2", "sent to A 1", "sent to A 0"]
    assert [row["prompt"] for row in rows(b, verdict="invalid")["rows"]] == ["a typo on A"]
    assert rows(b, model="dall-e-3")["rows"] == [] and rows(b, offset=3)["rows"][0]["prompt"] == "sent to A 0"
    first = listed["rows"][-1]["id"]
    detail = b.get(f"{UI}/requests/{first}")
    assert detail.status_code == 200 and "sent to A 0" in detail.text and detail.text.count("not downloaded yet") == 2
    url = a.get("/__mock/requests").json()["requests"][-1]["response"]["data"][0]["url"]
    assert a.get(url).status_code == 200  # the client's download, through A
    assert "downloaded 1x before it expired" in b.get(f"{UI}/requests/{first}").text
    gallery = b.get(f"{UI}/images").text
    assert "7 images" in gallery and gallery.count("<figure") == 7  # the typo is answered too
    assert "state redis://127.0.0.1:" in gallery  # the badge: this is the shared view
    assert len(b.get(f"{UI}/export.json").json()["requests"]) == 5  # and the download
    assert b.get(f"{UI}/export.zip").headers["x-mock-exported"] == "4"  # A's exchanges, as a cassette
    assert b.get(f"{UI}/requests/999999").status_code == 404


def test_controls_on_one_replica_act_on_the_other(pair: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = pair
    made = b.post(f"{UI}/api/faults", json={"status": 503, "times": 1})
    assert made.status_code == 201, made.text
    assert [rule["status"] for rule in a.get("/__mock/faults").json()["rules"]] == [503]
    assert generate(a) == 503
    assert generate(a) == 201
    b.post(f"{UI}/api/faults", json={"status": 500, "times": None})
    state = b.get(f"{UI}/api/state").json()
    assert [rule["status"] for rule in state["rules"]] == [500] and state["shared"].startswith("redis://")
    assert state["journal"]["entries"] == 2 and state["images"] == 1
    assert state["spend_usd"] == a.get("/__mock/usage").json()["total"]["usd"] > 0
    assert b.put(f"{UI}/api/latency", json={"latency": "30ms"}).json() == {"latency": "30ms"}
    assert a.get(f"{UI}/api/state").json()["latency"] == "30ms"  # set from B's dashboard, shown on A's
    b.put(f"{UI}/api/latency", json={"latency": None})
    assert b.request("DELETE", f"{UI}/api/faults", json={}).json() == {"cleared": 1}
    assert generate(a) == 201
    assert b.request("DELETE", f"{UI}/api/requests", json={}).json() == {"cleared": 3}
    assert a.get("/__mock/requests").json()["total"] == 0 and a.get("/__mock/usage").json()["total"]["usd"] == 0


def test_with_the_store_away_the_dashboard_says_so_at_once() -> None:
    from tests.test_redis_state import free_port, redis_server, replica

    port = free_port()
    with redis_server(port) as (server, _), replica(f"redis://127.0.0.1:{port}/0") as url, \
            httpx.Client(base_url=url, timeout=10) as client:
        assert generate(client) == 201
        server.terminate()
        server.wait(10)
        started = time.monotonic()
        for path in ("/api/requests", "/api/state"):
            refused = client.get(UI + path)
            assert refused.status_code == 503 and "state store is unreachable" in refused.json()["message"], path
        for path in ("/requests/1", "/images"):
            page = client.get(UI + path)
            assert page.status_code == 503 and "state store is unreachable" in page.text, path
        refused = client.post(f"{UI}/api/faults", json={"status": 500})
        assert refused.status_code == 503 and "state store is unreachable" in refused.json()["message"]
        assert client.get(UI).status_code == 200  # the page itself, which shows the API's message
        assert time.monotonic() - started < 5  # nothing waited on the dead store


def test_a_filtered_page_stops_counting_a_bounded_while_after_it_is_full(ui: TestClient,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "COUNT_AHEAD", 5)
    for index in range(30):
        generate(ui, prompt=f"p{index}", headers={TEST_HEADER: f"tests/test_a.py::test_{index % 2}"})
    page = rows(ui, test="test_1", limit=4)
    assert [row["prompt"] for row in page["rows"]] == ["p29", "p27", "p25", "p23"]
    assert page["matching"] == 6 and page["complete"] is False  # 4 shown, 2 more among the next 5 entries
    deeper = rows(ui, test="test_1", limit=4, offset=12)
    assert [row["prompt"] for row in deeper["rows"]] == ["p5", "p3", "p1"] and deeper["complete"]
    assert deeper["matching"] == 15
    everything = rows(ui, model="dall-e-2", limit=50)
    assert everything["matching"] == 30 and everything["complete"] and len(everything["rows"]) == 30
