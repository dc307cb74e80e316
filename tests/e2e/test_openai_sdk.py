"""The official `openai` SDK against a live mock: the calls, exceptions and fields a real app sees."""

from __future__ import annotations

import asyncio
import base64
import io
import urllib.request

import pytest
from PIL import Image

from aiml_mock import MockServer
from aiml_mock.core.settings import ProtocolName
from tests.conftest import PROMPT

openai = pytest.importorskip("openai", reason="the e2e suite needs the openai SDK (pip install -e '.[test]')")


def fetch_size(url: str) -> tuple[int, int]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (a 127.0.0.1 URL from the mock)
        assert response.headers["content-type"] == "image/png"
        return Image.open(io.BytesIO(response.read())).size  # type: ignore[no-any-return]


def test_sync_client_gets_urls_to_real_pngs(live_server: MockServer) -> None:
    client = openai.OpenAI(base_url=live_server.base_url, api_key="sk-test", max_retries=0)
    result = client.images.generate(model="dall-e-3", prompt=PROMPT, quality="hd", size="1024x1792")
    [image] = result.data
    assert image.revised_prompt and "T-Rex" in image.revised_prompt
    assert image.url and image.url.startswith(live_server.url)
    assert fetch_size(image.url) == (1024, 1792)


def test_sync_client_gets_b64_json(live_server: MockServer) -> None:
    client = openai.OpenAI(base_url=live_server.base_url, api_key="sk-test", max_retries=0)
    result = client.images.generate(model="dall-e-2", prompt="a lighthouse", n=2, size="256x256",
                                    response_format="b64_json")
    assert len(result.data) == 2
    for image in result.data:
        assert image.b64_json and image.url is None and image.revised_prompt is None
        assert Image.open(io.BytesIO(base64.b64decode(image.b64_json))).size == (256, 256)


def test_async_client_generates_concurrently(live_server: MockServer) -> None:
    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=live_server.base_url, api_key="sk-test", max_retries=0) as client:
            results = await asyncio.gather(
                *(client.images.generate(model="dall-e-2", prompt=f"tile {i}", size="256x256") for i in range(8))
            )
        return [result.data[0].url or "" for result in results]

    urls = asyncio.run(run())
    assert len(set(urls)) == 8
    assert fetch_size(urls[3]) == (256, 256)


def test_bad_request_raises_bad_request_error_with_the_body(live_server: MockServer) -> None:
    client = openai.OpenAI(base_url=live_server.base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="x", n=2)
    assert caught.value.status_code == 400
    assert caught.value.request_id
    assert isinstance(caught.value.body, dict) and '"n"' in caught.value.body["message"]


def test_openai_dialect_fills_the_exception_fields(protocol: ProtocolName) -> None:
    with MockServer(protocol=protocol, error_style="openai", api_keys=("sk-right",)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as auth:
            client.images.generate(model="dall-e-3", prompt="x")
        assert auth.value.code == "invalid_api_key"
        good = openai.OpenAI(base_url=server.base_url, api_key="sk-right", max_retries=0)
        with pytest.raises(openai.BadRequestError) as bad:
            good.images.generate(model="dall-e-3", prompt="x", size="256x256")  # type: ignore[arg-type]
        assert bad.value.code == "invalid_size" and bad.value.param == "size"


def test_wrong_key_raises_authentication_error(protocol: ProtocolName) -> None:
    with MockServer(protocol=protocol, api_keys=("sk-right",)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            client.images.generate(model="dall-e-2", prompt="x")
        assert caught.value.status_code == 401
        assert "valid API key" in caught.value.body["message"]  # type: ignore[index]
