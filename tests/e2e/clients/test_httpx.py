"""`httpx`: plain HTTP, sync; no retries of its own for a status (its transport retries connects only)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.e2e.clients.conftest import KEY, PROMPT, Served, cell

CLIENT = "httpx"


def post(mock: Served, *, key: str = KEY, **body: Any) -> httpx.Response:
    sent = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256", **body}
    with httpx.Client(base_url=mock.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        return client.post("/images/generations", json=sent)


@cell(CLIENT, "url", "yes")
def test_url(mock: Served) -> None:
    url = post(mock).raise_for_status().json()["data"][0]["url"]
    image = httpx.get(url, timeout=10)
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")


@cell(CLIENT, "b64_json", "yes")
def test_b64_json(mock: Served) -> None:
    data = post(mock, response_format="b64_json").json()["data"]
    assert base64.b64decode(data[0]["b64_json"]).startswith(b"\x89PNG")


@cell(CLIENT, "400", "`raise_for_status()`: `HTTPStatusError`; `.json()[\"message\"]` names the field")
def test_400_names_the_field(mock: Served) -> None:
    answer = post(mock, size="1792x1024")
    assert 'at "size"' in answer.json()["message"]
    with pytest.raises(httpx.HTTPStatusError, match="400 Bad Request"):
        answer.raise_for_status()


@cell(CLIENT, "401", "status 401; `raise_for_status()`: `HTTPStatusError`")
def test_401(mock: Served) -> None:
    answer = post(mock, key="sk-wrong")
    assert answer.status_code == 401 and "valid API key" in answer.json()["message"]


@cell(CLIENT, "429 then success", "no retry: status 429 with `retry-after`, `retry-after-ms`")
def test_429_is_not_retried(mock: Served) -> None:
    mock.fail_next(429, retry_after=0.05)
    answer = post(mock)
    assert (answer.status_code, answer.headers["retry-after"], answer.headers["retry-after-ms"]) == (429, "1", "50")
    assert mock.statuses() == [429] and post(mock).status_code == 201  # the app retries when it wants to


@cell(CLIENT, "dropped connection", "`httpx.RemoteProtocolError`")
def test_dropped_connection(mock: Served) -> None:
    mock.drop_next()
    with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected"):
        post(mock)
