"""The admin API under /__mock/: fault rules, the journal, the images, reset; off switch and token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiml_mock.core.contract import load_contract
from tests.conftest import AUTH, PROMPT

GENERATE = "/v1/images/generations"
BODY = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256"}


def generate(client: TestClient, **body: Any) -> int:
    return client.post(GENERATE, json={**BODY, **body}, headers=AUTH).status_code


# -- faults ----------------------------------------------------------------------------------------


def test_the_simplest_rule_fails_the_next_requests(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    added = client.post("/__mock/faults", json={"status": 503, "times": 2})
    assert added.status_code == 201 and added.json()["id"] == 1 and added.json()["times"] == 2
    assert [generate(client) for _ in range(3)] == [503, 503, 201]


def test_rules_are_listed_and_cleared(make_client: Callable[..., TestClient]) -> None:
    client = make_client(fault_rate=0.0, latency="10ms")
    client.post("/__mock/faults", json={"status": 429, "retry_after": 0.01, "model": "dall-e-3",
                                        "key": "sk-live-0123456789"})
    listed = client.get("/__mock/faults").json()
    [rule] = listed["rules"]
    assert (rule["status"], rule["retry_after"], rule["model"], rule["times"]) == (429, 0.01, "dall-e-3", 1)
    assert rule["key"] == "sk-liv...(18 chars)"  # keys are never shown in full
    assert listed["latency"] == "10ms" and listed["random"] == {"rate": 0.0, "kinds": ["429", "500", "503"],
                                                                "seed": 0}
    assert client.delete("/__mock/faults").json() == {"cleared": 1}
    assert client.get("/__mock/faults").json()["rules"] == []


def test_a_list_of_rules_and_deleting_one(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    added = client.post("/__mock/faults", json=[{"status": 500}, {"kind": "drop", "prompt": "never"}]).json()
    assert [rule["kind"] for rule in added["rules"]] == ["error", "drop"]
    assert client.delete(f"/__mock/faults/{added['rules'][0]['id']}").status_code == 200
    assert [rule["kind"] for rule in client.get("/__mock/faults").json()["rules"]] == ["drop"]
    assert client.delete("/__mock/faults/99").status_code == 404


def test_a_rule_matching_a_prompt_spares_other_requests(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post("/__mock/faults", json={"status": 502, "prompt": "lighthouse", "times": None})
    assert [generate(client, prompt="A Lighthouse"), generate(client), generate(client, prompt="lighthouse")] == [
        502, 201, 502]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"status": 200}, "400 to 599"),
        ({"status": 503, "tims": 2}, "'tims'"),
        ({"status": 503, "times": -1}, "times"),
        ({"kind": "explode"}, "kind"),
        ({"latency": "soon"}, "latency"),
        ([{"status": 500}, {"status": 1}], "rule 1"),
        ("503", "JSON object"),
    ],
)
def test_bad_rules_get_a_400_naming_the_problem(make_client: Callable[..., TestClient], body: Any, words: str) -> None:
    client = make_client()
    response = client.post("/__mock/faults", json=body)
    assert response.status_code == 400 and words in response.json()["message"]
    assert client.get("/__mock/faults").json()["rules"] == []  # nothing half-added


def test_bad_admin_input_in_the_openai_dialect(make_client: Callable[..., TestClient]) -> None:
    client = make_client(error_style="openai")
    not_json = client.post("/__mock/faults", content=b"{oops", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]["message"]
    assert client.put("/__mock/faults", json={}).status_code == 405


# -- the journal -----------------------------------------------------------------------------------


def test_requests_are_listed_newest_first_and_filtered(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    generate(client)
    generate(client, model="dall-e-3", size="1024x1024")
    generate(client, size="1x1")
    client.get("/health")
    everything = client.get("/__mock/requests").json()
    assert everything["total"] == 4 and [item["status"] for item in everything["requests"]] == [200, 400, 201, 201]
    assert client.get("/__mock/requests", params={"status": 400}).json()["requests"][0]["json"]["size"] == "1x1"
    assert [item["model"] for item in client.get("/__mock/requests", params={"model": "dall-e-3"}).json()[
        "requests"]] == ["dall-e-3"]
    only_generations = client.get("/__mock/requests", params={"path": GENERATE, "limit": 1}).json()
    assert only_generations["total"] == 3 and len(only_generations["requests"]) == 1
    assert client.get("/__mock/requests", params={"path": "/heal*"}).json()["total"] == 1


def test_admin_requests_are_not_journaled(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.get("/__mock/requests")
    client.post("/__mock/faults", json={"status": 500})
    assert client.get("/__mock/requests").json()["total"] == 0


@pytest.mark.parametrize("query", [{"status": "bad"}, {"limit": "-1"}, {"stauts": "500"}])
def test_bad_journal_queries_get_a_400(make_client: Callable[..., TestClient], query: dict[str, str]) -> None:
    response = make_client().get("/__mock/requests", params=query)
    assert response.status_code == 400 and list(query)[0] in response.json()["message"]


def test_the_journal_can_be_cleared(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    generate(client)
    assert client.delete("/__mock/requests").json() == {"cleared": 1}
    assert client.get("/__mock/requests").json()["total"] == 0


# -- images and reset ------------------------------------------------------------------------------


def test_images_show_whether_the_client_downloaded_them(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    first, second = client.post(GENERATE, json={**BODY, "n": 2}, headers=AUTH).json()["data"]
    client.get(first["url"])
    images = client.get("/__mock/images").json()
    assert images["total"] == 2
    assert {(image["url"], image["downloaded"]) for image in images["images"]} == {(first["url"], True),
                                                                                    (second["url"], False)}
    pending = client.get("/__mock/images", params={"downloaded": "false"}).json()["images"]
    assert [image["url"] for image in pending] == [second["url"]]
    assert client.get("/__mock/images", params={"downloaded": "maybe"}).status_code == 400
    assert client.delete("/__mock/images").json() == {"cleared": 2}


def test_reset_clears_rules_journal_images_and_rate_windows(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit="1/min")
    client.post("/__mock/faults", json={"status": 500, "times": None, "prompt": "never matches"})
    generate(client)
    assert client.post("/__mock/reset").json() == {"reset": True}
    assert client.get("/__mock/faults").json()["rules"] == []
    assert client.get("/__mock/requests").json()["total"] == 0 and client.get("/__mock/images").json()["total"] == 0
    assert generate(client) == 201  # the rate window was emptied too


def test_the_index_lists_the_endpoints(make_client: Callable[..., TestClient]) -> None:
    assert "POST /__mock/faults" in make_client().get("/__mock").json()["endpoints"]


# -- safety ----------------------------------------------------------------------------------------


def test_no_admin_turns_the_routes_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(admin=False)
    response = client.post("/__mock/faults", json={"status": 503})
    assert response.status_code == 404 and response.json()["statusCode"] == 404
    assert generate(client) == 201


def test_an_admin_token_guards_the_admin_api_only(make_client: Callable[..., TestClient]) -> None:
    client = make_client(admin_token="s3cret", error_style="openai")
    assert client.get("/__mock/requests").status_code == 401
    wrong = client.get("/__mock/requests", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "admin token" in wrong.json()["error"]["message"]
    assert client.get("/__mock/requests", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert generate(client) == 201


def test_admin_routes_never_collide_with_api_paths() -> None:
    for profile in ("aimlapi", "openai"):
        paths = load_contract(profile, "aimlapi").document["paths"]  # type: ignore[arg-type]
        assert not any(path.startswith("/__mock") for path in paths)


def test_usage_shows_the_spend_of_answered_requests_and_goes_with_the_journal(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=("sk-usage-test-key",))
    auth = {"authorization": "Bearer sk-usage-test-key"}
    client.post(GENERATE, json={"model": "dall-e-3", "prompt": "a fox", "quality": "hd"}, headers=auth)  # $0.08
    client.post(GENERATE, json={"model": "dall-e-3", "prompt": "a fox", "size": "9x9"}, headers=auth)  # a 400
    client.post(GENERATE, json={"model": "flux/schnell", "prompt": "a fox", "num_images": 2},
                headers={**auth, "X-Mock-Test": "tests/test_mine.py::test_two"})  # 2 x 120000 credits
    usage = client.get("/__mock/usage").json()
    assert usage["total"] == {"credits": 400_000, "usd": 0.2, "images": 3, "requests": 2}
    assert usage["by_model"]["flux/schnell"] == {"credits": 240_000, "usd": 0.12, "images": 2, "requests": 1}
    assert list(usage["by_test"]) == ["tests/test_mine.py::test_two"]
    [key] = usage["by_key"]
    assert key == "sk-us...(17 chars)"  # redacted, as the journal shows keys
    newest, refused, oldest = client.get("/__mock/requests").json()["requests"]
    assert newest["cost"] == {"credits": 240_000, "usd": 0.12, "images": 2}
    assert oldest["cost"] == {"credits": 160_000, "usd": 0.08, "images": 1} and refused["cost"] is None
    client.delete("/__mock/requests")
    assert client.get("/__mock/usage").json()["total"]["requests"] == 0
