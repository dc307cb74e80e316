"""docs/pytest.md's property-test example, run by this project's own suite: Hypothesis draws the requests."""

from typing import Any

import openai
from hypothesis import HealthCheck, given, settings

from aiml_mock import MockHandle
from aiml_mock.tools.strategies import image_requests


def make_images(client: openai.OpenAI, request: dict[str, Any]) -> list[str]:
    """The code under test: whatever it is asked for, the URLs (or base64 data) of the images."""
    result = client.images.generate(**request)
    return [image.url or image.b64_json or "" for image in result.data]


# The examples of one test share its mock: tell Hypothesis so, and reset the mock at the start of each.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(request=image_requests("dall-e-2"))
def test_every_valid_request_gets_its_images(aiml_mock: MockHandle, aiml_mock_openai: openai.OpenAI,
                                             request: dict[str, Any]) -> None:
    aiml_mock.reset()
    images = make_images(aiml_mock_openai, request)
    assert len(images) == int(request.get("n") or 1) and all(images)
    aiml_mock.assert_called(times=1, status=201)
    aiml_mock.assert_all_valid()
