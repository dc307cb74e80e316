"""Streamed image answers: the frames' shapes (the contract's event schemas), the partial images, `kind@N` faults."""

from __future__ import annotations

import base64
import io

import jsonschema_rs
import orjson
import pytest
from PIL import Image
from starlette.testclient import TestClient

from aiml_mock.core.contract import _deref, load_contract
from aiml_mock.core.faults import FaultRule, parse_header_fault, parse_kinds, split_after
from aiml_mock.core.settings import Settings
from aiml_mock.core.streaming import StreamPlan, coarser, error_frame
from aiml_mock.web.app import create_app

CONTRACT = load_contract("openai")
EVENT = jsonschema_rs.validator_for(_deref({"$ref": "#/components/schemas/ImageStreamEvent"}, CONTRACT.document))
SETTINGS = {"size": "64x32", "quality": "low", "background": "opaque", "output_format": "png"}
USAGE = {"input_tokens": 1, "input_tokens_details": {"image_tokens": 0, "text_tokens": 1}, "output_tokens": 2,
         "total_tokens": 3}


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((10, 10, 220), (0, 0, width // 2, height // 2))
    image.save(out, format="PNG")
    return out.getvalue()


def parse(data: bytes) -> tuple[str, dict[str, object]]:
    head, _, body = data.partition(b"\ndata: ")
    assert data.endswith(b"\n\n") and head.startswith(b"event: ")
    return head.removeprefix(b"event: ").decode(), orjson.loads(body)


def test_every_frame_is_an_event_of_the_contract_with_its_type_and_a_0_based_index() -> None:
    final = png(64, 32)
    plan = StreamPlan("image_edit", 1, 2, lambda _: final, fmt="png", settings=SETTINGS, created=5, usage=USAGE)
    parsed = [parse(frame.data) for frame in plan.frames()]
    assert [kind for kind, _ in parsed] == ["image_edit.partial_image", "image_edit.partial_image",
                                           "image_edit.completed"]
    for kind, payload in parsed:
        assert EVENT.is_valid(payload) and payload["type"] == kind
    assert [payload.get("partial_image_index") for _, payload in parsed] == [0, 1, None]
    assert plan.types == tuple(kind for kind, _ in parsed)
    assert base64.b64decode(str(parsed[1][1]["b64_json"])) == coarser(final, "png", 2)[1]
    assert EVENT.is_valid(parse(error_frame({"type": "server_error", "message": "x", "code": None}).data)[1])


def test_partials_have_the_final_size_and_format_and_get_closer_to_it() -> None:
    final = png(256, 128)
    partials = coarser(final, "webp", 3)
    images = [Image.open(io.BytesIO(data)) for data in partials]
    assert all(image.size == (256, 128) and image.format == "WEBP" for image in images)
    assert coarser(final, "png", 0) == []


@pytest.mark.parametrize(("token", "expected"),
                         [("drop@1", ("drop", 1)), ("500", ("500", None)), ("malformed@0", ("malformed", 0))])
def test_a_fault_token_may_say_after_how_many_partial_images_it_strikes(token: str, expected: tuple[str, int | None]
                                                                       ) -> None:
    assert split_after(token) == expected
    assert parse_kinds([token]) == (token,)


def test_bad_after_counts_are_refused_with_the_accepted_form() -> None:
    from aiml_mock.core.faults import FaultDefaults

    with pytest.raises(ValueError, match="drop@1"):
        parse_header_fault("drop@x", FaultDefaults())
    with pytest.raises(ValueError, match="after"):
        FaultRule(kind="drop", after=-1)
    assert parse_header_fault("503@2", FaultDefaults()).after == 2


def test_in_process_a_stream_answers_event_stream_with_the_journal_recording_it() -> None:
    client = TestClient(create_app(Settings(profile="openai", admin=True)))
    body = {"model": "gpt-image-1", "prompt": "a fox", "stream": True, "partial_images": 1, "quality": "low"}
    with client.stream("POST", "/v1/images/generations", json=body, headers={"Authorization": "Bearer k"}) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        data = b"".join(answer.iter_bytes())
    events = [parse(chunk + b"\n\n") for chunk in data.split(b"\n\n") if chunk]
    assert [kind for kind, _ in events] == ["image_generation.partial_image", "image_generation.completed"]
    final = events[-1][1]
    assert Image.open(io.BytesIO(base64.b64decode(str(final["b64_json"])))).size == (1024, 1024)
    assert final["quality"] == "low" and final["size"] == "1024x1024"
    entry = client.get("/__mock/requests").json()["requests"][0]
    assert entry["response"]["stream"]["events"] == [kind for kind, _ in events]
    assert entry["cost"]["images"] == 1


def test_stream_on_a_model_without_it_is_refused_as_an_unknown_parameter() -> None:
    client = TestClient(create_app(Settings(profile="openai")))
    answer = client.post("/v1/images/generations", json={"model": "dall-e-3", "prompt": "x", "stream": True},
                         headers={"Authorization": "Bearer k"})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "stream"


CLIENT_THAT_STOPS = """
import openai
client = openai.OpenAI(max_retries=0, default_headers={"X-Mock-Latency": "900ms"})
stream = client.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=2)
for event in stream:
    break  # reads the first partial image only
stream.response.close()
"""


def test_check_reports_a_client_that_stopped_reading_a_stream_early() -> None:
    import sys

    from aiml_mock.tools.check import render, run_check

    result = run_check([sys.executable, "-c", CLIENT_THAT_STOPS], Settings(profile="openai"))
    assert result.exit_code == 0 and not result.off_shape
    [entry] = result.entries
    record = entry.response["stream"]  # type: ignore[index]
    assert record["completed"] is False and record["client_read_to_end"] is False
    report = render(result)
    assert "of 3 event(s)" in report and "did not read to the end" in report  # 2 partials and the completed one
    assert "Warning: 1 streamed answer(s) were not read to the end by the client." in report
    assert result.status == 0 and result.to_dict()["streams_not_read_to_end"] == [entry.id]  # a warning, not a failure


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_partials_of_a_transparent_image_are_transparent_where_it_is(fmt: str) -> None:
    final = Image.new("RGBA", (256, 128), (0, 0, 0, 0))
    final.paste((250, 250, 250, 255), (0, 0, 128, 128))  # left half opaque, right half fully transparent
    out = io.BytesIO()
    final.save(out, format="PNG")
    for partial in coarser(out.getvalue(), fmt, 2):
        alpha = Image.open(io.BytesIO(partial)).convert("RGBA").getchannel("A")
        assert alpha.getpixel((200, 64)) == 0 and alpha.getpixel((40, 64)) == 255
