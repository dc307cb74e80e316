"""The pytest plugin, proved by running small user suites with `pytester` and reading their outcomes.

In-process runs (`runpytest_inprocess`) wherever possible; a subprocess only for xdist. The same user
suite (`USER_SUITE`) passes against a mock the plugin starts and against one started separately.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiml_mock import MockServer
from aiml_mock.core.faults import FaultRule

openai = pytest.importorskip("openai", reason="the plugin's suites drive the openai SDK (pip install -e '.[test]')")

STRICT = ("-p", "no:cacheprovider", "-W", "error")
# `runpytest_inprocess` drops the modules first imported during a run: tests/conftest.py's `pytester` loads
# the HTTP libraries' lazily imported cores first (see `load_lazy_http_cores`).

# A user's suite: the public surface of every fixture, in tests that must pass on any mock, local or remote.
USER_SUITE = '''
import asyncio
import re

import httpx
import openai
import pytest


def generate(mock, **body):
    body = {"model": "dall-e-2", "prompt": "a cat", **body}
    return httpx.post(f"{mock.base_url}/images/generations", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {mock.api_key}"})


def test_requests_show_what_was_sent_and_answered(aiml_mock):
    assert aiml_mock.base_url == aiml_mock.url + "/v1"
    assert generate(aiml_mock, size="256x256").status_code == 201
    [request] = aiml_mock.requests
    assert (request.method, request.path, request.status) == ("POST", "/v1/images/generations", 201)
    assert request.json == {"model": "dall-e-2", "prompt": "a cat", "size": "256x256"}
    assert request.response["data"][0]["url"].startswith(aiml_mock.url)
    assert request.violations == ()
    assert request.headers["authorization"].startswith("Bearer ")
    assert aiml_mock.api_key not in request.headers["authorization"]
    assert aiml_mock.last_request.id == request.id


def test_a_fault_left_unused_here_does_not_leak(aiml_mock):
    aiml_mock.fail_next(500, times=5)


def test_each_test_starts_with_no_requests_and_no_faults(aiml_mock):
    assert aiml_mock.requests == []
    assert generate(aiml_mock).status_code == 201


def test_assert_called_counts_and_matches_fields(aiml_mock):
    generate(aiml_mock, size="256x256")
    generate(aiml_mock, model="dall-e-3", prompt="a dog on a beach")
    aiml_mock.assert_called(times=2, path="/v1/images/generations")
    aiml_mock.assert_called(times=1, model="dall-e-3", prompt=re.compile("beach"))
    aiml_mock.assert_called(size=lambda size: size.startswith("256"))
    aiml_mock.assert_called(times=0, model="flux/schnell")


def test_fail_next_5xx_is_retried_by_the_sdk_until_success(aiml_mock, aiml_mock_openai):
    aiml_mock.fail_next(503, times=2, retry_after=0.01)
    image = aiml_mock_openai.images.generate(model="dall-e-2", prompt="a cat")
    assert image.data[0].url
    assert [request.status for request in aiml_mock.requests] == [503, 503, 201]


def test_fail_next_400_is_not_retried(aiml_mock, aiml_mock_openai):
    aiml_mock.fail_next(400, message="No cats today")
    with pytest.raises(openai.BadRequestError, match="No cats today"):
        aiml_mock_openai.images.generate(model="dall-e-2", prompt="a cat")
    aiml_mock.assert_called(times=1, status=400)


def test_async_client_from_any_event_loop(aiml_mock, aiml_mock_async_openai):
    async def one():
        return await aiml_mock_async_openai.images.generate(model="dall-e-2", prompt="a cat", n=2)

    assert len(asyncio.run(one()).data) == 2
    assert len(asyncio.run(one()).data) == 2
    aiml_mock.assert_called(times=2, n=2)


def test_env_routes_clients_that_build_their_own(aiml_mock_env):
    openai.OpenAI().images.generate(model="dall-e-2", prompt="from the environment")
    aiml_mock_env.assert_called(times=1, prompt="from the environment")
'''


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs decide for themselves: no remote mock or xdist worker inherited from the outer run."""
    for name in ("AIML_MOCK_URL", "PYTEST_XDIST_WORKER", "AIML_MOCK_API_KEYS", "AIML_MOCK_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def separate_server() -> Iterator[str]:
    """`aiml-mock serve` in its own process, on a free port: the stand-in for a Docker container."""
    command = [sys.executable, "-c", "from aiml_mock.hosting.cli import main; raise SystemExit(main())", "serve",
               "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        assert "listening on http://" in line, line + (process.stderr.read() if process.stderr else "")
        yield line.split("listening on ")[1].split()[0]
    finally:
        process.terminate()
        process.communicate(timeout=10)


# -- the aiml_mock fixture -------------------------------------------------------------------------


def test_user_suite_passes_against_the_mock_the_plugin_starts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_SUITE)
    result = pytester.runpytest_inprocess(*STRICT)
    result.assert_outcomes(passed=USER_SUITE.count("\ndef test_"))


def test_an_in_process_run_leaves_the_sdk_raising_its_own_connection_errors(pytester: pytest.Pytester) -> None:
    """After a suite ran the fixtures in-process, a dropped connection still reaches this process's SDK
    as `openai.APIConnectionError`, not as a raw `httpcore2` error (the SDK was loaded before the run)."""
    pytester.makepyfile(test_user='''
        def test_first_request_of_the_process(aiml_mock_openai):
            assert aiml_mock_openai.images.generate(model="dall-e-2", prompt="a cat").data
    ''')
    pytester.runpytest_inprocess(*STRICT).assert_outcomes(passed=1)
    with MockServer() as server:
        server.state.faults.add(FaultRule(kind="drop"))
        sdk = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        with pytest.raises(openai.APIConnectionError):
            sdk.images.generate(model="dall-e-2", prompt="a cat")
        sdk.close()


def test_plugin_is_registered_through_the_pytest11_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*fixtures defined from aiml_mock.tools.pytest_plugin*", "aiml_mock_settings *",
                                 "aiml_mock -- *", "aiml_mock_openai -- *", "aiml_mock_async_openai -- *",
                                 "aiml_mock_env -- *"])
    assert "--aiml-mock-url" in "\n".join(pytester.runpytest_inprocess("--help").outlines)


