"""Placeholder rendering: real files of the asked size, deterministic, robust to any text, cheaply cached."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import threading
import zlib
from collections.abc import Callable
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat

from aiml_mock.core import images
from aiml_mock.core.images import (
    CONTENT_TYPES,
    ImageCache,
    ImageSpec,
    _band,
    _flat,
    _fonts,
    _jpeg,
    _layout,
    _text,
    render_image,
)

PROMPT = "A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses."
FORMATS = ("png", "jpeg", "webp")
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def make_spec(
    text: str = PROMPT,
    width: int = 256,
    height: int = 256,
    fmt: str = "png",
    index: int = 0,
    model: str = "dall-e-3",
    label: str = "hd",
    seed: str = "",
) -> ImageSpec:
    digest = hashlib.blake2b(f"{seed}\x00{text}".encode(errors="surrogatepass"), digest_size=8).digest()
    return ImageSpec(text, digest, model, width, height, label, fmt, index)  # type: ignore[arg-type]


def decode(data: bytes) -> Image.Image:
    """Decode fully, after Pillow's structural check (chunk CRCs for PNG)."""
    Image.open(io.BytesIO(data)).verify()
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def colours(im: Image.Image) -> list[tuple[int, tuple[int, int, int]]]:
    """(count, RGB colour) of every colour in the image."""
    found = im.convert("RGB").getcolors(maxcolors=1 << 24)
    assert found is not None
    return cast(list[tuple[int, tuple[int, int, int]]], found)


def background(im: Image.Image) -> tuple[int, int, int]:
    """The most frequent colour of the image: the flat background."""
    return max(colours(im))[1]


