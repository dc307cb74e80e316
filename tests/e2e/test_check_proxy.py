"""`aiml-mock check --upstream URL -- COMMAND`: a real client (the official SDK) run through the validating proxy,
judged in both directions. The upstream is a second real `aiml-mock serve` process, or a deliberately
off-contract app, on 127.0.0.1."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiml_mock.hosting.cli import main
from tests.e2e.upstreams import off_contract_upstream
from tests.serving import serve_process

KEY = "sk-live-0c4d8e2f6a1b3c57"
CLIENT = [sys.executable, str(Path(__file__).resolve().parents[2] / "examples" / "clients" / "python_client.py")]
SDK_CALL = ("import openai; answer = openai.OpenAI(max_retries=0).images.generate(model='dall-e-3', prompt='a kite');"
            " print('images:', len(answer.data))")


@pytest.fixture
def upstream() -> Iterator[str]:
    """A mock accepting only `KEY`: a request that reaches it with another key gets a 401."""
    with serve_process([sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--api-key", KEY]) as (_, url):
        yield url


def test_check_through_the_proxy_judges_the_client_with_the_callers_key_and_records(
        upstream: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIML_API_KEY", KEY)  # the caller's own key for the real API: the command gets it
    cassette = tmp_path / "cassette"
    assert main(["check", "--upstream", upstream, "--record", str(cassette), "--", *CLIENT, "--typo"]) == 1
    out, err = capfd.readouterr()
    assert "downloaded" in out  # the upstream answered (the key passed) and its image URL resolved
    assert "to the proxy at http://127.0.0.1:" in err and f"forwarded to {upstream}" in err
    assert "201  BROKE THE CONTRACT" in err and "$.qualty: unknown field" in err
    assert "1 of 1 request(s) broke the contract; 0 of the upstream's answers did." in err
    assert "cost $0.08" in err  # dall-e-3 hd 1024x1024, booked from what the upstream answered
    [entry] = cassette.glob("*.json")
    recorded = json.loads(entry.read_text())
    assert recorded["request"]["body"]["qualty"] == "hd" and recorded["violations"]
    assert KEY not in "".join(path.read_text(errors="replace") for path in cassette.rglob("*") if path.is_file())

    assert main(["check", "--upstream", upstream, "--", *CLIENT]) == 0
    _, err = capfd.readouterr()
    assert "201  ok" in err and "0 of 1 request(s) broke the contract; 0 of the upstream's answers did." in err


def test_check_through_the_proxy_fails_on_an_off_contract_upstream_answer(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "check.json"
    with off_contract_upstream() as bad:
        code = main(["check", "--upstream", bad.url, "--api-key", KEY, "--json", str(report), "--",
                     sys.executable, "-c", SDK_CALL])
    out, err = capfd.readouterr()
    assert code == 1 and "images: 1" in out  # the client itself got on with it: only the check sees the breach
    assert "200  THE ANSWER BROKE IT" in err and "the upstream's answer: response.created" in err
    assert "0 of 1 request(s) broke the contract; 1 of the upstream's answers did." in err
    data = json.loads(report.read_text())
    assert data["status"] == 1 and data["exit_code"] == 0 and data["upstream"] == bad.url
    assert data["client_broke_contract"] == 0 and data["upstream_broke_contract"] == 1


def test_check_record_needs_an_upstream(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check", "--record", str(tmp_path), "--", sys.executable, "-c", "pass"]) == 2
    assert "--record DIR goes with --upstream URL" in capfd.readouterr().err
