"""GPT image models through the official `openai` SDK (sync and async), unchanged but for `base_url`, against a real
`aiml-mock serve --profile openai` process on port 0, under both protocols: generations, streamed partial images,
faults mid-stream, edits and variations."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from aiml_mock.settings import ProtocolName
from tests.test_cli import serve

openai = pytest.importorskip("openai", reason="the e2e suite needs the openai SDK (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def openai_mock(protocol: ProtocolName) -> Iterator[str]:
    """`aiml-mock serve --profile openai` (the protocol under test); its URL."""
    with serve("--profile", "openai", "--protocol", protocol) as (_, url):
        yield url


def client_for(url: str, **headers: str) -> Any:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0, default_headers=headers or None)


def decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def journal(url: str) -> list[dict[str, Any]]:
    """The mock's journal, newest first."""
    with urllib.request.urlopen(f"{url}/__mock/requests", timeout=10) as response:  # noqa: S310 (127.0.0.1)
        entries: list[dict[str, Any]] = json.load(response)["requests"]
        return entries


def test_gpt_image_generation_answers_b64_png_with_the_resolved_settings_and_usage(openai_mock: str) -> None:
    result = client_for(openai_mock).images.generate(model="gpt-image-1", prompt="a red fox", size="1536x1024")
    [image] = result.data
    assert image.b64_json and image.url is None
    assert decoded(image.b64_json).size == (1536, 1024) and decoded(image.b64_json).format == "PNG"
    assert (result.size, result.quality, result.background, result.output_format) == (
        "1536x1024", "medium", "opaque", "png")
    assert result.usage.output_tokens == 1584 and result.usage.total_tokens > result.usage.output_tokens


def test_gpt_image_2_takes_any_multiple_of_16_within_its_limits(openai_mock: str) -> None:
    client = client_for(openai_mock)
    result = client.images.generate(model="gpt-image-2", prompt="a wide valley", size="1536x864", output_format="webp",
                                    output_compression=60)
    assert decoded(result.data[0].b64_json).size == (1536, 864) and result.output_format == "webp"
    for size in ("1000x1000", "3840x1024", "4096x2304"):
        with pytest.raises(openai.BadRequestError) as caught:
            client.images.generate(model="gpt-image-2", prompt="x", size=size)
        assert caught.value.code == "invalid_size" and caught.value.param == "size"


def test_a_transparent_background_in_jpeg_is_refused_naming_output_format(openai_mock: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(openai_mock).images.generate(model="gpt-image-1", prompt="x", background="transparent",
                                                output_format="jpeg")
    assert caught.value.param == "output_format"


def test_streamed_generation_yields_sharper_partials_then_the_completed_png(openai_mock: str) -> None:
    events = list(client_for(openai_mock).images.generate(
        model="gpt-image-1", prompt="a lighthouse at dusk", size="1024x1536", stream=True, partial_images=2))
    assert [event.type for event in events] == [
        "image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    final = decoded(events[-1].b64_json)
    assert final.format == "PNG" and final.size == (1024, 1536)
    assert events[-1].usage.output_tokens == 1584 and events[-1].size == "1024x1536"
    partials = [decoded(event.b64_json).convert("RGB") for event in events[:2]]
    assert all(partial.size == (1024, 1536) for partial in partials)
    errors = [sum(ImageStat.Stat(ImageChops.difference(partial, final.convert("RGB"))).mean) for partial in partials]
    assert errors[0] > errors[1] > 0  # coarse versions of the final picture, each closer to it
    entry = next(e for e in journal(openai_mock) if "stream" in (e["response"] or {}))
    record = entry["response"]["stream"]
    assert record["events"] == [event.type for event in events] and record["completed"]
    assert record["client_read_to_end"] and record["bytes"] > 3 * 1000


def test_async_client_streams_too(openai_mock: str) -> None:
    async def run() -> list[Any]:
        async with openai.AsyncOpenAI(base_url=f"{openai_mock}/v1", api_key="sk-test", max_retries=0) as client:
            stream = await client.images.generate(model="gpt-image-1-mini", prompt="a kite", stream=True,
                                                  partial_images=3, output_format="jpeg")
            return [event async for event in stream]

    events = asyncio.run(run())
    assert [event.type for event in events][-1] == "image_generation.completed" and len(events) == 4
    assert decoded(events[-1].b64_json).format == "JPEG" and events[-1].size == "1024x1024"


def test_an_error_frame_mid_stream_raises_after_the_partials_before_it(openai_mock: str) -> None:
    client = client_for(openai_mock, **{"X-Mock-Fault": "500@1"})
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for event in client.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=3):
            seen.append(event.type)
    assert seen == ["image_generation.partial_image"]
    assert caught.value.body and caught.value.body["type"] == "server_error"  # type: ignore[index]


def test_a_dropped_stream_ends_the_iteration_with_a_connection_error(openai_mock: str) -> None:
    client = client_for(openai_mock, **{"X-Mock-Fault": "drop@2"})
    seen = []
    with pytest.raises((openai.APIConnectionError, Exception)) as caught:
        for event in client.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=3):
            seen.append(event.type)
    assert seen == ["image_generation.partial_image"] * 2
    assert not isinstance(caught.value, openai.APIStatusError)


def test_a_malformed_frame_fails_the_json_parse(openai_mock: str) -> None:
    client = client_for(openai_mock, **{"X-Mock-Fault": "malformed@1"})
    with pytest.raises(json.JSONDecodeError):
        list(client.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=2))


def test_latency_is_spread_between_the_frames(openai_mock: str) -> None:
    import time

    client = client_for(openai_mock, **{"X-Mock-Latency": "600ms"})
    started = time.perf_counter()
    stamps = [time.perf_counter() - started for _ in client.images.generate(
        model="gpt-image-1", prompt="slow", stream=True, partial_images=2)]
    assert stamps[0] >= 0.15 and stamps[-1] >= 0.55  # 200 ms before each of the three frames
