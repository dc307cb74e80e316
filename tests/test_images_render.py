"""Which renderer serves: `AIML_MOCK_RENDERER`, and the plain fallback when Pillow's private API is missing or
changed. Each case is a fresh Python process, as the choice is made once, at import."""

from __future__ import annotations

import ast
import base64
import io
import os
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from aiml_mock.core import images
from aiml_mock.core.images import _fast, _plain
from aiml_mock.core.urls import spec_from_name
from tests.test_cli import post, serve

RENDER = """
import io, logging, sys
logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(message)s")
import aiml_mock.core.images as images
from PIL import Image
spec = images.ImageSpec("a cat", bytes(8), "dall-e-3", 300, 200, "hd", "png")
with Image.open(io.BytesIO(images.render_image(spec))) as im:
    print(images.RENDERER, im.size, images.render_image(spec) == images._plain.render(spec))
"""


def run(env: dict[str, str], before: str = "") -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(before) + RENDER
    inherited = {key: value for key, value in os.environ.items() if key != "AIML_MOCK_RENDERER"}
    return subprocess.run([sys.executable, "-c", code], env={**inherited, **env}, capture_output=True, text=True,
                          timeout=60)


def test_the_fast_renderer_serves_by_default() -> None:
    result = run({})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fast (300, 200) False\n"


@pytest.mark.parametrize(("value", "expected"), [("plain", "plain"), ("PLAIN", "plain"), ("fast", "fast"),
                                                 ("auto", "fast"), ("", "fast")])
def test_the_environment_variable_picks_the_renderer(value: str, expected: str) -> None:
    result = run({"AIML_MOCK_RENDERER": value})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{expected} (300, 200) {expected == 'plain'}\n"


def test_an_unknown_renderer_is_refused_naming_the_variable_and_the_choices() -> None:
    result = run({"AIML_MOCK_RENDERER": "quick"})
    assert result.returncode != 0
    assert "AIML_MOCK_RENDERER must be one of auto, fast, plain; got 'quick'" in result.stderr


MISSING = """
from PIL import ImageFont
del ImageFont.ImageFont._load_pilfont_data  # a Pillow without the private loader the bitmap fonts use
"""
CHANGED = """
from PIL import Image, ImageFont
loader = ImageFont.ImageFont._load_pilfont_data
def shifted(self, file, image):  # a Pillow whose private loader reads the glyph atlas differently
    return loader(self, file, image.transpose(Image.Transpose.FLIP_TOP_BOTTOM))
ImageFont.ImageFont._load_pilfont_data = shifted
"""


@pytest.mark.parametrize("pillow", [MISSING, CHANGED], ids=["private-api-missing", "private-api-changed"])
def test_plain_pillow_serves_when_the_private_api_is_missing_or_changed(pillow: str) -> None:
    result = run({}, before=pillow)
    assert result.returncode == 0, result.stderr
    warning, answer = result.stdout.splitlines()
    assert warning.startswith("WARNING aiml-mock renders images with plain Pillow (slower)")
    assert "AIML_MOCK_RENDERER=plain" in warning
    assert answer == "plain (300, 200) True"


@pytest.mark.parametrize("pillow", [MISSING, CHANGED], ids=["private-api-missing", "private-api-changed"])
def test_forcing_the_fast_renderer_where_it_cannot_serve_fails_at_import(pillow: str) -> None:
    result = run({"AIML_MOCK_RENDERER": "fast"}, before=pillow)
    assert result.returncode != 0
    assert "AIML_MOCK_RENDERER=fast, but the fast renderer cannot serve with this Pillow" in result.stderr


@pytest.fixture(scope="module")
def plain_server() -> Iterator[str]:
    """A real `aiml-mock serve` process forced to the plain renderer; its URL."""
    with serve(env={"AIML_MOCK_RENDERER": "plain"}) as (_, url):
        yield url


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the mock on 127.0.0.1
        data: bytes = response.read()
        return data


@pytest.mark.parametrize(
    ("body", "fmt", "size", "b64"),
    [
        ({"model": "dall-e-3", "size": "1024x1792"}, "PNG", (1024, 1792), True),
        ({"model": "alibaba/qwen-image", "output_format": "jpeg"}, "JPEG", None, False),
        ({"model": "alibaba/qwen-image-3", "output_format": "webp"}, "WEBP", None, False),
        ({"model": "flux-pro", "image_size": {"width": 2560, "height": 1440}}, "PNG", (2560, 1440), False),
    ],
)
def test_a_server_forced_to_plain_pillow_answers_generations_and_serves_the_plain_files(
    plain_server: str, body: dict[str, object], fmt: str, size: tuple[int, int] | None, b64: bool
) -> None:
    status, answer = post(plain_server, {"prompt": "a lighthouse at dusk, ünïcödé, 灯台", **body})
    assert status in (200, 201), answer
    item = answer["data"][0]  # type: ignore[index]
    data = download(item["url"])
    spec = spec_from_name(urlsplit(item["url"]).path.rsplit("/", 1)[1])
    assert data == _plain.render(spec) != _fast.render(spec)  # the plain renderer made what was served
    size = size or (spec.width, spec.height)
    assert_image(data, fmt, size)
    if b64:  # models that take `response_format`
        status, answer = post(plain_server, {"prompt": "a lighthouse", "response_format": "b64_json", **body})
        assert status in (200, 201), answer
        assert_image(base64.b64decode(answer["data"][0]["b64_json"]), fmt, size)  # type: ignore[index]


def assert_image(data: bytes, fmt: str, size: tuple[int, int]) -> None:
    with Image.open(io.BytesIO(data)) as im:
        im.load()  # decodes every pixel
        assert im.format == fmt and im.size == size


def test_only_the_fast_path_modules_touch_pillows_private_api() -> None:
    package = Path(images.__file__).parents[1]
    private = ("_imaging", "_load_pilfont_data")
    outside = [path for path in package.rglob("*.py") if path.parent.name != "images"
               and any(name in path.read_text(encoding="utf-8") for name in private)]
    assert outside == []
    users = set()
    for path in Path(images.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "PIL" and any(
                alias.name.startswith("_") for alias in node.names
            ) or isinstance(node, ast.Attribute) and node.attr in private:
                users.add(path.name)
    assert users == {"_band.py", "_deflate.py"}
