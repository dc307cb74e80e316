"""A streamed image is sent as it is made: the first partial image reaches the client (the official `openai` SDK,
over real HTTP to a `MockServer` on port 0) while the next one is still being encoded, and a client that leaves
stops the encoding. The encoder is the real one, gated on events the test sets: no sleeps, no timings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from aiml_mock.core import streaming
from aiml_mock.core.settings import Settings
from aiml_mock.hosting.server import MockServer

openai = pytest.importorskip("openai", reason="the e2e suite needs the openai SDK (pip install -e '.[test]')")
BOUND = 20.0  # seconds a gate waits at most, so a broken stream fails the test instead of hanging it
PARTIAL, COMPLETED = "image_generation.partial_image", "image_generation.completed"


class Gate:
    """Wraps the real `coarser_step`: partial image `held` waits until `release()`; every index encoded is kept."""

    def __init__(self, held: int) -> None:
        self.held, self.encoded = held, []  # type: list[int]
        self.released = threading.Event()
        self.real = streaming.coarser_step

    def __call__(self, picture: Image.Image, fmt: str, steps: int, index: int) -> bytes:
        if index == self.held:
            assert self.released.wait(BOUND), "the gate was never released"
        try:
            return self.real(picture, fmt, steps, index)
        finally:
            self.encoded.append(index)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate(held=1)
    monkeypatch.setattr(streaming, "coarser_step", gate)
    yield gate
    gate.released.set()  # never leave a worker thread waiting


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(Settings(profile="openai", port=0)) as running:
        yield running


def test_the_first_partial_image_arrives_before_the_next_one_is_encoded(gate: Gate, server: MockServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    events = iter(client.images.generate(model="gpt-image-1", prompt="a lighthouse", stream=True, partial_images=3))
    first = next(events)  # partial image 1 cannot be encoded yet: the gate holds it until this frame is in
    assert (first.type, first.partial_image_index) == (PARTIAL, 0) and gate.encoded == [0]
    gate.released.set()
    rest: list[Any] = list(events)
    assert [(event.type, getattr(event, "partial_image_index", None)) for event in rest] == [
        (PARTIAL, 1), (PARTIAL, 2), (COMPLETED, None)]
    assert gate.encoded == [0, 1, 2] and rest[-1].usage.output_tokens > 0
    [entry] = server.state.journal.entries()
    record = entry.response["stream"]  # type: ignore[index]
    assert record["events"] == [PARTIAL] * 3 + [COMPLETED] and record["planned"] == 4
    assert record["completed"] and record["client_read_to_end"]


def test_a_client_that_disconnects_mid_stream_stops_the_encoding(gate: Gate, server: MockServer) -> None:
    body = {"model": "gpt-image-1", "prompt": "a kite", "stream": True, "partial_images": 3}
    with httpx.Client(base_url=server.url, timeout=BOUND) as client, client.stream(
            "POST", "/v1/images/generations", json=body, headers={"Authorization": "Bearer k"}) as answer:
        received = b""
        for chunk in answer.iter_raw():
            received += chunk
            if b"\n\n" in received:
                break  # the first event is in; closing the stream unread closes the connection
    assert received.startswith(b"event: " + PARTIAL.encode())
    # The stream ends (and is journaled) while partial image 1 is still held: the disconnect was seen mid-encoding.
    assert server.state.journal.wait_for(lambda entries: bool(entries), timeout=BOUND)
    [entry] = server.state.journal.entries()
    record = entry.response["stream"]  # type: ignore[index]
    assert record["events"] == [PARTIAL] and record["planned"] == 4
    assert not record["completed"] and not record["client_read_to_end"]
    gate.released.set()  # the abandoned encoding of partial 1 (if its thread had started) may finish now
    assert gate.encoded[0] == 0 and not {2, 3} & set(gate.encoded)  # nothing after it was started
