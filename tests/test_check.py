"""`aiml-mock check -- COMMAND`: real clients (Python with the openai SDK, Node with fetch) judged by a fresh mock."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from aiml_mock.hosting.cli import main

CLIENTS = Path(__file__).resolve().parents[1] / "examples" / "clients"
PYTHON_CLIENT = [sys.executable, str(CLIENTS / "python_client.py")]
NODE = shutil.which("node")
NODE_CLIENT = [NODE or "node", str(CLIENTS / "node_client.mjs")]
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")


def test_python_sdk_client_keeping_the_contract_passes(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--", *PYTHON_CLIENT]) == 0
    out, err = capfd.readouterr()
    assert "downloaded" in out  # the client ran against the mock, and downloaded its image
    assert "POST /v1/images/generations" in err and "201  ok" in err and "GET /images/" in err
    assert "0 of 2 request(s) broke the contract." in err
    assert "The 1 answered generation(s) would have cost $0." in err  # priced as the real API bills it


def test_python_client_sending_a_field_the_api_ignores_fails_naming_it(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--", *PYTHON_CLIENT, "--typo"]) == 1
    _, err = capfd.readouterr()
    assert "201  BROKE THE CONTRACT" in err  # answered as the real API would, and judged
    assert "$.qualty: unknown field" in err and "1 of 2 request(s) broke the contract." in err


def test_strict_refuses_the_field_and_the_client_fails(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--strict", "--", *PYTHON_CLIENT, "--typo"]) == 1  # the client's own exit status
    _, err = capfd.readouterr()
    assert "the API refused the request: 400" in err and "qualty" in err
    assert "400  BROKE THE CONTRACT" in err


@needs_node
def test_node_client_keeping_the_contract_passes(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--", *NODE_CLIENT]) == 0
    out, err = capfd.readouterr()
    assert "2 image(s)" in out and "dall-e-2" in err and "0 of 1 request(s) broke the contract." in err


@needs_node
def test_node_client_asking_for_a_size_the_model_lacks_fails(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--", *NODE_CLIENT, "--bad-size"]) == 1
    _, err = capfd.readouterr()
    assert "400  BROKE THE CONTRACT" in err and "$.size:" in err and "1792x1024" in err


@needs_node
def test_node_client_typo_is_answered_but_reported(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "check.json"
    assert main(["check", "--json", str(report), "--", *NODE_CLIENT, "--typo"]) == 1
    data = json.loads(report.read_text())
    [entry] = data["entries"]
    assert data["exit_code"] == 0 and data["status"] == 1 and entry["status"] == 201
    assert [violation["path"] for violation in entry["violations"]] == ["$.respone_format"]


def test_the_command_sees_the_mock_under_every_usual_name(capfd: pytest.CaptureFixture[str]) -> None:
    names = ["OPENAI_BASE_URL", "OPENAI_API_KEY", "AIML_API_KEY", "AIMLAPI_KEY", "AIML_API_BASE_URL", "AIML_API_URL"]
    script = f"import json, os; print(json.dumps({{n: os.environ.get(n) for n in {names!r}}}))"
    assert main(["check", "--api-key", "sk-mine", "--", sys.executable, "-c", script]) == 1  # no request made
    out, err = capfd.readouterr()
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["OPENAI_BASE_URL"].startswith("http://127.0.0.1:") and seen["OPENAI_BASE_URL"].endswith("/v1")
    assert seen["AIML_API_BASE_URL"] == seen["OPENAI_BASE_URL"] == seen["AIML_API_URL"]
    assert {seen[name] for name in ("OPENAI_API_KEY", "AIML_API_KEY", "AIMLAPI_KEY")} == {"sk-mine"}
    assert "No request reached the mock" in err


def test_a_failing_command_passes_its_exit_status_through(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--", sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert "exited 3" in capfd.readouterr().err


def test_without_a_command_or_with_a_missing_one_check_says_so(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    assert main(["check", "--", "no-such-command-aiml-mock"]) == 127
    err = capfd.readouterr().err
    assert "give the command to run after --" in err and "command not found: no-such-command-aiml-mock" in err


def test_the_mocks_own_answers_are_held_to_their_models_schema() -> None:
    """check also says when the mock's answer left its model's response schema (its own bug, not the client's)."""
    import dataclasses

    from starlette.testclient import TestClient

    from aiml_mock import Settings, create_app
    from aiml_mock.tools.check import answers_off_shape

    app = create_app(Settings())
    with TestClient(app) as client:
        for body in ({"model": "flux-pro", "prompt": "a fox"},
                     {"model": "dall-e-3", "prompt": "a fox", "response_format": "b64_json"},
                     {"model": "openai/gpt-image-1", "prompt": "a fox", "quality": "high"}):
            assert client.post("/v1/images/generations", json=body, headers={"authorization": "Bearer k"}).is_success
    entries = app.state.mock.journal.entries()
    contract = app.state.mock.contract
    assert answers_off_shape(entries, contract) == {}
    flux = next(entry for entry in entries if entry.model == "flux-pro")
    dalle_shape = {key: value for key, value in flux.response.items() if key in ("data", "meta")}
    found = answers_off_shape([dataclasses.replace(flux, response=dalle_shape)], contract)
    assert {violation.path for violation in found[flux.id]} >= {"$.images", "$.seed"}
