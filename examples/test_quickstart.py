"""The README's "Use in your test suite" example, run by this project's own suite.

Installing aiml-mock (see the README's "Install") registers the pytest plugin: these tests need no conftest.py and no
network.
"""

import openai
import pytest

from aiml_mock import MockHandle


def make_thumbnail(client: openai.OpenAI, prompt: str) -> str:
    """The code under test: one small image, its URL."""
    result = client.images.generate(model="dall-e-2", prompt=prompt, size="256x256")
    return result.data[0].url or ""


def test_thumbnail_request(aiml_mock: MockHandle, aiml_mock_openai: openai.OpenAI) -> None:
    url = make_thumbnail(aiml_mock_openai, "a lighthouse at dusk")
    assert url.startswith(aiml_mock.url)  # a real 256x256 PNG is served there
    aiml_mock.assert_called(times=1, model="dall-e-2", size="256x256")
    aiml_mock.assert_all_valid()  # nothing the API's contract forbids was sent


def test_retries_a_rate_limit(aiml_mock: MockHandle, aiml_mock_openai: openai.OpenAI) -> None:
    aiml_mock.fail_next(429, retry_after=0.01)  # the SDK waits 10 ms, retries, and succeeds
    assert make_thumbnail(aiml_mock_openai, "a lighthouse")
    assert [request.status for request in aiml_mock.requests] == [429, 201]


def test_gives_up_on_a_bad_request(aiml_mock: MockHandle, aiml_mock_openai: openai.OpenAI) -> None:
    aiml_mock.fail_next(400, message="Your prompt was rejected")
    with pytest.raises(openai.BadRequestError, match="Your prompt was rejected"):
        make_thumbnail(aiml_mock_openai, "a lighthouse")
    aiml_mock.assert_called(times=1)  # no retry


@pytest.mark.aiml_mock(profile="openai")  # this test only: OpenAI's behaviour (200, OpenAI error bodies)
def test_with_openai_behaviour(aiml_mock: MockHandle, aiml_mock_openai: openai.OpenAI) -> None:
    make_thumbnail(aiml_mock_openai, "a lighthouse")
    assert aiml_mock.last_request.status == 200


def test_app_code_building_its_own_client(aiml_mock_env: MockHandle) -> None:
    client = openai.OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY, which point at the mock
    make_thumbnail(client, "a lighthouse")
    aiml_mock_env.assert_called(times=1, prompt="a lighthouse")
