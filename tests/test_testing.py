"""`MockHandle` without pytest's fixtures: the same object, for unittest suites and scripts."""

from __future__ import annotations

import re

import httpx
import pytest

from aiml_mock import MockHandle, MockServer, Settings
from aiml_mock.tools.testing import client_env


def post(handle: MockHandle, **body: object) -> httpx.Response:
    return httpx.post(f"{handle.base_url}/images/generations", timeout=10,
                      json={"model": "dall-e-2", "prompt": "a cat", **body},
                      headers={"Authorization": f"Bearer {handle.api_key}"})


def test_serve_starts_a_mock_that_the_block_stops() -> None:
    with MockHandle.serve(Settings(port=0, api_keys=("sk-mine",))) as handle:
        assert handle.local and handle.api_key == "sk-mine"
        assert post(handle).status_code == 201
        assert handle.last_request.json == {"model": "dall-e-2", "prompt": "a cat"}
    with pytest.raises(httpx.ConnectError):
        post(handle)


def test_configured_swaps_live_settings_and_starts_another_mock_for_socket_settings() -> None:
    with MockHandle.serve() as handle:
        with handle.configured(success_status=200) as changed:
            assert changed is handle and post(handle).status_code == 200
        assert post(handle).status_code == 201
        with handle.configured(log_level="error") as other:
            assert other.url != handle.url and post(other).status_code == 201
        with pytest.raises(TypeError, match="unknown setting"), handle.configured(colour="blue"):
            pass


def test_connect_reads_and_scripts_a_running_mock_through_its_admin_api() -> None:
    with MockServer() as server, MockHandle.connect(server.base_url) as handle:
        assert not handle.local and handle.url == server.url
        handle.fail_next(503, retry_after=2)
        answer = post(handle)
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "2")
        assert [request.status for request in handle.requests] == [503]
        handle.reset()
        assert handle.requests == [] and post(handle).status_code == 201
        with pytest.raises(ValueError, match="status must be an HTTP error status"):
            handle.fail_next(302)
        with pytest.raises(RuntimeError, match="cannot change from a test"), handle.configured(seed=1):
            pass


def test_requests_say_so_when_the_journal_is_off() -> None:
    with MockHandle.serve(journal_size=0) as handle, pytest.raises(RuntimeError, match="journal is off"):
        handle.requests  # noqa: B018


def test_client_env_routes_the_usual_variables() -> None:
    env = client_env("http://127.0.0.1:1/v1", "sk-1")
    urls = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "AIML_API_URL", "AIML_API_BASE_URL", "AIML_API_BASE",
            "AIML_BASE_URL")
    keys = ("OPENAI_API_KEY", "AIML_API_KEY", "AIMLAPI_API_KEY", "AIMLAPI_KEY")
    assert env == {**dict.fromkeys(urls, "http://127.0.0.1:1/v1"), **dict.fromkeys(keys, "sk-1")}


def test_fail_next_can_target_a_model_or_a_prompt() -> None:
    with MockHandle.serve() as handle:
        handle.fail_next(500, model="dall-e-3", times=2)
        handle.fail_next(502, prompt="LIGHTHOUSE")
        assert post(handle).status_code == 201
        assert post(handle, model="dall-e-3").status_code == 500
        assert post(handle, prompt="a lighthouse at dusk").status_code == 502
        assert post(handle, prompt="a lighthouse at dusk").status_code == 201
        handle.assert_called(times=1, status=500, model="dall-e-3")


def test_a_second_mock_for_socket_settings_takes_a_free_port_even_if_the_first_has_a_fixed_one() -> None:
    with MockServer(Settings(port=0)) as probe:
        port = probe.port
    with MockHandle.serve(Settings(port=port)) as handle, handle.configured(log_level="error") as other:
        assert handle.url.endswith(f":{port}") and other.url != handle.url


def test_assert_called_counts_generations_not_image_downloads_unless_told_the_path() -> None:
    with MockHandle.serve() as handle:
        url = post(handle).json()["data"][0]["url"]
        assert httpx.get(url, timeout=10).status_code == 200  # the download is in the journal too
        assert httpx.get(f"{handle.base_url}/models", timeout=10).status_code == 200
        handle.assert_called(times=1)  # the one generation, as `times=1` reads
        handle.assert_called(times=1, status=200, path=re.compile("^/images/"))
        handle.assert_called(times=3, method=lambda method: True)  # every request, with method= or path=
        with pytest.raises(AssertionError) as caught:
            handle.assert_called(times=2)
    message = str(caught.value)
    assert "expected 2 generation requests matching anything, got 1." in message
    assert "2. GET /images/" in message
    assert "-> not a generation: not counted (pass path= or method= to count it)" in message
