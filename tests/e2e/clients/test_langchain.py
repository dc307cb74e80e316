"""LangChain's `DallEAPIWrapper` (langchain_community): the openai SDK underneath, `base_url=` to the mock."""

from __future__ import annotations

import warnings
from typing import Any

import openai
import pytest

from tests.e2e.clients.conftest import KEY, PROMPT, Served, cell

CLIENT = "LangChain `DallEAPIWrapper`"
# langchain-community 0.4 warns on import that it is being sunset: true, and no concern of this matrix.
SUNSET = "`langchain-community` is being sunset"


@pytest.fixture(scope="package")
def wrapper_class(offline: None) -> Any:
    """The wrapper, imported once, under the offline guard, with only the sunset warning silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SUNSET, category=DeprecationWarning)
        from langchain_community.utilities.dalle_image_generator import DallEAPIWrapper
    return DallEAPIWrapper


def wrapper(wrapper_class: Any, mock: Served, *, key: str = KEY, **options: Any) -> Any:
    settings = {"model": "dall-e-2", "size": "256x256", "base_url": mock.base_url, "api_key": key, **options}
    return wrapper_class(**settings)


@cell(CLIENT, "url", "yes: `run()` returns the URLs")
def test_url(wrapper_class: Any, mock: Served) -> None:
    urls = wrapper(wrapper_class, mock, n=2).run(PROMPT).split("\n")
    assert len(urls) == 2 and all(url.startswith(f"{mock.url}/images/") for url in urls)
    [sent] = mock.generations()
    assert sent.json == {"model": "dall-e-2", "prompt": PROMPT, "n": 2, "size": "256x256"}


@cell(CLIENT, "b64_json", "no: reads only `.url`, drops `response_format`")
def test_b64_json_cannot_be_asked_for(wrapper_class: Any, mock: Served) -> None:
    # An unknown option goes to `model_kwargs` (with a logged warning), which `run()` never sends.
    client = wrapper(wrapper_class, mock, model_kwargs={"response_format": "b64_json"})
    assert client.run(PROMPT).startswith(f"{mock.url}/images/")
    assert "response_format" not in mock.generations()[0].json


@cell(CLIENT, "400", "openai's `BadRequestError`, unwrapped; names the field")
def test_400_names_the_field(wrapper_class: Any, mock: Served) -> None:
    with pytest.raises(openai.BadRequestError, match='at "size"'):
        wrapper(wrapper_class, mock, size="1792x1024").run(PROMPT)


@cell(CLIENT, "401", "openai's `AuthenticationError`")
def test_401(wrapper_class: Any, mock: Served) -> None:
    with pytest.raises(openai.AuthenticationError):
        wrapper(wrapper_class, mock, key="sk-wrong").run(PROMPT)


@cell(CLIENT, "429 then success", "retried by the SDK (`max_retries=2`)")
def test_429_is_retried(wrapper_class: Any, mock: Served) -> None:
    mock.fail_next(429, retry_after=0.05)
    assert wrapper(wrapper_class, mock).run(PROMPT).startswith(mock.url)
    assert mock.statuses() == [429, 201]


@cell(CLIENT, "dropped connection", "retried; `APIConnectionError` once retries run out")
def test_dropped_connection(wrapper_class: Any, mock: Served) -> None:
    mock.drop_next()
    assert wrapper(wrapper_class, mock).run(PROMPT).startswith(mock.url)
    mock.drop_next()
    with pytest.raises(openai.APIConnectionError):
        wrapper(wrapper_class, mock, max_retries=0).run(PROMPT)
    assert mock.statuses() == [0, 201, 0]
