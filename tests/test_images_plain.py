"""The plain Pillow reference renderer is the oracle of the fast encoders: their files decode to its pixels.

For a grid of sizes (1x1 to 8192 a side, odd sizes, the scaled-text thresholds at 1152 and 2560 px on the shorter
side), prompts (empty, long, non-Latin) and formats, the fast path's file decodes with Pillow to exactly the
reference picture (PNG, WebP and the TIFF converted from the PNG are lossless), and passes an independent decoder:
Debian's `pngcheck` (chunk CRCs, the zlib stream and its Adler-32), `dwebp` (its pixels must be the reference's
too) and `djpeg`. JPEG is lossy (quality 70, 4:2:0 chroma), so against the exact picture only a mean absolute
difference bound holds; against Pillow's own encode of the reference at the same settings the decode is exact,
because stitching only joins entropy-coded restart intervals that the same encoder wrote.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from aiml_mock.core.generation import image_bytes
from aiml_mock.core.images import ImageCache, ImageSpec, _fast, _plain

PROMPTS = {
    "empty": "",
    "long": "A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses. " * 4,
    "non-latin": "Тиранозавр на пляже, 日本語のテキスト, ελληνικά, עברית, العربية, Ünïcödé ﬁ 🦊",
}
SMALL = [(1, 1), (2, 3), (7, 5), (31, 33), (32, 32), (333, 77), (77, 333), (1000, 1003)]
THRESHOLDS = [(1151, 1600), (1600, 1152), (1153, 1151), (2559, 2600), (2560, 2561)]  # text at 1/1, 1/2, 1/4
GRID = [(size, prompt, fmt) for size in SMALL for prompt in PROMPTS for fmt in ("png", "jpeg", "webp", "tiff")]
GRID += [(size, prompt, fmt) for size in THRESHOLDS for prompt in ("long", "non-latin") for fmt in ("png", "tiff")]
GRID += [(size, "long", fmt) for size in THRESHOLDS for fmt in ("jpeg", "webp")]
GRID += [((8192, 64), "long", fmt) for fmt in ("png", "jpeg", "webp")] + [((8192, 8192), "long", "png")]
JPEG_MEAN_ERROR = 10  # per channel over the image; q70 errs most on the 1 px border and glyph edges (small images)
TOOLS = {"pngcheck": "pngcheck", "dwebp": "webp", "djpeg": "libjpeg-turbo-progs"}  # tool -> Debian package


def spec(size: tuple[int, int], prompt: str, fmt: str) -> ImageSpec:
    digest = bytes([len(prompt) % 256, size[0] % 256, size[1] % 256, 7, 1, 2, 3, 4])
    return ImageSpec(PROMPTS[prompt], digest, "dall-e-3", size[0], size[1], "hd", fmt, size[0] % 3)  # type: ignore[arg-type]


def tool(name: str) -> str:
    """The tool's path; outside CI a missing tool skips (saying how to install it), in CI it fails."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package {TOOLS[name]}; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message + "; CI fails without it")
    return path


def fast_file(image: ImageSpec) -> bytes:
    """What the server sends for ``image`` with the fast renderer (TIFF is converted from the fast PNG)."""
    if str(image.fmt) != "tiff":
        return _fast.render(image)
    png = ImageSpec(image.text, image.prompt_digest, image.model, image.width, image.height, image.label, "png",
                    image.index)
    cache = ImageCache()
    cache._store(png, png, _fast.render(png))  # the cache then serves the fast PNG whatever renderer is chosen
    return image_bytes(image, cache)


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.convert("RGB")


def mean_error(one: Image.Image, other: Image.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(one, other)).mean)


def same_pixels(one: Image.Image, other: Image.Image) -> bool:
    return one.size == other.size and ImageChops.difference(one, other).getbbox() is None


@pytest.mark.parametrize(("size", "prompt", "fmt"), GRID, ids=[f"{w}x{h}-{p}-{f}" for (w, h), p, f in GRID])
def test_fast_files_decode_to_the_reference_pixels_and_pass_an_independent_decoder(
    size: tuple[int, int], prompt: str, fmt: str, tmp_path: Path
) -> None:
    image = spec(size, prompt, fmt)
    data = fast_file(image)
    reference = _plain.picture(image).convert("RGB")
    got = decode(data)
    if fmt == "jpeg":
        assert got.size == size
        assert mean_error(got, reference) < JPEG_MEAN_ERROR
        assert same_pixels(got, decode(_plain.render(image)))
        djpeg = subprocess.run([tool("djpeg"), "-ppm"], input=data, capture_output=True, timeout=60, check=True)
        independent = decode(djpeg.stdout)
        assert independent.size == size and mean_error(independent, reference) < JPEG_MEAN_ERROR
        return
    assert same_pixels(got, reference)
    if fmt == "png":
        (tmp_path / "image.png").write_bytes(data)
        check = subprocess.run([tool("pngcheck"), "-q", "image.png"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
    elif fmt == "webp":
        (tmp_path / "image.webp").write_bytes(data)
        subprocess.run([tool("dwebp"), "image.webp", "-ppm", "-o", "image.ppm"], cwd=tmp_path, capture_output=True,
                       timeout=60, check=True)
        assert same_pixels(decode((tmp_path / "image.ppm").read_bytes()), reference)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (31, 33), (1000, 1003), (1600, 1152)])
def test_plain_files_are_the_reference_picture_in_the_asked_format(fmt: str, width: int, height: int) -> None:
    image = spec((width, height), "long", fmt)
    data = _plain.render(image)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt] and im.size == (width, height)
    reference = _plain.picture(image).convert("RGB")
    if fmt == "jpeg":
        assert mean_error(decode(data), reference) < JPEG_MEAN_ERROR
    else:
        assert same_pixels(decode(data), reference)


def test_the_reference_draws_the_text_the_border_and_the_colours() -> None:
    """Not an empty oracle: a 512x512 picture has a flat background, a border and ink in the text band."""
    picture = _plain.picture(spec((512, 512), "long", "png"))
    assert picture.mode == "P" and len(picture.getpalette() or []) == 12
    assert picture.getpixel((0, 0)) == picture.getpixel((511, 256)) == 1  # border
    assert picture.getpixel((40, 40)) == 0  # background
    assert picture.crop((30, 100, 482, 412)).getextrema() == (0, 3)  # anti-aliased ink up to full text colour
