"""The journal exported as a cassette (`GET /__mock/export`, the dashboard's button), and replayed: a real
`aiml-mock serve`, its export, then `aiml-mock serve --replay` of the zip, asked the same requests."""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from aiml_mock import Settings, create_app
from aiml_mock.core.cassette import Cassette
from aiml_mock.core.export import REPORT, Renderer, write_cassette
from aiml_mock.core.ledger import TEST_HEADER
from aiml_mock.web.transport import ConnectionDropped
from tests.serving import serve_process

KEY = {"Authorization": "Bearer sk-live-0123456789abcdef"}
# what a client sent, in order: a repeat whose first answer was an injected 503 replays 503 then 201
REQUESTS: list[tuple[dict[str, Any], dict[str, str]]] = [
    ({"model": "dall-e-2", "prompt": "a lighthouse", "size": "256x256", "n": 2}, {TEST_HEADER: "tests/test_x.py::one"}),
    ({"model": "dall-e-3", "prompt": "a fox in the snow"}, {}),
    ({"model": "dall-e-2", "prompt": "inline", "size": "256x256", "response_format": "b64_json"}, {}),
    ({"model": "dall-e-2", "prompt": "a typo", "size": "256x256", "colour": "blue"}, {}),
    ({"model": "dall-e-2", "prompt": "a bad size", "size": "300x300"}, {}),
    ({"model": "dall-e-2", "prompt": "again", "size": "256x256"}, {"X-Mock-Fault": "503"}),
    ({"model": "dall-e-2", "prompt": "again", "size": "256x256"}, {}),
]


@pytest.fixture
def mock() -> Iterator[httpx.Client]:
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--seed", "3"]
    with serve_process(command) as (_, url), httpx.Client(base_url=url, timeout=10) as client:
        yield client


def send(client: httpx.Client) -> list[httpx.Response]:
    return [client.post("/v1/images/generations", json=body, headers={**KEY, **headers}) for body, headers in REQUESTS]


def images_of(client: httpx.Client, answer: httpx.Response) -> list[bytes]:
    """The image bytes an answer carries: each URL downloaded, each b64_json decoded."""
    import base64

    found = []
    for item in answer.json().get("data", []):
        if item.get("url"):
            download = client.get(item["url"])
            assert download.status_code == 200, download.text
            found.append(download.content)
        elif item.get("b64_json"):
            found.append(base64.b64decode(item["b64_json"]))
    return found


def without_urls(body: Any) -> Any:
    """An answer with its image URLs left out: the replay's point at its own signed copies of the same bytes."""
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return {**body, "data": [{k: v for k, v in item.items() if k != "url"} for item in body["data"]]}
    return body


def test_a_replay_of_the_export_answers_the_same_requests_with_the_same_answers(mock: httpx.Client,
                                                                               tmp_path: Path) -> None:
    originals = send(mock)
    assert [answer.status_code for answer in originals] == [201, 201, 201, 201, 400, 503, 201]
    first_url = originals[0].json()["data"][0]["url"]
    assert mock.get(first_url).status_code == 200  # a download: journaled, and not an exchange to replay
    export = mock.get("/__mock/export")
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    assert export.headers["content-disposition"].startswith('attachment; filename="aiml-mock-cassette-')
    assert export.headers["x-mock-exported"] == "7" and export.headers["x-mock-left-out"] == "1"
    archive = tmp_path / "journal.zip"
    archive.write_bytes(export.content)
    with zipfile.ZipFile(io.BytesIO(export.content)) as opened:
        names = opened.namelist()
        report = opened.read(REPORT).decode()
        text = "".join(opened.read(name).decode() for name in names if name.endswith(".json"))
    assert "tests_test_x.py_one-001.json" in names  # named after the test that sent it
    assert sum(name.startswith("files/") for name in names) == 6  # each image, as a file
    assert "7 of 8 journal entries" in report and "GET /images/" in report and "not an API route" in report
    assert "0123456789abcdef" not in text and "sk-liv" not in text  # no key, not even its journaled prefix

    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--replay", str(archive)]
    with serve_process(command) as (_, url), httpx.Client(base_url=url, timeout=10) as replay:
        replayed = send(replay)
        for original, again in zip(originals, replayed, strict=True):
            assert again.status_code == original.status_code, again.text
            assert without_urls(again.json()) == without_urls(original.json())
            assert images_of(replay, again) == images_of(mock, original)
        assert replayed[0].json()["data"][0]["url"].startswith(f"{url}/cassette/")


def test_what_the_journal_does_not_hold_whole_is_left_out_and_named(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(profile="openai")))
    stream = {"model": "gpt-image-1", "prompt": "a fox", "stream": True, "partial_images": 1, "quality": "low"}
    client.post("/v1/images/generations", json=stream, headers=KEY)
    big = {"model": "dall-e-2", "prompt": "x" * 20_000, "size": "256x256"}
    client.post("/v1/images/generations", json=big, headers=KEY)
    with pytest.raises(ConnectionDropped):  # in-process, the dropped connection is raised
        client.post("/v1/images/generations", json={"model": "dall-e-2", "prompt": "a cut"},
                    headers={**KEY, "X-Mock-Fault": "drop"})
    client.post("/v1/images/generations", content=b"{not json", headers={**KEY, "Content-Type": "application/json"})
    client.post("/v1/images/generations", json={"model": "dall-e-2", "prompt": "kept", "size": "256x256"},
                headers=KEY)
    state = client.app.state.mock  # type: ignore[attr-defined]
    report = write_cassette(state.journal.entries(), tmp_path, Renderer(state.contract, state.cache, 0))
    reasons = [reason for _, reason in report.left_out]
    assert report.written == 1 and len(reasons) == 4
    assert "not in the journal (it was not read as JSON)" in reasons[0]
    assert "a connection fault (drop" in reasons[1]
    assert "over the journal's 16384-byte cap" in reasons[2]
    assert "a streamed answer" in reasons[3]
    assert [recording.request["body"]["prompt"] for recording in Cassette(tmp_path).recordings] == ["kept"]


def test_the_dashboard_and_the_admin_api_export_the_same_cassette() -> None:
    client = TestClient(create_app(Settings()))
    client.post("/v1/images/generations", json={"model": "dall-e-2", "prompt": "a cat", "size": "256x256"},
                headers=KEY)
    for path in ("/__mock/export", "/__mock/ui/export.zip"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["x-mock-exported"] == "1", path
    assert 'href="/__mock/ui/export.zip"' in client.get("/__mock/ui/controls").text
    guarded = TestClient(create_app(Settings(admin_token="t")), follow_redirects=False)
    assert guarded.get("/__mock/export").status_code == 401
    assert guarded.get("/__mock/ui/export.zip").status_code == 303  # to the login form


def test_replay_refuses_a_file_that_is_not_a_zipped_cassette(tmp_path: Path) -> None:
    bogus = tmp_path / "cassette.zip"
    bogus.write_text("not a zip")
    with pytest.raises(ValueError, match="is not a cassette"):
        Cassette(bogus)
    with pytest.raises(ValueError, match="records into a directory"):
        Settings(replay=str(bogus), record_mode="once", upstream="http://127.0.0.1:9")
