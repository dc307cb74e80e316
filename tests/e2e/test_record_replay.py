"""Record through the proxy, stop the upstream, replay: with the official SDK, all on 127.0.0.1.

The upstream is a second real `aiml-mock serve` process (stopped for real before the replay), or a tiny
deliberately off-contract Starlette app for the violation and drift paths.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from aiml_mock import MockServer
from aiml_mock.core.cassette import REDACTED
from tests.e2e.upstreams import OFF_CONTRACT, off_contract_upstream

KEY = "sk-live-4f9c2a7e1b3d5f60"
TEST_ID = "tests/e2e/test_record_replay.py::test_x[cat]"


class ServeProcess:
    """`aiml-mock serve|proxy ARGS` on port 0, its URL read from the line it prints."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "aiml_mock", *args, "--port", "0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found is None:
            self.stop()
            raise RuntimeError(f"no URL in {line!r}: {self.process.stderr.read() if self.process.stderr else ''}")
        self.url = found.group(0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)


@pytest.fixture
def upstream() -> Iterator[ServeProcess]:
    server = ServeProcess("serve", "--api-key", KEY)
    yield server
    if server.process.poll() is None:
        server.stop()


def client(base_url: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, default_headers=headers or None)


def without_urls(body: dict[str, Any]) -> dict[str, Any]:
    """A JSON answer with its image URLs taken out (under `urls`)."""
    urls = []
    for items in body.values():
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and "url" in item:
                urls.append(item.pop("url"))
    return {**body, "urls": urls}


def cassette_text(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in root.rglob("*") if path.is_file())


def test_recorded_answers_replay_byte_for_byte_without_the_upstream_a_day_later(
        upstream: ServeProcess, tmp_path: Path) -> None:
    with ExitStack() as stack, MockServer(upstream=upstream.url, replay=str(tmp_path), record_mode="all") as proxy:
        sdk = stack.enter_context(client(proxy.base_url, **{"X-Mock-Test": TEST_ID}))
        url_answer = sdk.images.with_raw_response.generate(model="dall-e-3", prompt="a cat")
        assert url_answer.headers["x-mock-violations"] == "0"
        live_url = url_answer.parse().data[0].url
        assert live_url is not None and live_url.startswith(upstream.url)  # the exchange is not changed
        live_image = httpx.get(live_url).content
        b64_answer = sdk.images.with_raw_response.generate(model="dall-e-3", prompt="a dog",
                                                           response_format="b64_json")
        journal = proxy.state.journal.entries()
        assert [entry.status for entry in journal] == [201, 201] and all(entry.valid for entry in journal)
    upstream.stop()
    names = sorted(path.name for path in tmp_path.glob("*.json"))
    stem = "tests_e2e_test_record_replay.py_test_x_cat"
    assert names == [f"{stem}-001.json", f"{stem}-002.json"]
    assert KEY.encode() not in cassette_text(tmp_path) and KEY[3:15].encode() not in cassette_text(tmp_path)
    recorded = json.loads((tmp_path / names[1]).read_text())
    assert recorded["request"]["headers"]["authorization"] == REDACTED
    assert recorded["response"]["body"]["data"][0]["b64_json"].startswith("<files/")  # not inline base64
    assert recorded["response"]["latency_ms"] > 0

    with MockServer(replay=str(tmp_path)) as replay, client(replay.base_url) as sdk:
        replay.state.front.clock = lambda: time.time() + 86400  # a day later: the recorded URLs expired long ago
        again = sdk.images.with_raw_response.generate(model="dall-e-3", prompt="a cat")
        first, second = url_answer.parse().model_dump(), again.parse().model_dump()
        replayed_url = second["data"][0].pop("url")
        first["data"][0].pop("url")
        assert first == second
        assert replayed_url.startswith(replay.url + "/cassette/")
        assert httpx.get(replayed_url).content == live_image
        b64_again = sdk.images.with_raw_response.generate(model="dall-e-3", prompt="a dog", response_format="b64_json")
        assert b64_again.content == b64_answer.content  # the whole body, byte for byte
        assert b64_again.headers["x-request-id"] == b64_answer.headers["x-request-id"]
        with pytest.raises(openai.NotFoundError) as missed:
            sdk.images.generate(model="dall-e-3", prompt="a bird")
        message = str(missed.value)
        assert f"{stem}-001.json" in message and '"a bird" here' in message
        assert httpx.get(replayed_url.replace("sig=", "sig=x")).status_code == 403