def test_assert_called_failure_lists_each_request_and_how_it_differs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        import httpx

        def test_wrong_size(aiml_mock):
            for size in ("256x256", "512x512"):
                httpx.post(f"{aiml_mock.base_url}/images/generations", timeout=10,
                           json={"model": "dall-e-2", "prompt": "a cat", "size": size},
                           headers={"Authorization": f"Bearer {aiml_mock.api_key}"})
            aiml_mock.assert_called(times=1, size="1024x1024")
    ''')
    result = pytester.runpytest_inprocess(*STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*aiml-mock: expected 1 generation request matching size='1024x1024', got 0.",
        "*The 2 requests this test made:",
        "*1. POST /v1/images/generations -> 201  model='dall-e-2' prompt='a cat' size='256x256'",
        "*-> size is '256x256'",
        "*2. POST /v1/images/generations -> 201  model='dall-e-2' prompt='a cat' size='512x512'",
        "*-> size is '512x512'",
    ])


def test_last_request_and_assert_called_without_requests_say_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        def test_last(aiml_mock):
            aiml_mock.last_request

        def test_called(aiml_mock):
            aiml_mock.assert_called(model="dall-e-3")
    ''')
    result = pytester.runpytest_inprocess(*STRICT)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no request reached the mock since the test started*",
                                 "*expected at least one generation request matching model='dall-e-3', got 0.*",
                                 "*No request reached the mock in this test.*"])


