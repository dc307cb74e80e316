"""Node's built-in `fetch` (Node 18+), as the provider's Node examples call the API: no retries, no exceptions
for a status; the app reads `response.ok` and the body."""

from __future__ import annotations

from typing import Any

from tests.e2e.clients.conftest import KEY, PROMPT, Served, cell, run_node

CLIENT = "Node `fetch`"


def post(node: str, mock: Served, *, key: str = KEY, **body: Any) -> dict[str, Any]:
    sent = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256", **body}
    return run_node(node, "fetch.mjs", {"baseURL": mock.base_url, "apiKey": key, "body": sent})


@cell(CLIENT, "url", "yes")
def test_url(node: str, mock: Served) -> None:
    outcome = post(node, mock)
    assert outcome["ok"] and outcome["body"]["data"][0]["url"].startswith(f"{mock.url}/images/")
    assert outcome["image"]["status"] == 200 and outcome["image"]["type"] == "image/png"
    assert mock.generations()[0].headers["user-agent"] == "node"


@cell(CLIENT, "b64_json", "yes")
def test_b64_json(node: str, mock: Served) -> None:
    outcome = post(node, mock, response_format="b64_json")
    assert outcome["body"]["data"][0]["b64_json"].startswith("iVBORw0KGgo")  # PNG's signature in base64


@cell(CLIENT, "400", "`response.ok` false; the body names the field")
def test_400_names_the_field(node: str, mock: Served) -> None:
    outcome = post(node, mock, size="1792x1024")
    assert (outcome["ok"], outcome["status"]) == (False, 400) and 'at "size"' in outcome["body"]["message"]


@cell(CLIENT, "401", "`response.ok` false, status 401")
def test_401(node: str, mock: Served) -> None:
    outcome = post(node, mock, key="sk-wrong")
    assert (outcome["ok"], outcome["status"]) == (False, 401)


@cell(CLIENT, "429 then success", "no retry: status 429 with `retry-after`, `retry-after-ms`")
def test_429_is_not_retried(node: str, mock: Served) -> None:
    mock.fail_next(429, retry_after=0.05)
    outcome = post(node, mock)
    assert outcome["status"] == 429 and outcome["headers"] == {"retry-after": "1", "retry-after-ms": "50"}
    assert mock.statuses() == [429]


@cell(CLIENT, "dropped connection", "throws `TypeError: fetch failed` (`cause.code` `UND_ERR_SOCKET`)")
def test_dropped_connection(node: str, mock: Served) -> None:
    mock.drop_next()
    thrown = post(node, mock)["thrown"]
    assert (thrown["name"], thrown["message"], thrown["cause"]) == ("TypeError", "fetch failed", "UND_ERR_SOCKET")