def test_a_multipart_upload_recorded_once_matches_again_with_another_boundary(
        upstream: ServeProcess, tmp_path: Path) -> None:
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(64)

    def upload(base: str, boundary: str, content: bytes) -> httpx.Response:
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nadd a hat\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
        return httpx.post(f"{base}/v1/images/edits", content=body, headers={
            "authorization": f"Bearer {KEY}", "content-type": f"multipart/form-data; boundary={boundary}"})

    with MockServer(upstream=upstream.url, replay=str(tmp_path), record_mode="all") as proxy:
        recorded = upload(proxy.url, "first-boundary", image)
    upstream.stop()
    with MockServer(replay=str(tmp_path)) as replay:
        again = upload(replay.url, "another-one-42", image)
        assert again.status_code == recorded.status_code and again.content == recorded.content
        assert again.headers["x-mock-replayed"].endswith("-001.json")
        other = upload(replay.url, "first-boundary", image + b"!")
        assert other.status_code == 404 and "multipart[1].sha256" in other.json()["message"]


def test_record_mode_once_forwards_only_what_is_missing(upstream: ServeProcess, tmp_path: Path) -> None:
    with MockServer(upstream=upstream.url, replay=str(tmp_path), record_mode="once") as proxy, \
            client(proxy.base_url) as sdk:
        first = sdk.images.with_raw_response.generate(model="flux/schnell", prompt="a boat")
        second = sdk.images.with_raw_response.generate(model="flux/schnell", prompt="a boat")
        assert "x-mock-replayed" not in first.headers and second.headers["x-mock-replayed"]
        recorded, replayed = without_urls(json.loads(first.content)), without_urls(json.loads(second.content))
        assert len(recorded.pop("urls")) == len(replayed["urls"]) == 2
        assert {**replayed, "urls": None} == {**recorded, "urls": None}  # flux answers in `data` and `images`
        assert all(url.startswith(proxy.url + "/cassette/") for url in replayed.pop("urls"))
        assert proxy.state.front.forwarded == 1


def test_replay_miss_mock_answers_from_the_mock(tmp_path: Path) -> None:
    with MockServer(replay=str(tmp_path), replay_miss="mock") as replay, client(replay.base_url) as sdk:
        answer = sdk.images.generate(model="dall-e-3", prompt="nothing recorded")
        assert answer.data[0].url is not None and answer.data[0].url.startswith(replay.url + "/images/")


def test_an_off_contract_answer_passes_unchanged_counted_and_drift_fails(tmp_path: Path) -> None:
    with off_contract_upstream() as bad, MockServer(upstream=bad.url, replay=str(tmp_path), record_mode="all") as proxy:
        answer = httpx.post(f"{proxy.base_url}/images/generations", json={"model": "dall-e-3", "prompt": "x",
                            "colour": "red"}, headers={"authorization": f"Bearer {KEY}"})
        assert answer.content == OFF_CONTRACT and answer.status_code == 200
        [entry] = proxy.state.journal.entries()
        paths = sorted(violation.path for violation in entry.violations)
        assert int(answer.headers["x-mock-violations"]) == len(entry.violations) >= 3
        assert "$.colour" in paths and "response.status" in paths and "response.created" in paths
    drift = subprocess.run([sys.executable, "-m", "aiml_mock", "drift", str(tmp_path)], capture_output=True,
                           text=True)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert "dall-e-3:" in drift.stdout and "created" in drift.stdout and "status" in drift.stdout