def test_assert_all_valid_fails_listing_each_violation_with_its_request(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        import httpx

        def test_sloppy_client(aiml_mock):
            send = lambda body: httpx.post(f"{aiml_mock.base_url}/images/generations", json=body, timeout=10,
                                           headers={"Authorization": f"Bearer {aiml_mock.api_key}"})
            send({"model": "dall-e-2", "prompt": "fine"})
            send({"model": "dall-e-3", "prompt": "a cat", "size": "512x512"})
            send({"model": "dall-e-2", "prompt": "a cat", "colour": "blue"})
            aiml_mock.assert_all_valid()
    ''')
    result = pytester.runpytest_inprocess(*STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*aiml-mock: 2 of the 3 requests this test made broke the contract*",
        "*2. POST /v1/images/generations -> 400  model='dall-e-3' prompt='a cat' size='512x512'",
        "*- $.size: *512x512*",
        "*3. POST /v1/images/generations -> 20?  model='dall-e-2' prompt='a cat' colour='blue'",
        "*- $.colour: *",
    ])


def test_fail_next_answers_in_the_configured_dialect_with_retry_after(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        import httpx
        import pytest

        def post(mock):
            return httpx.post(f"{mock.base_url}/images/generations", timeout=10,
                              json={"model": "dall-e-2", "prompt": "a cat"},
                              headers={"Authorization": f"Bearer {mock.api_key}"})

        def test_aimlapi_dialect(aiml_mock):
            aiml_mock.fail_next(429, retry_after=3)
            response = post(aiml_mock)
            assert (response.status_code, response.headers["retry-after"]) == (429, "3")
            assert response.json()["statusCode"] == 429
            assert post(aiml_mock).status_code == 201

        @pytest.mark.aiml_mock(error_style="openai")
        def test_openai_dialect(aiml_mock):
            aiml_mock.fail_next(503, message="Try later")
            response = post(aiml_mock)
            assert response.status_code == 503 and "retry-after" not in response.headers
            assert response.json()["error"]["message"] == "Try later"
    ''')
    pytester.runpytest_inprocess(*STRICT).assert_outcomes(passed=2)


def test_fail_next_429_with_retry_after_zero_is_retried_by_the_sdk(pytester: pytest.Pytester) -> None:
    """The issue's literal case: the SDK ignores a zero delay and backs off on its own (~0.5-1 s)."""
    pytester.makepyfile(test_user='''
        def test_rate_limited_once(aiml_mock, aiml_mock_openai):
            aiml_mock.fail_next(429, retry_after=0)
            assert aiml_mock_openai.images.generate(model="dall-e-3", prompt="a cat").data
            assert [request.status for request in aiml_mock.requests] == [429, 201]
            assert aiml_mock.requests[0].response["statusCode"] == 429
    ''')
    pytester.runpytest_inprocess(*STRICT).assert_outcomes(passed=1)


