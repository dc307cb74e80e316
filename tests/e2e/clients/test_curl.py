"""`curl`, as the provider's docs call the API: `--fail-with-body` for errors, `--retry` for 429."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.clients.conftest import KEY, PROMPT, Served, cell

CLIENT = "curl"


@pytest.fixture(scope="module")
def curl() -> str:
    binary = shutil.which("curl")
    assert binary, "curl is not installed: apt-get install -y curl"
    return binary


def post(curl: str, mock: Served, *options: str, key: str = KEY, **body: Any) -> subprocess.CompletedProcess[str]:
    sent = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256", **body}
    command = [curl, "-sS", "--fail-with-body", *options, f"{mock.base_url}/images/generations",
               "-H", f"Authorization: Bearer {key}", "-H", "Content-Type: application/json", "-d", json.dumps(sent)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@cell(CLIENT, "url", "yes")
def test_url(curl: str, mock: Served) -> None:
    answer = post(curl, mock)
    url = json.loads(answer.stdout)["data"][0]["url"]
    image = subprocess.run([curl, "-sS", "--fail", url], capture_output=True, timeout=30)
    assert answer.returncode == 0 and image.returncode == 0 and image.stdout.startswith(b"\x89PNG")


@cell(CLIENT, "b64_json", "yes")
def test_b64_json(curl: str, mock: Served) -> None:
    data = json.loads(post(curl, mock, response_format="b64_json").stdout)["data"]
    assert base64.b64decode(data[0]["b64_json"]).startswith(b"\x89PNG")


@cell(CLIENT, "400", "exit 22 with `--fail-with-body`; the body names the field")
def test_400_names_the_field(curl: str, mock: Served) -> None:
    answer = post(curl, mock, size="1792x1024")
    assert answer.returncode == 22 and "error: 400" in answer.stderr
    assert 'at "size"' in json.loads(answer.stdout)["message"]


@cell(CLIENT, "401", "exit 22 with `--fail-with-body`")
def test_401(curl: str, mock: Served) -> None:
    answer = post(curl, mock, key="sk-wrong")
    assert answer.returncode == 22 and "error: 401" in answer.stderr


@cell(CLIENT, "429 then success", "`--retry 2`: waits `retry-after` (whole seconds)")
def test_429_is_retried_after_retry_after_whole_seconds(curl: str, mock: Served, tmp_path: Path) -> None:
    mock.fail_next(429, retry_after=0.05)  # retry-after: 1 (rounded up), retry-after-ms: 50
    # `-o FILE`: a retry starts the file again; on stdout curl would print the 429's body, then the success's.
    answer = post(curl, mock, "--retry", "2", "-o", str(tmp_path / "answer.json"))
    assert answer.returncode == 0 and json.loads((tmp_path / "answer.json").read_text())["data"]
    first, second = mock.generations()
    assert (first.status, second.status) == (429, 201)
    assert second.time - first.time >= 1.0  # curl reads whole seconds: 0.05 s became its 1 s wait


@cell(CLIENT, "dropped connection", "exit 52 (\"Empty reply from server\"); `--retry` skips it")
def test_dropped_connection(curl: str, mock: Served) -> None:
    mock.drop_next()
    answer = post(curl, mock, "--retry", "2")
    assert answer.returncode == 52 and "Empty reply from server" in answer.stderr
    assert mock.statuses() == [0]  # not a transient error to curl's --retry (--retry-all-errors would retry)
