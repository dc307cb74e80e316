"""LiteLLM's `image_generation`, through its `openai/` route (the openai SDK) and its `aiml/` provider (its own
HTTP client, AI/ML API request shapes). Imported once, offline: `LITELLM_LOCAL_MODEL_COST_MAP=True` (conftest)."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from tests.e2e.clients.conftest import KEY, PROMPT, Served, cell

OPENAI, AIML = "LiteLLM `openai/`", "LiteLLM `aiml/`"


@pytest.fixture(scope="package")
def litellm(offline: None) -> Any:
    """LiteLLM, imported once for the matrix (it takes seconds), under the offline guard."""
    import litellm as module

    module.suppress_debug_info = True  # its "Give Feedback / Get Help" banner on every error
    return module


def via_openai(litellm: Any, mock: Served, *, key: str = KEY, **options: Any) -> Any:
    call = {"model": "openai/dall-e-2", "prompt": PROMPT, "size": "256x256", **options}
    return litellm.image_generation(api_base=mock.base_url, api_key=key, **call)


def via_aiml(litellm: Any, mock: Served, *, key: str = KEY, **options: Any) -> Any:
    call = {"model": "aiml/dall-e-2", "prompt": PROMPT, **options}
    return litellm.image_generation(api_base=mock.url, api_key=key, **call)


# -- openai/: the openai SDK with LiteLLM's parameter checks in front ----------------------------------------


@cell(OPENAI, "url", "yes")
def test_openai_url(litellm: Any, mock: Served) -> None:
    image = via_openai(litellm, mock, model="openai/dall-e-3", size="1024x1024").data[0]
    assert image.url.startswith(f"{mock.url}/images/") and image.revised_prompt


@cell(OPENAI, "b64_json", "only as `extra_body={\"response_format\": \"b64_json\"}`")
def test_openai_b64_json_only_through_extra_body(litellm: Any, mock: Served) -> None:
    with pytest.raises(litellm.UnsupportedParamsError, match="response_format"):
        via_openai(litellm, mock, response_format="b64_json")
    assert mock.generations() == []  # refused before anything was sent
    result = via_openai(litellm, mock, extra_body={"response_format": "b64_json"})
    assert base64.b64decode(result.data[0].b64_json).startswith(b"\x89PNG")


@cell(OPENAI, "400", "`litellm.BadRequestError` (an `openai.BadRequestError`); names the field")
def test_openai_400_names_the_field(litellm: Any, mock: Served) -> None:
    with pytest.raises(litellm.BadRequestError, match='at "size"') as caught:
        via_openai(litellm, mock, size="1792x1024")
    assert isinstance(caught.value, openai.BadRequestError) and caught.value.status_code == 400


@cell(OPENAI, "401", "`litellm.AuthenticationError`")
def test_openai_401(litellm: Any, mock: Served) -> None:
    with pytest.raises(litellm.AuthenticationError):
        via_openai(litellm, mock, key="sk-wrong")


@cell(OPENAI, "429 then success", "retried by the openai SDK, after `retry-after-ms`")
def test_openai_429_is_retried(litellm: Any, mock: Served) -> None:
    mock.fail_next(429, retry_after=0.05)
    assert via_openai(litellm, mock).data[0].url and mock.statuses() == [429, 201]


@cell(OPENAI, "dropped connection", "retried; then `litellm.InternalServerError` (\"Connection error.\")")
def test_openai_dropped_connection(litellm: Any, mock: Served) -> None:
    mock.drop_next()
    assert via_openai(litellm, mock).data[0].url and mock.statuses() == [0, 201]
    mock.handle.backend.add_fault({"kind": "drop", "times": 3})
    with pytest.raises(litellm.InternalServerError, match="Connection error"):  # not its APIConnectionError
        via_openai(litellm, mock)
    assert mock.statuses() == [0, 201, 0, 0, 0]


def test_openai_route_copies_extra_headers_into_the_body(litellm: Any, mock: Served) -> None:
    # What docs/clients.md warns about: the header reaches the mock, and so does a body field named after it.
    with pytest.raises(litellm.ServiceUnavailableError):
        via_openai(litellm, mock, extra_headers={"X-Mock-Fault": "503"}, num_retries=0, max_retries=0)
    sent = mock.generations()[0]
    assert sent.headers["x-mock-fault"] == "503" and sent.json["extra_headers"] == {"X-Mock-Fault": "503"}
    assert [violation.path for violation in sent.violations] == ["$.extra_headers"]


# -- aiml/: LiteLLM's own AI/ML API provider ------------------------------------------------------------------


@cell(AIML, "url", "yes")
def test_aiml_url(litellm: Any, mock: Served) -> None:
    image = via_aiml(litellm, mock, model="aiml/dall-e-3").data[0]
    assert image.url.startswith(f"{mock.url}/images/") and image.revised_prompt
    assert mock.generations()[0].headers["user-agent"].startswith("litellm/")
    # `api_base` with `/v1` too (LiteLLM strips it), and `AIML_API_BASE` / `AIML_API_KEY` instead of arguments
    assert litellm.image_generation(model="aiml/dall-e-3", prompt=PROMPT, api_base=mock.base_url, api_key=KEY).data
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIML_API_BASE", mock.url)
        env.setenv("AIML_API_KEY", KEY)
        assert litellm.image_generation(model="aiml/dall-e-3", prompt=PROMPT).data
    assert mock.statuses() == [201, 201, 201]


@cell(AIML, "b64_json", "for `openai/gpt-image-*` only; DALL·E gets a URL (it sends `output_format`)")
def test_aiml_b64_json_for_gpt_image_but_not_dalle(litellm: Any, mock: Served) -> None:
    image = via_aiml(litellm, mock, model="aiml/openai/gpt-image-1", response_format="b64_json").data[0]
    assert base64.b64decode(image.b64_json).startswith(b"\x89PNG")  # OpenAI-shaped models: passed through
    # For every other model `response_format` becomes `output_format`, which DALL·E does not define: the API
    # ignores it and answers with a URL (never a 5xx), recording the field as a violation.
    dalle = via_aiml(litellm, mock, response_format="b64_json").data[0]
    assert dalle.url.startswith(f"{mock.url}/images/") and dalle.b64_json is None
    sent = mock.generations()[-1]
    assert sent.json["output_format"] == "b64_json" and [v.path for v in sent.violations] == ["$.output_format"]


def test_aiml_sends_flux_shaped_fields_which_dalle_ignores(litellm: Any, mock: Served) -> None:
    # `size` and `n` become FLUX's `image_size` and `num_images`: DALL·E does not define them, so the real API
    # (and the mock) ignore them, and the journal records each as a violation.
    result = via_aiml(litellm, mock, model="aiml/dall-e-3", size="1792x1024", n=2)
    assert len(result.data) == 1
    [sent] = mock.generations()
    assert sent.json["image_size"] == {"width": 1792, "height": 1024} and sent.json["num_images"] == 2
    assert {violation.path for violation in sent.violations} == {"$.image_size", "$.num_images"}
    flux = via_aiml(litellm, mock, model="aiml/flux/schnell", size="512x512", n=2)
    assert len(flux.data) == 2 and not mock.generations()[-1].violations  # FLUX's own fields: valid
    via_aiml(litellm, mock, extra_body={"seed": 7})  # not merged: sent as a field named `extra_body`
    assert mock.generations()[-1].json["extra_body"] == {"seed": 7}


@cell(AIML, "400", "`litellm.BadRequestError`; the message is the body, naming the field")
def test_aiml_400_names_the_field(litellm: Any, mock: Served) -> None:
    with pytest.raises(litellm.BadRequestError, match=r'at \\"image_size.width\\"'):
        via_aiml(litellm, mock, model="aiml/flux/schnell", size="99999x512")


@cell(AIML, "401", "`litellm.AuthenticationError`")
def test_aiml_401(litellm: Any, mock: Served) -> None:
    with pytest.raises(litellm.AuthenticationError):
        via_aiml(litellm, mock, key="sk-wrong")


@cell(AIML, "429 then success", "no retry, even with `num_retries`: `litellm.RateLimitError`")
def test_aiml_429_is_not_retried(litellm: Any, mock: Served) -> None:
    mock.fail_next(429, retry_after=0.05)
    with pytest.raises(litellm.RateLimitError):
        via_aiml(litellm, mock, num_retries=2)
    assert mock.statuses() == [429]


@cell(AIML, "dropped connection", "no retry: `litellm.InternalServerError` (\"Server disconnected\")")
def test_aiml_dropped_connection(litellm: Any, mock: Served) -> None:
    mock.drop_next()
    with pytest.raises(litellm.InternalServerError, match="Server disconnected"):
        via_aiml(litellm, mock)
    assert mock.statuses() == [0]