def test_fail_next_with_a_bad_status_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        def test_bad(aiml_mock):
            aiml_mock.fail_next(200)
    ''')
    result = pytester.runpytest_inprocess(*STRICT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ValueError: status must be an HTTP error status from 400 to 599, not 200*"])


# -- the client fixtures ---------------------------------------------------------------------------


def test_openai_fixtures_skip_with_a_clear_message_without_openai(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('''
        import sys
        import pytest

        @pytest.fixture(autouse=True)
        def no_openai(monkeypatch):
            monkeypatch.setitem(sys.modules, "openai", None)
    ''')
    pytester.makepyfile(test_user='''
        def test_sync(aiml_mock_openai): pass
        def test_async(aiml_mock_async_openai): pass
        def test_the_rest_still_works(aiml_mock, aiml_mock_env): pass
    ''')
    result = pytester.runpytest_inprocess("-rs", *STRICT)
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*aiml_mock_openai needs the openai package: pip install openai*",
                                 "*aiml_mock_async_openai needs the openai package: pip install openai*"])


def test_env_fixture_sets_the_usual_variables_for_one_test_only(pytester: pytest.Pytester,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-developers-own")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makepyfile(test_user='''
        import os

        def test_set(aiml_mock_env):
            for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "AIML_API_URL"):
                assert os.environ[name] == aiml_mock_env.base_url
            for name in ("OPENAI_API_KEY", "AIML_API_KEY", "AIMLAPI_API_KEY"):
                assert os.environ[name] == aiml_mock_env.api_key

        def test_restored():
            assert os.environ["OPENAI_API_KEY"] == "sk-the-developers-own"
            assert "OPENAI_BASE_URL" not in os.environ
    ''')
    pytester.runpytest_inprocess(*STRICT).assert_outcomes(passed=2)


# -- the marker ------------------------------------------------------------------------------------


def test_marker_settings_apply_to_that_test_only_on_the_same_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        import openai
        import pytest

        URLS = []

        @pytest.mark.aiml_mock(success_status=200, api_keys=["sk-only-this"], error_style="openai", seed=7)
        def test_marked(aiml_mock, aiml_mock_openai):
            URLS.append(aiml_mock.url)
            assert aiml_mock.api_key == "sk-only-this"
            aiml_mock_openai.images.generate(model="dall-e-2", prompt="a cat")
            assert aiml_mock.last_request.status == 200
            with pytest.raises(openai.AuthenticationError) as caught:
                openai.OpenAI(base_url=aiml_mock.base_url, api_key="sk-other", max_retries=0).images.generate(
                    model="dall-e-2", prompt="a cat")
            assert caught.value.code == "invalid_api_key"

        def test_unmarked(aiml_mock, aiml_mock_openai):
            URLS.append(aiml_mock.url)
            aiml_mock_openai.images.generate(model="dall-e-2", prompt="a cat")
            assert aiml_mock.last_request.status == 201

        @pytest.mark.aiml_mock(profile="openai")
        class TestMarkedClass:
            @pytest.mark.aiml_mock(success_status=202)
            def test_closest_marker_wins_and_merges(self, aiml_mock, aiml_mock_openai):
                URLS.append(aiml_mock.url)
                aiml_mock_openai.images.generate(prompt="no model: the openai profile defaults to dall-e-2")
                assert (aiml_mock.last_request.status, aiml_mock.last_request.model) == (202, "dall-e-2")

        def test_one_server_served_them_all():
            assert len(URLS) == 3 and len(set(URLS)) == 1
    ''')
    pytester.runpytest_inprocess(*STRICT).assert_outcomes(passed=4)


def test_marker_needing_another_socket_gets_its_own_mock_for_that_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        import pytest

        URLS = []

        def test_shared(aiml_mock):
            URLS.append(aiml_mock.url)

        @pytest.mark.aiml_mock(log_level="error")
        def test_own(aiml_mock, aiml_mock_openai):
            URLS.append(aiml_mock.url)
            aiml_mock_openai.images.generate(model="dall-e-2", prompt="a cat")
            aiml_mock.assert_called(times=1)

        def test_shared_again(aiml_mock):
            URLS.append(aiml_mock.url)
            assert URLS[0] == URLS[2] != URLS[1]
    ''')
    pytester.runpytest_inprocess(*STRICT).assert_outcomes(passed=3)


def test_marker_with_an_unknown_setting_fails_naming_the_closest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        import pytest

        @pytest.mark.aiml_mock(api_key="sk-1")
        def test_typo(aiml_mock): pass

        @pytest.mark.aiml_mock("openai")
        def test_positional(aiml_mock): pass

        @pytest.mark.aiml_mock(error_style="klingon")
        def test_bad_value(aiml_mock): pass
    ''')
    result = pytester.runpytest_inprocess(*STRICT)
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        "*@pytest.mark.aiml_mock: unknown setting 'api_key' (did you mean 'api_keys'?). Settings: host, port, *",
        "*@pytest.mark.aiml_mock takes settings by name, e.g. @pytest.mark.aiml_mock(seed=7); got positional*",
        "*@pytest.mark.aiml_mock(error_style='klingon'): error_style must be one of aimlapi, openai*",
    ])


def test_session_settings_come_from_an_overridable_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('''
        import pytest
        from aiml_mock import Settings

        @pytest.fixture(scope="session")
        def aiml_mock_settings():
            return Settings(port=0, profile="openai", api_keys=("sk-team",))
    ''')
    pytester.makepyfile(test_user='''
        def test_profile(aiml_mock, aiml_mock_openai):
            assert aiml_mock.api_key == "sk-team"
            aiml_mock_openai.images.generate(prompt="no model needed in the openai profile")
            assert aiml_mock.last_request.status == 200
    ''')
    pytester.runpytest_inprocess(*STRICT).assert_outcomes(passed=1)


