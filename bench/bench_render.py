"""Benchmark placeholder rendering against Pillow's plain RGB-to-PNG path, measured in the same run.

For each size and format it prints the median first render of unique prompts (nothing is cached but the
per-width flat-row data and the font atlases, built by one warm-up render whose time is shown as "warm-up"),
the median cached ``ImageCache.get``, the output size, and how many times faster the first render is than two
baselines: ``Image.new("RGB", size, colour).save(buffer, "PNG")``, and the plain reference renderer (the same
picture drawn and saved with Pillow's public API only, what serves when Pillow's private API is unavailable)
in the same format. Renders and baseline runs are interleaved, so the ratios hold even when the machine's speed
drifts during the run.

    /work/venv/bin/python bench/bench_render.py [--reps N] [--prompt-chars N] [--sizes 256x256,8192x8192]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import PIL  # noqa: E402
from PIL import Image  # noqa: E402

from aiml_mock.core.images import RENDERER, ImageCache, ImageFormat, ImageSpec, _plain, render_image  # noqa: E402

# The DALL-E sizes, then "resolution" sizes the catalogue serves: 1.5K and 2K 16:9, 2K, 4K and 4K 16:9.
SIZES = [
    (256, 256),
    (512, 512),
    (1024, 1024),
    (1792, 1024),
    (1024, 1792),
    (1536, 1024),
    (2048, 1152),
    (2736, 1536),
    (2048, 2048),
    (4096, 4096),
    (5456, 3072),
]
FORMATS: tuple[ImageFormat, ...] = ("png", "jpeg", "webp")
WORDS = (
    "A watercolor painting of a red fox reading a newspaper in a sunlit Paris cafe, ultra detailed, warm morning "
    "light, soft shadows, 35mm film grain, shallow depth of field, cinematic composition, trending on artstation, "
    "by a renowned illustrator, pastel palette, cozy atmosphere, steam rising from a coffee cup, croissant crumbs "
    "on the marble table, reflections in the window, bokeh, high resolution, award winning photograph. "
)


class Prompts:
    """Unique prompts of a fixed length, so no render can be served from any cache."""

    def __init__(self, chars: int) -> None:
        self.chars = chars
        self.count = 0

    def spec(self, width: int, height: int, fmt: ImageFormat) -> ImageSpec:
        self.count += 1
        text = f"{self.count:07d} {WORDS * (1 + self.chars // len(WORDS))}"[: self.chars]
        digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
        return ImageSpec(text, digest, "dall-e-3", width, height, "hd", fmt)


def elapsed_ms(action: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    action()
    return (time.perf_counter_ns() - start) / 1e6


def baseline_png(width: int, height: int) -> bytes:
    """Pillow's plain path: a full RGB image saved as PNG at the default level."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 180, 200)).save(out, "PNG")
    return out.getvalue()


def reps_for(width: int, height: int, reps: int) -> int:
    """Fewer repetitions for big images, so the whole run stays well under a minute."""
    pixels = width * height
    return max(3, reps if pixels <= 2_100_000 else reps // 4 if pixels <= 4_200_000 else reps // 20)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        width, _, height = item.strip().lower().partition("x")
        sizes.append((int(width), int(height)))
    return sizes


def bench_size(prompts: Prompts, width: int, height: int, reps: int) -> None:
    """Measure and print one line per format for one size."""
    warm_up = {fmt: elapsed_ms(functools.partial(render_image, prompts.spec(width, height, fmt))) for fmt in FORMATS}
    first: dict[ImageFormat, list[float]] = {fmt: [] for fmt in FORMATS}
    sizes: dict[ImageFormat, list[int]] = {fmt: [] for fmt in FORMATS}
    plain: dict[ImageFormat, list[float]] = {fmt: [] for fmt in FORMATS}
    baseline: list[float] = []
    baseline_every = max(1, reps // max(3, reps // 5))
    plain_every = max(1, reps // 3) if width * height > 2_100_000 else baseline_every  # it takes up to seconds
    for rep in range(reps):
        for fmt in FORMATS:
            spec = prompts.spec(width, height, fmt)
            start = time.perf_counter_ns()
            data = render_image(spec)
            first[fmt].append((time.perf_counter_ns() - start) / 1e6)
            sizes[fmt].append(len(data))
            if rep % plain_every == 0:
                plain[fmt].append(elapsed_ms(functools.partial(_plain.render, prompts.spec(width, height, fmt))))
        if rep % baseline_every == 0:
            baseline.append(elapsed_ms(functools.partial(baseline_png, width, height)))
    base = statistics.median(baseline)
    for fmt in FORMATS:
        cache = ImageCache()
        spec = prompts.spec(width, height, fmt)
        cache.get(spec)
        cached = statistics.median(elapsed_ms(functools.partial(cache.get, spec)) for _ in range(1000))
        render, reference = statistics.median(first[fmt]), statistics.median(plain[fmt])
        print(
            f"{width:>5}x{height:<4} {fmt:>4} {render:9.3f} {cached * 1000:9.2f} {statistics.median(sizes[fmt]):9.0f} "
            f"{base:11.2f} {base / render:8.1f} {reference:8.1f} {reference / render:7.1f} {warm_up[fmt]:10.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=100, help="renders per size and format (fewer for big sizes)")
    parser.add_argument("--prompt-chars", type=int, default=300, help="prompt length (300 is the drawn maximum)")
    parser.add_argument("--sizes", type=parse_sizes, default=SIZES, help="e.g. 1024x1024,8192x8192")
    args = parser.parse_args(argv)
    prompts = Prompts(args.prompt_chars)
    print(
        f"Python {platform.python_version()}, Pillow {PIL.__version__}, {platform.machine()}, renderer {RENDERER}, "
        f"prompt {args.prompt_chars} chars; medians; first = unique prompt, nothing cached"
    )
    print(
        f"{'size':>10} {'fmt':>4} {'first ms':>9} {'cached us':>9} {'bytes':>9} {'baseline ms':>11} "
        f"{'x faster':>8} {'plain ms':>8} {'x plain':>7} {'warm-up ms':>10}"
    )
    for width, height in args.sizes:
        bench_size(prompts, width, height, reps_for(width, height, args.reps))


if __name__ == "__main__":
    main()
