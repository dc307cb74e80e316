"""The provider's own examples from the seed page, run unchanged but for the host."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from aiml_mock import MockServer

requests = pytest.importorskip("requests", reason="the seed example uses requests (pip install -e '.[test]')")


def test_seed_python_example_runs_unchanged_but_for_the_host(live_server: MockServer) -> None:
    # From the provider's DALL·E 3 page: only "https://api.aimlapi.com" is replaced.
    response = requests.post(
        f"{live_server.url}/v1/images/generations",
        headers={
            # Insert your AIML API Key instead of <YOUR_AIMLAPI_KEY>:
            "Authorization": "Bearer <YOUR_AIMLAPI_KEY>",
            "Content-Type": "application/json",
        },
        json={
            "prompt": "A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses.",
            "model": "dall-e-3",
            "quality": "hd",
        },
    )
    response.raise_for_status()
    data = response.json()
    assert response.status_code == 201
    assert set(data) >= {"created", "data"}
    [item] = data["data"]
    assert set(item) == {"revised_prompt", "url"}
    image = requests.get(item["url"], timeout=10)
    assert Image.open(io.BytesIO(image.content)).size == (1024, 1024)


def test_server_keeps_serving_after_hostile_requests(live_server: MockServer) -> None:
    url = f"{live_server.url}/v1/images/generations"
    auth = {"Authorization": "Bearer k"}
    hostile = {
        b"{": 400,
        b"\x00" * 100: 400,
        b'{"model": "dall-e-3", "prompt": "x", "n": 1e400}': 400,
        b"[" * 50_000: 400,
        b'{"prompt": "' + b"\\u0000\\u202e\\ud83d\\ude00" * 500 + b'", "model": "dall-e-3"}': 201,
    }
    for content, status in hostile.items():
        response = requests.post(url, data=content, headers={**auth, "Content-Type": "application/json"}, timeout=10)
        assert response.status_code == status, content[:40]
    ok = requests.post(url, json={"model": "dall-e-2", "prompt": "fine"}, headers=auth, timeout=10)
    assert ok.status_code == 201
