"""Benchmark placeholder rendering against Pillow's plain RGB-to-PNG path, measured in the same run.

For each size and format it prints the median first render of unique prompts (nothing cached but the per-width
flat-row data and font atlases, which a warm-up render builds and which is reported as "warm-up"), the median
cached ``ImageCache.get``, the output size, and how many times faster than the baseline
``Image.new("RGB", size, colour).save(buffer, "PNG")`` the first render is.

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

from aiml_mock.images import ImageCache, ImageFormat, ImageSpec, render_image  # noqa: E402

SIZES = [(256, 256), (512, 512), (1024, 1024), (1792, 1024), (1024, 1792), (1536, 1024), (2048, 2048), (4096, 4096)]
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


def median_ms(action: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter_ns()
        action()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1e6


def baseline_png(width: int, height: int) -> bytes:
    """Pillow's plain path: a full RGB image saved as PNG at the default level."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 180, 200)).save(out, "PNG")
    return out.getvalue()


def reps_for(width: int, height: int, reps: int) -> int:
    """Fewer repetitions for big images so the whole run stays around a minute."""
    pixels = width * height
    return max(3, reps if pixels <= 2_100_000 else reps // 4 if pixels <= 4_200_000 else reps // 20)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        width, _, height = item.strip().lower().partition("x")
        sizes.append((int(width), int(height)))
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=100, help="renders per size and format (fewer for big sizes)")
    parser.add_argument("--prompt-chars", type=int, default=300, help="prompt length (300 is the drawn maximum)")
    parser.add_argument("--sizes", type=parse_sizes, default=SIZES, help="e.g. 1024x1024,8192x8192")
    args = parser.parse_args(argv)
    prompts = Prompts(args.prompt_chars)
    print(
        f"Python {platform.python_version()}, Pillow {PIL.__version__}, {platform.machine()}, "
        f"prompt {args.prompt_chars} chars, medians"
    )
    print(
        f"{'size':>10} {'fmt':>4} {'first ms':>9} {'cached us':>9} {'bytes':>9} {'baseline ms':>11} "
        f"{'x faster':>8} {'warm-up ms':>10}"
    )
    for width, height in args.sizes:
        reps = reps_for(width, height, args.reps)
        baseline = median_ms(functools.partial(baseline_png, width, height), max(3, reps // 5))
        for fmt in FORMATS:
            row = bench_one(prompts, width, height, fmt, reps)
            print(
                f"{width:>5}x{height:<4} {fmt:>4} {row['first']:9.3f} {row['cached'] * 1000:9.2f} "
                f"{row['bytes']:9.0f} {baseline:11.2f} {baseline / row['first']:8.1f} {row['warm_up']:10.2f}"
            )


def bench_one(prompts: Prompts, width: int, height: int, fmt: ImageFormat, reps: int) -> dict[str, float]:
    """Warm-up, median first render, median cached get (all ms) and median size of one size and format."""
    start = time.perf_counter_ns()
    render_image(prompts.spec(width, height, fmt))  # builds this width's flat rows and the font atlases
    warm_up = (time.perf_counter_ns() - start) / 1e6
    sizes: list[int] = []

    def first_render() -> None:
        sizes.append(len(render_image(prompts.spec(width, height, fmt))))

    first = median_ms(first_render, reps)
    cache = ImageCache()
    spec = prompts.spec(width, height, fmt)
    cache.get(spec)
    cached = median_ms(functools.partial(cache.get, spec), 1000)
    return {"first": first, "cached": cached, "bytes": statistics.median(sizes), "warm_up": warm_up}


if __name__ == "__main__":
    main()