SIZES = [
    (1, 1),
    (2, 3),
    (16, 16),
    (31, 33),
    (64, 64),
    (333, 77),
    (1024, 1024),
    (1792, 1024),
    (1024, 1792),
    (8192, 64),
    (64, 8192),
    (1000, 1003),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_files_decode_to_exactly_the_requested_size_and_format(fmt: str, width: int, height: int) -> None:
    im = decode(render_image(make_spec(width=width, height=height, fmt=fmt)))
    assert im.size == (width, height)
    assert im.format == PIL_FORMATS[fmt]


def test_content_types_name_each_format() -> None:
    assert dict(CONTENT_TYPES) == {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
    for fmt, ctype in CONTENT_TYPES.items():
        assert Image.MIME[PIL_FORMATS[fmt]] == ctype


def png_scanlines(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, bit depth, decompressed scanlines) of a palette PNG, checking every chunk's CRC.

    ``zlib.decompress`` raises on a wrong Adler-32, so a wrong checksum anywhere fails here.
    """
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, depth, colour_type = struct.unpack(">IIBB", data[16:26])
    assert colour_type == 3
    at, idat = 8, b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[at + 8 + length : at + 12 + length])[0]
        if kind == b"IDAT":
            idat += body
        at += 12 + length
    return width, height, depth, zlib.decompress(idat)


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (2048, 2048), (4096, 4096)])
def test_png_is_a_two_bit_palette_image_with_a_valid_zlib_stream(width: int, height: int) -> None:
    _, _, depth, raw = png_scanlines(render_image(make_spec(width=width, height=height)))
    assert depth == 2
    assert len(raw) == height * (1 + (width * depth + 7) // 8)


# Big images get their text drawn at 1/2 or 1/4 scale and written as hand-made deflate blocks. These sizes cover
# every distance class a row can be (its deflate codes depend on it), odd widths and both scales.
SCALED = [
    (1280, 1280),
    (1283, 1290),
    (1601, 1300),
    (2048, 2048),
    (2501, 1280),
    (3501, 1281),
    (4096, 1280),
    (5001, 1280),
    (7001, 1280),
    (8192, 1280),
    (2560, 2560),
    (4099, 2561),
    (8192, 2600),
]


@pytest.mark.parametrize(("width", "height"), SCALED)
def test_big_pngs_hold_exactly_the_drawn_image(width: int, height: int) -> None:
    spec = make_spec(PROMPT * 4, width=width, height=height, index=width % 3)
    plan = _band._plan(spec)
    assert plan.scale in (2, 4)
    drawn = _band._unscaled(plan)  # the text scaled up with Pillow, as JPEG and WebP get it
    assert drawn.band is not None
    edge = _flat._row_run(width, plan.border, True).row
    side = _flat._row_run(width, plan.border, False).row
    below = height - plan.border - plan.band_y - plan.band_height
    expected = b"".join(
        [
            edge * plan.border,
            side * (plan.band_y - plan.border),
            drawn.band.tobytes("raw", "L;2"),
            side * below,
            edge * plan.border,
        ]
    )
    assert png_scanlines(render_image(spec)) == (width, height, 2, expected)


def ink_box(im: Image.Image, margin: int) -> tuple[int, int, int, int]:
    """Bounding box of the text: palette pixels other than the background, inside the margin."""
    box = im.crop((margin, margin, im.width - margin, im.height - margin)).getbbox()
    assert box is not None
    return box


@pytest.mark.parametrize(("width", "height"), [(2048, 2048), (4096, 4096), (5456, 3072)])
def test_big_images_show_the_text_where_and_as_big_as_an_exact_drawing(
    monkeypatch: pytest.MonkeyPatch, width: int, height: int
) -> None:
    spec = make_spec(PROMPT * 4, width=width, height=height)
    scaled = decode(render_image(spec))
    monkeypatch.setattr(_layout, "_SCALES", ())  # draw the text at the image's size
    exact = decode(render_image(spec))
    assert scaled.mode == exact.mode == "P"
    margin = min(width, height) // 20
    tolerance = min(width, height) // 40  # about a line of text
    for got, want in zip(ink_box(scaled, margin), ink_box(exact, margin), strict=True):
        assert abs(got - want) <= tolerance


def test_background_is_flat_text_differs_and_a_border_frames_it() -> None:
    im = decode(render_image(make_spec(width=512, height=512))).convert("RGB")
    bg = background(im)
    assert im.getpixel((40, 40)) == bg
    assert im.getpixel((471, 471)) == bg
    assert im.getpixel((0, 0)) != bg  # the border
    assert im.getpixel((0, 256)) == im.getpixel((511, 256)) == im.getpixel((256, 0)) == im.getpixel((256, 511))
    middle = im.crop((0, 200, 512, 312))
    found = [colour for _, colour in colours(middle)]
    assert any(colour != bg for colour in found)
    # Light, fairly pleasant background; text in black or white, whichever contrasts more.
    assert sum(bg) / 3 > 100
    ink = max(found, key=lambda colour: sum(abs(a - b) for a, b in zip(colour, bg, strict=True)))
    assert ink in ((0, 0, 0), (255, 255, 255))


@pytest.mark.parametrize(("width", "height"), [(640, 480), (2048, 1536), (2560, 2560)])
def test_same_spec_gives_the_same_bytes_in_every_format(width: int, height: int) -> None:
    for fmt in FORMATS:
        spec = make_spec(width=width, height=height, fmt=fmt)
        assert render_image(spec) == render_image(make_spec(width=width, height=height, fmt=fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_different_prompt_gives_different_bytes_and_background(fmt: str) -> None:
    one = decode(render_image(make_spec("a red fox", fmt=fmt)))
    other = decode(render_image(make_spec("a blue whale", fmt=fmt)))
    assert render_image(make_spec("a red fox", fmt=fmt)) != render_image(make_spec("a blue whale", fmt=fmt))
    assert background(one) != background(other)


def test_only_the_digest_picks_the_colour() -> None:
    one = make_spec("same words", seed="1")
    other = make_spec("same words", seed="2")
    assert background(decode(render_image(one))) != background(decode(render_image(other)))


def test_batch_index_changes_the_image() -> None:
    assert render_image(make_spec(index=0)) != render_image(make_spec(index=1))


def test_webp_is_pixel_identical_to_the_png() -> None:
    for width, height in [(1024, 1024), (1030, 77), (5, 3), (2048, 512), (2048, 1536), (2600, 2560)]:
        spec = make_spec(PROMPT * 4, width=width, height=height)
        png = decode(render_image(spec)).convert("RGB")
        webp = decode(render_image(make_spec(PROMPT * 4, width=width, height=height, fmt="webp"))).convert("RGB")
        assert ImageChops.difference(png, webp).getbbox() is None


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (1000, 1003), (96, 700), (4096, 40), (2048, 1536)])
def test_stitched_jpeg_looks_like_the_png(width: int, height: int) -> None:
    png = decode(render_image(make_spec(PROMPT * 4, width=width, height=height))).convert("RGB")
    jpeg = decode(render_image(make_spec(PROMPT * 4, width=width, height=height, fmt="jpeg")))
    assert jpeg.mode == "RGB"
    error = ImageStat.Stat(ImageChops.difference(png, jpeg)).mean
    assert max(error) < 4, error


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (1000, 1003), (16, 1752), (96, 700), (1, 300)])
def test_stitched_jpeg_decodes_exactly_like_a_whole_image_encode(width: int, height: int) -> None:
    plan = _band._plan(make_spec(PROMPT * 4, width=width, height=height, fmt="jpeg"))
    stitched = decode(_jpeg._jpeg(plan))
    whole = decode(_jpeg._encode_jpeg(_jpeg._rows(plan, 0, height), restart=True))
    assert ImageChops.difference(stitched, whole).getbbox() is None


def test_largest_png_renders_without_a_full_size_image() -> None:
    data = render_image(make_spec(width=8192, height=8192))
    assert len(data) < 1_000_000
    im = decode(data)
    assert im.size == (8192, 8192)


HOSTILE = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.characters(categories=["Cs", "Cc", "Cf", "Co", "Cn", "Mn", "Zl", "Zp"]),
        st.sampled_from(
            [
                "\x00",
                "\n",
                "\t",
                "\r",
                "\u202e",
                "\u200d",
                "\ufeff",
                "\ud800",
                "\udfff",
                "\U0001f98a",
                "\ufdfd",
                "\u0301",
                "\u05d0",
                "\u0627",
                "\u1100",
                "ｗ",
                "…",
                "\u2028",
            ]
        ),
    ),
    max_size=400,
)


@settings(max_examples=50, deadline=None)
@given(
    text=HOSTILE,
    model=HOSTILE,
    label=HOSTILE,
    size=st.sampled_from([(1, 1), (16, 16), (200, 120), (512, 64)]),
    fmt=st.sampled_from(FORMATS),
)
def test_any_text_renders_a_valid_image(text: str, model: str, label: str, size: tuple[int, int], fmt: str) -> None:
    spec = ImageSpec(text, b"\x01\x02\x03\x04\x05\x06\x07\x08", model, size[0], size[1], label, fmt)  # type: ignore[arg-type]
    assert decode(render_image(spec)).size == size


@settings(max_examples=50, deadline=None)
@given(text=HOSTILE, max_width=st.integers(0, 600), max_lines=st.integers(0, 6))
def test_wrapped_lines_fit_the_width_and_the_line_budget(text: str, max_width: int, max_lines: int) -> None:
    font = _fonts._font(16)
    lines = _text._wrap(font, _text._sanitize(text), max_width, max_lines)
    assert len(lines) <= max_lines
    assert all(line and font.width(line) <= max_width for line in lines)


def test_long_prompts_are_cut_with_an_ellipsis() -> None:
    font = _fonts._font(16)
    lines = _text._wrap(font, _text._sanitize("word " * 500), 300, 3)
    assert len(lines) == 3
    assert lines[-1].endswith(_fonts._ELLIPSIS)


def test_text_the_font_cannot_draw_becomes_drawable() -> None:
    assert _text._sanitize("Café\u0301 naïve\x00\t\u202e ﬁ") == "Cafe naive fi"
    assert _text._sanitize("🦊 \ud800 א") == "? ? ?"
    assert _text._sanitize("  a\n\nb  ") == "a b"


@given(st.binary(max_size=300), st.binary(max_size=300))
@settings(max_examples=50)
def test_adler32_combine_matches_zlib(first: bytes, second: bytes) -> None:
    combined = _flat._adler_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)


@pytest.mark.parametrize("bad", [0, -1, 8193, True, 1.5])
def test_spec_rejects_sizes_out_of_range(bad: object) -> None:
    with pytest.raises(ValueError):
        ImageSpec("x", b"12345678", "m", bad, 10, "")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ImageSpec("x", b"12345678", "m", 10, bad, "")  # type: ignore[arg-type]


def test_render_refuses_formats_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="tiff"):
        render_image(make_spec(fmt="tiff"))


# ------------------------------------------------------------------------------------------------------------
# Cache


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[ImageSpec]:
    calls: list[ImageSpec] = []
    real: Callable[[ImageSpec], bytes] = images._render.render_image

    def counting(spec: ImageSpec) -> bytes:
        calls.append(spec)
        return real(spec)

    monkeypatch.setattr(images._render, "render_image", counting)  # what the cache calls
    return calls


def test_cache_renders_once_and_returns_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_renders(monkeypatch)
    cache = ImageCache()
    first = cache.get(make_spec())
    assert cache.get(make_spec()) is first
    assert len(calls) == 1
    assert first == render_image(make_spec())


def test_b64_round_trips_shares_the_render_and_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_renders(monkeypatch)
    cache = ImageCache()
    spec = make_spec(fmt="webp")
    text = cache.get_b64(spec)
    assert isinstance(text, str) and text.isascii()
    assert base64.b64decode(text) == cache.get(spec)
    assert cache.get_b64(spec) is text
    assert len(calls) == 1


def test_cache_stays_within_its_byte_budget_and_evicts_least_recently_used() -> None:
    budget = 40_000
    cache = ImageCache(max_bytes=budget)
    keep = make_spec("keep me", width=128, height=128)
    cache.get(keep)
    for i in range(60):
        cache.get(make_spec(f"prompt {i}", width=128, height=128))
        cache.get_b64(make_spec(f"prompt {i}", width=128, height=128))
        cache.get(keep)  # recently used, so never the one evicted
        assert cache.size_bytes <= budget
    assert len(cache) < 120
    cache.get(keep)
    assert make_spec("prompt 0", width=128, height=128) not in cache
    assert keep in cache
    cache.clear()
    assert cache.size_bytes == 0 and len(cache) == 0


def test_cache_does_not_keep_an_image_bigger_than_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_renders(monkeypatch)
    cache = ImageCache(max_bytes=100)
    assert cache.get(make_spec()) == cache.get(make_spec())
    assert cache.size_bytes == 0
    assert len(calls) == 2


def test_cache_is_consistent_under_threads() -> None:
    cache = ImageCache(max_bytes=200_000)
    specs = [make_spec(f"p{i % 12}", width=96, height=96, fmt=FORMATS[i % 3]) for i in range(48)]
    expected = {spec: render_image(spec) for spec in specs}
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for spec in specs[offset:] + specs[:offset]:
                assert cache.get(spec) == expected[spec]
                assert base64.b64decode(cache.get_b64(spec)) == expected[spec]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k * 7,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.size_bytes <= 200_000