# -- a mock started separately: --aiml-mock-url and AIML_MOCK_URL -------------------------------------


def test_user_suite_passes_against_a_separately_started_mock(pytester: pytest.Pytester, separate_server: str
                                                             ) -> None:
    pytester.makepyfile(test_user=USER_SUITE + f'''

def test_it_is_the_separate_mock(aiml_mock):
    assert aiml_mock.url == "{separate_server}" and not aiml_mock.local
''')
    result = pytester.runpytest_inprocess("--aiml-mock-url", separate_server, *STRICT)
    result.assert_outcomes(passed=USER_SUITE.count("\ndef test_") + 1)
    result.stdout.fnmatch_lines([f"aiml-mock: using the mock at {separate_server}"])


def test_environment_variable_names_the_mock_too_and_markers_fall_back_to_a_local_one(
        pytester: pytest.Pytester, separate_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIML_MOCK_URL", separate_server + "/v1")
    pytester.makepyfile(test_user=f'''
        import pytest

        def test_remote(aiml_mock):
            assert aiml_mock.url == "{separate_server}" and not aiml_mock.local

        @pytest.mark.aiml_mock(success_status=200)
        def test_marked(aiml_mock, aiml_mock_openai):
            assert aiml_mock.url != "{separate_server}" and aiml_mock.local
            aiml_mock_openai.images.generate(model="dall-e-2", prompt="a cat")
            assert aiml_mock.last_request.status == 200
    ''')
    result = pytester.runpytest_inprocess(*STRICT)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*- aiml-mock -*",
        f"1 test(s) marked @pytest.mark.aiml_mock(...) ran on a mock in this process, not on {separate_server}*",
        "  test_user.py::test_marked",
    ])


def test_remote_mock_with_keys_and_an_admin_token_is_reached_with_the_containers_variables(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    with MockServer(api_keys=("sk-ci",), admin_token="admin-secret") as server:
        monkeypatch.setenv("AIML_MOCK_API_KEYS", "sk-ci")
        monkeypatch.setenv("AIML_MOCK_ADMIN_TOKEN", "admin-secret")
        pytester.makepyfile(test_user=USER_SUITE)
        result = pytester.runpytest_inprocess("--aiml-mock-url", server.url, *STRICT)
    result.assert_outcomes(passed=USER_SUITE.count("\ndef test_"))


def test_unreachable_or_locked_remote_mock_errors_saying_what_to_do(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
        def test_one(aiml_mock): pass
        def test_two(aiml_mock): pass
    ''')
    with MockServer() as server:
        gone = server.url
    result = pytester.runpytest_inprocess("--aiml-mock-url", gone, *STRICT)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"*aiml-mock: no mock answers at {gone}*",
                                 "*(from --aiml-mock-url or $AIML_MOCK_URL)"])
    with MockServer(admin_token="admin-secret") as server:
        result = pytester.runpytest_inprocess("--aiml-mock-url", server.url, *STRICT)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"*aiml-mock: {server.url} answered 401 to GET /__mock/faults*AIML_MOCK_ADMIN_TOKEN*"])


# -- what it cost ------------------------------------------------------------------------------------

COST_SUITE = '''
import httpx
import openai
import pytest


def test_spend_of_this_test(aiml_mock, aiml_mock_openai):
    for _ in range(2):
        aiml_mock_openai.images.generate(model="dall-e-3", prompt="a lighthouse")  # $0.04 each
    assert aiml_mock.credits_used == 160_000 and aiml_mock.spent_usd == 0.08
    assert aiml_mock.assert_spent(below=0.10) == 0.08
    with pytest.raises(AssertionError, match="would have cost .0.0800 on the real API, not below .0.0500"):
        aiml_mock.assert_spent(below=0.05)
    usage = httpx.get(f"{aiml_mock.url}/__mock/usage").json()
    assert usage["by_test"] == {"test_cost.py::test_spend_of_this_test": usage["total"]}


def test_the_next_test_starts_at_nothing(aiml_mock):
    assert aiml_mock.spent_usd == 0 and aiml_mock.credits_used == 0


@pytest.mark.aiml_mock(budget_usd=0.05)
def test_a_budget_from_the_marker(aiml_mock, aiml_mock_openai):
    aiml_mock_openai.images.generate(model="dall-e-3", prompt="a lighthouse")
    with pytest.raises(openai.PermissionDeniedError, match="run out of credits"):
        aiml_mock_openai.images.generate(model="dall-e-3", prompt="a lighthouse")
    assert aiml_mock.spent_usd == 0.04
'''


def test_the_handle_says_what_a_test_spent_and_the_run_what_all_cost(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cost=COST_SUITE)
    result = pytester.runpytest_inprocess(*STRICT)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["aiml-mock: the 3 requests to the mock would have cost $0.12 on the real API "
                                 "(240,000 credits; --aiml-mock-no-cost to leave this out)"])


def test_the_cost_line_is_off_with_its_option_and_absent_without_requests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cost=COST_SUITE)
    quiet = pytester.runpytest_inprocess(*STRICT, "--aiml-mock-no-cost")
    quiet.assert_outcomes(passed=3)
    assert "would have cost" not in quiet.stdout.str()
    pytester.makepyfile(test_cost="def test_nothing(aiml_mock):\n    assert aiml_mock.spent_usd == 0\n")
    assert "would have cost" not in pytester.runpytest_inprocess(*STRICT).stdout.str()


# -- xdist: one mock per worker, or one shared remote mock ---------------------------------------------


XDIST_SUITE = '''
import os
import pathlib

import httpx
import pytest


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6])
def test_each_test_sees_only_its_own_requests(aiml_mock, count):
    for _ in range(count):
        httpx.post(f"{aiml_mock.base_url}/images/generations", timeout=10,
                   json={"model": "dall-e-2", "prompt": f"{count} cats"},
                   headers={"Authorization": f"Bearer {aiml_mock.api_key}"})
    aiml_mock.assert_called(times=count, prompt=f"{count} cats")
    assert len(aiml_mock.requests) == count
    with pathlib.Path("urls.txt").open("a") as urls:
        urls.write(f"{os.environ['PYTEST_XDIST_WORKER']} {aiml_mock.url}\\n")
