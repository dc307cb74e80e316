"""The official `openai` Python SDK, sync (`OpenAI`) and async (`AsyncOpenAI`): only `base_url` changes."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import openai
import pytest

from tests.e2e.clients.conftest import KEY, PROMPT, Served, cell

SYNC, ASYNC = "openai (Python)", "openai (Python, async)"


def generate(mock: Served, flavour: str, *, key: str = KEY, retries: int = 2, **request: Any) -> Any:
    """One `images.generate` call through the sync or the async client, built as an app builds it."""
    body = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256", **request}
    if flavour == SYNC:
        with openai.OpenAI(base_url=mock.base_url, api_key=key, max_retries=retries) as client:
            return client.images.generate(**body)

    async def call() -> Any:
        async with openai.AsyncOpenAI(base_url=mock.base_url, api_key=key, max_retries=retries) as client:
            return await client.images.generate(**body)

    return asyncio.run(call())


def both(column: str, outcome: str) -> Any:
    """Run the test for each flavour, marked as proving that cell for both."""
    def decorate(test: Any) -> Any:
        return pytest.mark.parametrize("flavour", [
            pytest.param(SYNC, marks=cell(SYNC, column, outcome), id="sync"),
            pytest.param(ASYNC, marks=cell(ASYNC, column, outcome), id="async"),
        ])(test)
    return decorate


@both("url", "yes")
def test_url(mock: Served, flavour: str) -> None:
    image = generate(mock, flavour, model="dall-e-3", size="1024x1024").data[0]
    assert image.url.startswith(f"{mock.url}/images/") and image.revised_prompt
    agent = mock.generations()[0].headers["user-agent"]
    assert agent.startswith("AsyncOpenAI/Python" if flavour == ASYNC else "OpenAI/Python")


@both("b64_json", "yes")
def test_b64_json(mock: Served, flavour: str) -> None:
    result = generate(mock, flavour, response_format="b64_json", n=2)
    assert [image.url for image in result.data] == [None, None]
    assert all(base64.b64decode(image.b64_json).startswith(b"\x89PNG") for image in result.data)


@both("400", "`BadRequestError`; `.message` names the field")
def test_400_names_the_field(mock: Served, flavour: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        generate(mock, flavour, size="1792x1024")
    assert caught.value.status_code == 400 and 'at "size"' in caught.value.message
    assert isinstance(caught.value.body, dict) and "1792x1024" in caught.value.body["message"]
    assert mock.statuses() == [400]  # not retried


@both("401", "`AuthenticationError`")
def test_401(mock: Served, flavour: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        generate(mock, flavour, key="sk-wrong")
    assert caught.value.status_code == 401 and "valid API key" in caught.value.message


@both("429 then success", "retried after `retry-after-ms`")
def test_429_is_retried_after_retry_after_ms(mock: Served, flavour: str) -> None:
    mock.fail_next(429, retry_after=0.05)
    assert generate(mock, flavour).data[0].url
    assert mock.statuses() == [429, 201]
    with pytest.raises(openai.RateLimitError):  # and once retries run out
        mock.fail_next(429, retry_after=0.01, times=2)
        generate(mock, flavour, retries=1)


@both("dropped connection", "retried; `APIConnectionError` once retries run out")
def test_dropped_connection(mock: Served, flavour: str) -> None:
    mock.drop_next()
    assert generate(mock, flavour).data[0].url and mock.statuses() == [0, 201]
    mock.drop_next()
    with pytest.raises(openai.APIConnectionError):
        generate(mock, flavour, retries=0)
