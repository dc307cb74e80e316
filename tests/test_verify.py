"""`aiml-mock verify` against live mocks on free ports: a faithful one passes, a misconfigured one fails,
and the request budget holds, counted by the server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from aiml_mock import MockServer, load_contract
from aiml_mock.hosting.cli import main
from aiml_mock.tools.verify import plan, verify

KEY = "sk-verify-test"


class CountingApp:
    """Wraps an ASGI app and counts every HTTP request it receives: the server's side of the budget."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.count += 1
        await self.app(scope, receive, send)


def counted_server(**settings: Any) -> tuple[MockServer, CountingApp]:
    server = MockServer(api_keys=(KEY,), **settings)
    counter = CountingApp(server.app)
    server.app = counter  # type: ignore[assignment]  # served as is; `.state` is not used here
    return server, counter


@pytest.fixture(scope="module")
def faithful() -> Iterator[tuple[MockServer, CountingApp]]:
    server, counter = counted_server()
    with server:
        yield server, counter


def test_a_faithful_mock_keeps_the_contract_in_every_case(faithful: tuple[MockServer, CountingApp]) -> None:
    server, _ = faithful
    cases = plan(load_contract())
    report = verify(server.url, KEY, max_requests=len(cases) + 1)
    assert [outcome.case.name for outcome in report.outcomes if not outcome.passed] == []
    assert not any(outcome.skipped for outcome in report.outcomes)


def test_a_mock_answering_200_is_caught_against_the_201_contract(capsys: pytest.CaptureFixture[str]) -> None:
    server, _ = counted_server(success_status=200)
    with server:
        code = main(["verify", "--base-url", server.url, "--api-key", KEY])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  dall-e-2 256x256, url" in out and "expected 201, got 200" in out
    assert "2 broke the contract" in out


def test_a_mock_answering_every_model_in_dall_e_s_shape_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A regression to one shape for all: each model is held to its own response schema."""
    import aiml_mock.web.app
    from aiml_mock.core.generation import plan_for

    monkeypatch.setattr(aiml_mock.web.app, "plan_for", lambda contract, model: plan_for(contract, "dall-e-2"))
    cases = plan(load_contract())
    server, _ = counted_server()
    with server:
        report = verify(server.url, KEY, max_requests=len(cases) + 1)
    failed = {outcome.case.name: outcome for outcome in report.outcomes if not outcome.passed}
    flux = failed["flux-pro"]
    assert any("flux-pro's response schema" in violation.message and violation.path == "$.images"
               for violation in flux.violations)
    assert not any(name.startswith("dall-e-2") for name in failed)  # its own shape is still right


@pytest.mark.parametrize("budget", [0, 1, 7, 8, 10, 12])
def test_the_request_budget_is_never_exceeded(faithful: tuple[MockServer, CountingApp], budget: int) -> None:
    server, counter = faithful
    before = counter.count
    report = verify(server.url, KEY, max_requests=budget)
    sent = counter.count - before
    assert sent <= budget
    assert sent == report.requests_sent == sum(outcome.requests for outcome in report.outcomes)
    assert report.ok


def test_refusals_run_first_then_dalle2_at_256(faithful: tuple[MockServer, CountingApp]) -> None:
    server, _ = faithful
    report = verify(server.url, KEY)
    ran = [outcome.case for outcome in report.outcomes if not outcome.skipped]
    assert [case.expected for case in ran[:7]] == [401, 400, 400, 400, 400, 400, 400]  # refused before generation
    assert [case.name for case in ran[7:]] == ["dall-e-2 256x256, url", "dall-e-2 256x256, b64_json"]
    assert report.requests_sent == 10  # the url case downloads its image: two requests


def test_a_server_accepting_any_key_fails_the_wrong_key_case() -> None:
    with MockServer() as server:  # no keys: any bearer token passes
        report = verify(server.url, "anything", max_requests=12)
    [failed] = [outcome for outcome in report.outcomes if outcome.violations]
    assert failed.case.name == "wrong API key" and failed.status == 201


def test_the_openai_profile_holds_an_openai_mock_to_openai_rules() -> None:
    with MockServer(profile="openai", api_keys=(KEY,)) as server:
        report = verify(server.base_url, KEY, max_requests=50, contract=load_contract("openai"))
    assert report.ok and report.error_style == "openai"
    successes = [outcome for outcome in report.outcomes if outcome.case.model and outcome.case.expected < 300]
    assert successes and {outcome.status for outcome in successes} == {200}


def test_json_report_names_case_expected_got_and_violation(capsys: pytest.CaptureFixture[str]) -> None:
    server, _ = counted_server(success_status=200)
    with server:
        code = main(["verify", "--base-url", server.base_url, "--api-key", KEY, "--json", "--max-requests", "9"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False and report["requests_sent"] == 9
    failed = next(case for case in report["cases"] if case["violations"])
    assert (failed["case"], failed["expected"], failed["got"]) == ("dall-e-2 256x256, url", 201, 200)
    assert failed["violations"][0]["rule"] == "status"


def test_an_unreachable_server_is_reported_within_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the run: nothing listens there
    code = main(["verify", "--base-url", f"http://127.0.0.1:{port}", "--api-key", KEY, "--max-requests", "3",
                 "--timeout", "5"])
    out = capsys.readouterr().out
    assert code == 1 and "no answer" in out and "3 of 3 requests sent" in out


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIML_API_KEY", raising=False)
    assert main(["verify", "--base-url", "ftp://example.com", "--api-key", KEY]) == 2
    assert main(["verify", "--base-url", "http://127.0.0.1:9"]) == 2
    assert "AIML_API_KEY" in capsys.readouterr().err