'''


def run_xdist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    """`pytest -p xdist -n 2` in a subprocess, loading only the plugins it needs: three interpreters start,
    and each would import every installed plugin (schemathesis, hypothesis...) otherwise."""
    pytest.importorskip("xdist")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester.runpytest_subprocess("-p", "xdist", "-p", "aiml_mock.tools.pytest_plugin", "-n", "2", *args,
                                         *STRICT)


def test_xdist_workers_each_get_their_own_mock(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_user=XDIST_SUITE)
    result = run_xdist(pytester, monkeypatch)
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["aiml-mock: the 21 requests to the mock would have cost $0.42 on the real API*"])
    lines = set((pytester.path / "urls.txt").read_text().splitlines())
    workers = {line.split()[0] for line in lines}
    assert workers == {"gw0", "gw1"} and len(lines) == 2, lines  # one URL per worker, two different ones


def test_xdist_workers_share_a_remote_mock_without_seeing_each_others_requests(
        pytester: pytest.Pytester, separate_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_user=XDIST_SUITE + USER_SUITE)
    result = run_xdist(pytester, monkeypatch, "--aiml-mock-url", separate_server)
    result.assert_outcomes(passed=6 + USER_SUITE.count("\ndef test_"))
    assert {line.split()[1] for line in (pytester.path / "urls.txt").read_text().splitlines()} == {separate_server}


# -- the docs --------------------------------------------------------------------------------------


def test_documented_examples_are_the_example_files_the_suite_runs() -> None:
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text().split("## Use in your test suite", 1)[1].split("\n## ", 1)[0]
    reference = (root / "docs" / "pytest.md").read_text()
    for doc, text, name in (("README.md", readme, "test_quickstart.py"),
                            ("docs/pytest.md", reference, "test_properties.py")):
        shown = [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]
        docstring, _, code = (root / "examples" / name).read_text().partition('"""\n\n')
        assert docstring.startswith('"""') and code in shown, f"{doc} and examples/{name} differ"
