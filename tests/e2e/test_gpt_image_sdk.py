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

from aiml_mock.core.settings import ProtocolName
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


# -- edits and variations --------------------------------------------------------------------------------------------

GREEN, BLUE = (0, 200, 0), (20, 40, 230)


def picture(width: int, height: int, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """A distinctive input: green left half, blue right half."""
    image = Image.new(mode, (width, height), BLUE if mode == "RGB" else (*BLUE, 255))
    image.paste(GREEN if mode == "RGB" else (*GREEN, 255), (0, 0, width // 2, height))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def mask_png(width: int, height: int, mode: str = "RGBA") -> bytes:
    """Opaque but for the bottom-right quarter (transparent: the area to edit)."""
    image = Image.new(mode, (width, height), (0, 0, 0, 255) if mode == "RGBA" else (0, 0, 0))
    if mode == "RGBA":
        image.paste((0, 0, 0, 0), (width // 2, height // 2, width, height))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def test_an_edit_returns_the_first_input_fitted_with_its_masked_area_marked(openai_mock: str) -> None:
    result = client_for(openai_mock).images.edit(
        model="gpt-image-1", image=[("a.png", picture(512, 512)), ("b.png", picture(256, 256, "WEBP"))],
        mask=("m.png", mask_png(512, 512)), prompt="add a red hat")
    [item] = result.data
    edited = decoded(item.b64_json).convert("RGB")
    assert decoded(item.b64_json).format == "PNG" and edited.size == (1024, 1024) and result.size == "1024x1024"
    assert near(edited.getpixel((200, 300)), GREEN) and near(edited.getpixel((800, 200)), BLUE)  # the input, kept
    masked = [edited.getpixel((x, y)) for x in range(560, 1000, 7) for y in range(560, 900, 7)]
    assert any(near(pixel, (255, 0, 255)) for pixel in masked)  # the masked area is hatched
    assert not any(near(pixel, (255, 0, 255)) for pixel in [edited.getpixel((x, 300)) for x in range(0, 1024, 7)])
    assert result.usage.input_tokens_details.image_tokens > 0


def test_async_edit_streams_image_edit_events(openai_mock: str) -> None:
    async def run() -> list[Any]:
        async with openai.AsyncOpenAI(base_url=f"{openai_mock}/v1", api_key="sk-test", max_retries=0) as client:
            stream = await client.images.edit(model="gpt-image-1", image=("a.png", picture(300, 200)), prompt="x",
                                              stream=True, partial_images=2, size="1536x1024")
            return [event async for event in stream]

    events = asyncio.run(run())
    assert [event.type for event in events] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]
    assert decoded(events[-1].b64_json).size == (1536, 1024)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks create_variation (dall-e-2) deprecated
def test_variations_of_a_square_png_come_back_as_urls_to_images_of_it(openai_mock: str) -> None:
    result = client_for(openai_mock).images.create_variation(image=("v.png", picture(300, 300)), n=2, size="256x256")
    assert len(result.data) == 2
    for item in result.data:
        assert item.url
        with urllib.request.urlopen(item.url, timeout=10) as response:  # noqa: S310 (127.0.0.1)
            image = Image.open(io.BytesIO(response.read())).convert("RGB")
        assert image.size == (256, 256) and near(image.getpixel((40, 100)), GREEN)


@pytest.mark.parametrize(("model", "files", "code", "param"), [
    ("gpt-image-1", {"image": ("a.png", b"not an image at all")}, "invalid_image_file", "image"),
    ("gpt-image-1", {"image": ("a.gif", picture(64, 64, "GIF"))}, "invalid_image_format", "image"),
    ("gpt-image-1", {"image": [("a.png", picture(32, 32))] * 17}, "too_many_images", "image"),
    ("gpt-image-1", {"image": ("a.png", picture(64, 64)), "mask": ("m.png", mask_png(64, 64, "RGB"))},
     "invalid_image_format", "mask"),
    ("gpt-image-1", {"image": ("a.png", picture(64, 64)), "mask": ("m.png", mask_png(32, 32))},
     "invalid_image_dimensions", "mask"),
    ("dall-e-2", {"image": ("a.png", picture(64, 32))}, "invalid_image_dimensions", "image"),
    ("dall-e-2", {"image": ("a.jpg", picture(64, 64, "JPEG"))}, "invalid_image_format", "image"),
])
def test_each_bad_upload_is_refused_with_its_documented_code(openai_mock: str, model: str, files: dict[str, Any],
                                                            code: str, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(openai_mock).images.edit(model=model, prompt="x", **files)
    assert caught.value.code == code and caught.value.param == param


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_an_upload_just_over_the_limit_is_refused_without_the_server_holding_it() -> None:
    limit = 50 * 1024 * 1024
    head = picture(64, 64)
    oversize = head + b"\0" * (limit + 1024 - len(head))  # a PNG, padded to 1 KiB past 50 MB
    with serve("--profile", "openai") as (process, url):
        client = client_for(url)
        client.images.edit(model="gpt-image-1", image=("a.png", picture(64, 64)), prompt="warm up")
        before = rss_kb(process.pid)
        with pytest.raises(openai.BadRequestError) as caught:
            client.images.edit(model="gpt-image-1", image=("big.png", oversize), prompt="x")
        grown = rss_kb(process.pid) - before
        assert caught.value.code == "image_too_large"
        assert grown < 16 * 1024, f"the server grew by {grown} KB for a {len(oversize)} byte upload"
        assert client.images.generate(model="gpt-image-1", prompt="still serving").data