def test_drift_passes_on_answers_that_keep_the_contract(upstream: ServeProcess, tmp_path: Path) -> None:
    with MockServer(upstream=upstream.url, replay=str(tmp_path), record_mode="all") as proxy, \
            client(proxy.base_url) as sdk:
        sdk.images.generate(model="openai/gpt-image-1", prompt="a tree")
    drift = subprocess.run([sys.executable, "-m", "aiml_mock", "drift", str(tmp_path)], capture_output=True,
                           text=True)
    assert drift.returncode == 0, drift.stdout + drift.stderr


def test_the_spend_guard_answers_locally_once_the_budget_would_pass(upstream: ServeProcess) -> None:
    # dall-e-3 standard 1024x1024 costs $0.04 in contracts/prices.yaml: one fits in $0.05, two do not
    with MockServer(upstream=upstream.url, budget_usd=0.05) as proxy, client(proxy.base_url) as sdk:
        sdk.images.generate(model="dall-e-3", prompt="one")
        with pytest.raises(openai.PermissionDeniedError) as refused:
            sdk.images.generate(model="dall-e-3", prompt="two")
        assert "would pass --budget-usd 0.05" in str(refused.value)
        assert proxy.state.front.forwarded == 1
        assert proxy.state.ledger.usage()["total"]["usd"] == pytest.approx(0.04)
    with MockServer(upstream=upstream.url, max_requests=1) as proxy, client(proxy.base_url) as sdk:
        sdk.images.generate(model="flux/schnell", prompt="one")
        with pytest.raises(openai.PermissionDeniedError, match="max-requests 1"):
            sdk.images.generate(model="flux/schnell", prompt="two")


def test_the_proxy_command_forwards_records_and_serves_health(upstream: ServeProcess, tmp_path: Path) -> None:
    proxy = ServeProcess("proxy", "--upstream", upstream.url, "--record", str(tmp_path))
    try:
        assert httpx.get(f"{proxy.url}/health").json()["status"] == "ok"
        with client(f"{proxy.url}/v1") as sdk:
            answer = sdk.images.generate(model="dall-e-2", prompt="a lamp")
        assert answer.data[0].url is not None and answer.data[0].url.startswith(upstream.url)
        journal = httpx.get(f"{proxy.url}/__mock/requests").json()
        assert [entry["path"] for entry in journal["requests"]] == ["/v1/images/generations", "/health"]
    finally:
        proxy.stop()
    assert len(list(tmp_path.glob("*.json"))) == 1 and len(list((tmp_path / "files").iterdir())) == 1


def test_an_unreachable_upstream_is_a_502_in_the_api_shape(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with MockServer(upstream=f"http://127.0.0.1:{port}") as proxy:
        answer = httpx.post(f"{proxy.base_url}/images/generations", json={"model": "dall-e-3", "prompt": "x"},
                            headers={"authorization": f"Bearer {KEY}"})
        assert answer.status_code == 502 and "could not be reached" in answer.json()["message"]


CASSETTE_SUITE = '''
import pytest

@pytest.mark.aiml_mock(cassette="cassettes", record="once")
def test_draws_a_fox(aiml_mock_openai):
    answer = aiml_mock_openai.images.generate(model="dall-e-3", prompt="a fox", response_format="b64_json")
    assert answer.data[0].b64_json
'''


def test_a_suite_records_once_then_replays_in_ci_without_the_upstream(pytester: pytest.Pytester) -> None:
    upstream = ServeProcess("serve")  # any key: the plugin's SDK client sends its own
    try:
        pytester.makepyfile(test_user=CASSETTE_SUITE)
        pytester.runpytest_inprocess("-p", "no:cacheprovider", "--aiml-mock-upstream", upstream.url,
                                     "-W", "error").assert_outcomes(passed=1)
    finally:
        upstream.stop()
    [entry] = (pytester.path / "cassettes").glob("*.json")
    assert entry.name == "test_user.py_test_draws_a_fox-001.json"
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "--aiml-mock-record", "none").assert_outcomes(passed=1)
    assert [path.name for path in (pytester.path / "cassettes").glob("*.json")] == [entry.name]


