"""Slow renders (JPEG, WebP and TIFF from 2048x2048 take milliseconds) run in a worker thread, so the event loop
keeps answering; PNGs of any size take under a millisecond and render on the loop, sparing the thread hop."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiml_mock import Settings, create_app
from aiml_mock.core import images as images_module

AUTH = {"Authorization": "Bearer sk-test"}


@pytest.fixture
def render_threads(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Width of each image rendered -> the thread it was rendered on."""
    seen: dict[int, int] = {}
    real = images_module._render.render_image

    def recorded(spec: Any) -> bytes:
        seen[spec.width] = threading.get_ident()
        return real(spec)

    monkeypatch.setattr(images_module._render, "render_image", recorded)  # what the cache calls
    return seen


def generate(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    answer = client.post("/v1/images/generations", json={"prompt": "a lighthouse", **body}, headers=AUTH)
    assert answer.status_code in (200, 201), answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_a_big_jpeg_fetched_by_url_renders_off_the_event_loop(render_threads: dict[int, int]) -> None:
    with TestClient(create_app(Settings())) as client:
        for side in (512, 2048):
            url = generate(client, {"model": "blackforestlabs/flux-2", "output_format": "jpeg",
                                    "image_size": {"width": side, "height": side}})[0]["url"]
            fetched = client.get(url)
            assert fetched.status_code == 200 and fetched.content.startswith(b"\xff\xd8")
    assert render_threads[512] != render_threads[2048]


def test_big_pngs_render_on_the_event_loop_by_url_and_as_b64_json(render_threads: dict[int, int]) -> None:
    with TestClient(create_app(Settings())) as client:
        small = generate(client, {"model": "dall-e-2", "size": "512x512", "response_format": "b64_json"})[0]
        big = generate(client, {"model": "bytedance/seedream-4-5", "response_format": "b64_json",
                                "image_size": {"width": 4096, "height": 4096}})[0]
        url = generate(client, {"model": "flux-pro", "image_size": {"width": 3072, "height": 3072}})[0]["url"]
        assert client.get(url).content.startswith(b"\x89PNG")
    assert all(base64.b64decode(item["b64_json"]).startswith(b"\x89PNG") for item in (small, big))
    assert render_threads[512] == render_threads[4096] == render_threads[3072]


def test_with_the_plain_renderer_even_small_pngs_render_off_the_event_loop(
    render_threads: dict[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(Settings())) as client:
        generate(client, {"model": "dall-e-2", "size": "256x256", "response_format": "b64_json"})
        monkeypatch.setattr("aiml_mock.web.app.RENDERER", "plain")  # as when Pillow's private API is unavailable
        generate(client, {"model": "dall-e-2", "size": "512x512", "response_format": "b64_json"})
        url = generate(client, {"model": "dall-e-2", "size": "1024x1024"})[0]["url"]
        assert client.get(url).content.startswith(b"\x89PNG")
    loop = render_threads[256]
    assert render_threads[512] != loop and render_threads[1024] != loop
