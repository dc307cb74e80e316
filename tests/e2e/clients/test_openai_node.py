"""The official `openai` Node SDK (6.x, `tests/e2e/clients/node/package-lock.json`), run by the machine's `node`."""

from __future__ import annotations

from typing import Any

from tests.e2e.clients.conftest import KEY, PROMPT, Served, cell, run_node

CLIENT = "openai (Node)"


def generate(node: str, mock: Served, *, key: str = KEY, read_body: bool = False, **request: Any) -> dict[str, Any]:
    body = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256", **request}
    return run_node(node, "openai_sdk.mjs", {"baseURL": mock.base_url, "apiKey": key, "request": body,
                                              "readBody": read_body})


@cell(CLIENT, "url", "yes")
def test_url(node: str, mock: Served) -> None:
    outcome = generate(node, mock, model="dall-e-3", size="1024x1024")
    [image] = outcome["data"]
    assert image["url"].startswith(f"{mock.url}/images/") and image["revised_prompt"]
    assert mock.generations()[0].headers["user-agent"].startswith("OpenAI/JS 6.")


@cell(CLIENT, "b64_json", "yes")
def test_b64_json(node: str, mock: Served) -> None:
    outcome = generate(node, mock, response_format="b64_json", n=2)
    assert [image["url"] for image in outcome["data"]] == [None, None]
    assert all(image["b64_bytes"] > 100 for image in outcome["data"])


@cell(CLIENT, "400", "`BadRequestError` \"400 status code (no body)\"; the body through a `fetch` wrapper")
def test_400_says_no_body_but_a_fetch_wrapper_reads_the_field(node: str, mock: Served) -> None:
    outcome = generate(node, mock, size="1792x1024")
    error = outcome["error"]
    # The AI/ML API's flat body has no `error` key, so the SDK keeps nothing of it (the real API: the same).
    assert (error["name"], error["status"], error["message"]) == ("BadRequestError", 400, "400 status code (no body)")
    assert error["error"] is None and error["requestID"]  # x-request-id: the journal has the body under that id
    assert mock.generations()[0].status == 400
    read = generate(node, mock, size="1792x1024", read_body=True)
    assert read["error"]["name"] == "BadRequestError" and 'at "size"' in read["body"]["message"]


@cell(CLIENT, "401", "`AuthenticationError`")
def test_401(node: str, mock: Served) -> None:
    outcome = generate(node, mock, key="sk-wrong")
    assert (outcome["error"]["name"], outcome["error"]["status"]) == ("AuthenticationError", 401)
    assert mock.statuses() == [401]  # not retried


@cell(CLIENT, "429 then success", "retried after `retry-after-ms`")
def test_429_is_retried_after_retry_after_ms(node: str, mock: Served) -> None:
    mock.fail_next(429, retry_after=0.05)
    outcome = generate(node, mock)
    assert outcome["ok"] and mock.statuses() == [429, 201]
    assert [entry.headers["x-stainless-retry-count"] for entry in mock.generations()] == ["0", "1"]


@cell(CLIENT, "dropped connection", "retried; `APIConnectionError` once retries run out")
def test_dropped_connection_is_retried_then_raises_api_connection_error(node: str, mock: Served) -> None:
    mock.drop_next()
    assert generate(node, mock)["ok"] and mock.statuses() == [0, 201]
    mock.handle.backend.add_fault({"kind": "drop", "times": 3})
    error = run_node(node, "openai_sdk.mjs", {"baseURL": mock.base_url, "apiKey": KEY, "maxRetries": 2,
                                               "request": {"model": "dall-e-2", "prompt": PROMPT}})["error"]
    assert error["name"] == "APIConnectionError" and error["isAPIError"] and error["status"] is None
    assert mock.statuses() == [0, 201, 0, 0, 0]