def test_a_streamed_gpt_image_answer_streams_through_and_replays(tmp_path: Path) -> None:
    with MockServer(profile="openai") as up, \
            MockServer(profile="openai", upstream=up.url, replay=str(tmp_path), record_mode="all") as proxy, \
            client(proxy.base_url) as sdk:
        live = list(sdk.images.generate(model="gpt-image-1", prompt="a kite", size="1024x1024", stream=True,
                                        partial_images=1))
        [entry] = proxy.state.journal.entries()
        assert entry.valid and entry.status == 200
    with MockServer(profile="openai", replay=str(tmp_path)) as replay, client(replay.base_url) as sdk:
        again = list(sdk.images.generate(model="gpt-image-1", prompt="a kite", size="1024x1024", stream=True,
                                         partial_images=1))
    assert [event.model_dump() for event in again] == [event.model_dump() for event in live]
    assert [event.type for event in live] == ["image_generation.partial_image", "image_generation.completed"]


def test_a_streamed_answer_is_stored_with_its_images_as_files_and_replays_byte_for_byte(tmp_path: Path) -> None:
    body = {"model": "gpt-image-1", "prompt": "a lantern", "size": "1024x1024", "stream": True,
            "partial_images": 2}
    headers = {"authorization": f"Bearer {KEY}"}
    with MockServer(profile="openai") as up, \
            MockServer(profile="openai", upstream=up.url, replay=str(tmp_path), record_mode="all") as proxy, \
            httpx.stream("POST", f"{proxy.base_url}/images/generations", json=body, headers=headers) as live:
        assert live.headers["content-type"].startswith("text/event-stream")
        live_bytes = live.read()
    [entry] = tmp_path.glob("*.json")
    recorded = json.loads(entry.read_text())["response"]
    assert len(recorded["events"]) == len(recorded["event_ms"]) == 3 and len(recorded["images"]) == 3
    assert recorded["event_ms"] == sorted(recorded["event_ms"])
    assert b"iVBORw0KGgo" not in entry.read_bytes()  # no inline base64 PNG: each image is a file
    assert len(list((tmp_path / "files").iterdir())) == 3
    with MockServer(profile="openai", replay=str(tmp_path)) as replay:  # the upstream is gone
        with httpx.stream("POST", f"{replay.base_url}/images/generations", json=body, headers=headers) as again:
            assert again.status_code == 200 and again.headers["x-mock-replayed"] == entry.name
            replayed = [chunk for chunk in again.iter_raw() if chunk]
        assert b"".join(replayed) == live_bytes
        with client(replay.base_url) as sdk:
            events = list(sdk.images.generate(model="gpt-image-1", prompt="a lantern", size="1024x1024", stream=True,
                                              partial_images=2))
    assert [event.type for event in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    final = base64.b64decode(events[-1].b64_json or "")
    assert final in [path.read_bytes() for path in (tmp_path / "files").iterdir()]
    with Image.open(io.BytesIO(final)) as image:
        assert image.size == (1024, 1024)


def test_an_sdk_image_edit_recorded_once_matches_again(tmp_path: Path) -> None:
    """The SDK draws a new multipart boundary for every upload: the recording still matches the same edit."""
    image = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(image, format="PNG")
    upload = ("a.png", image.getvalue(), "image/png")
    with MockServer(profile="openai") as up, \
            MockServer(profile="openai", upstream=up.url, replay=str(tmp_path), record_mode="all") as proxy, \
            client(proxy.base_url) as sdk:
        live = sdk.images.with_raw_response.edit(model="gpt-image-1", image=upload, prompt="add a hat")
        assert live.headers["x-mock-violations"] is not None
    [entry] = tmp_path.glob("*.json")
    assert json.loads(entry.read_text())["request"]["body"]["multipart"]  # boundary-free parts
    with MockServer(profile="openai", replay=str(tmp_path)) as replay, client(replay.base_url) as sdk:
        again = sdk.images.with_raw_response.edit(model="gpt-image-1", image=upload, prompt="add a hat")
        assert again.content == live.content and again.headers["x-mock-replayed"] == entry.name
        with pytest.raises(openai.NotFoundError, match=r'multipart\[0\]\.value \("add a scarf" here'):
            sdk.images.edit(model="gpt-image-1", image=upload, prompt="add a scarf")
