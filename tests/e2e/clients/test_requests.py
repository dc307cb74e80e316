"""`requests`: plain HTTP, with urllib3's `Retry` for 429 when an app mounts one (it reads `retry-after`)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tests.e2e.clients.conftest import KEY, PROMPT, Served, cell

CLIENT = "requests"


def post(mock: Served, *, key: str = KEY, session: requests.Session | None = None, **body: Any) -> requests.Response:
    sent = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256", **body}
    return (session or requests).post(f"{mock.base_url}/images/generations", json=sent, timeout=10,
                                      headers={"Authorization": f"Bearer {key}"})


@cell(CLIENT, "url", "yes")
def test_url(mock: Served) -> None:
    answer = post(mock)
    answer.raise_for_status()
    image = requests.get(answer.json()["data"][0]["url"], timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


@cell(CLIENT, "b64_json", "yes")
def test_b64_json(mock: Served) -> None:
    data = post(mock, response_format="b64_json").json()["data"]
    assert base64.b64decode(data[0]["b64_json"]).startswith(b"\x89PNG")


@cell(CLIENT, "400", "`raise_for_status()`: `HTTPError`; `.json()[\"message\"]` names the field")
def test_400_names_the_field(mock: Served) -> None:
    answer = post(mock, size="1792x1024")
    assert answer.status_code == 400 and 'at "size"' in answer.json()["message"]
    with pytest.raises(requests.HTTPError, match="400 Client Error"):
        answer.raise_for_status()


@cell(CLIENT, "401", "status 401; `raise_for_status()`: `HTTPError`")
def test_401(mock: Served) -> None:
    answer = post(mock, key="sk-wrong")
    assert answer.status_code == 401 and "valid API key" in answer.json()["message"]


@cell(CLIENT, "429 then success", "with urllib3 `Retry(status_forcelist=[429])`: waits `retry-after` (whole seconds)")
def test_429_is_retried_by_a_mounted_retry_after_whole_seconds(mock: Served) -> None:
    retry = Retry(total=2, status_forcelist=[429], allowed_methods=None, respect_retry_after_header=True)
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        mock.fail_next(429, retry_after=0.05)  # retry-after: 1 (rounded up), retry-after-ms: 50
        assert post(mock, session=session).status_code == 201
    first, second = mock.generations()
    assert (first.status, second.status) == (429, 201)
    assert second.time - first.time >= 1.0  # urllib3 reads whole seconds: 0.05 s became its 1 s wait


@cell(CLIENT, "dropped connection", "`requests.ConnectionError`")
def test_dropped_connection(mock: Served) -> None:
    mock.drop_next()
    with pytest.raises(requests.ConnectionError, match="RemoteDisconnected"):
        post(mock)
