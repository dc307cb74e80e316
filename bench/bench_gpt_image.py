"""GPT image figures, in one run against one `aiml-mock serve --profile openai`: a plain b64_json generation (the
baseline), a streamed one's time to its first partial frame and to its end, and an edit of a 1024x1024 upload.

    python bench/bench_gpt_image.py [--rounds 15]

Prints medians and each figure as a ratio to the generation measured in the same run (never an absolute
threshold). The official `openai` SDK makes every call (pip install -e '.[test]').
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable

import openai
from harness import machine, median, start_mock, versions
from PIL import Image


def upload(side: int) -> bytes:
    image = Image.new("RGB", (side, side), (20, 40, 230))
    image.paste((0, 200, 0), (0, 0, side // 2, side))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def timed(call: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    server = start_mock(None, "--profile", "openai")
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-bench", max_retries=0)
        picture = upload(1024)
        counter = iter(range(1 << 30))

        def generate() -> None:  # a new prompt each time: no render is served from the cache
            client.images.generate(model="gpt-image-1", prompt=f"a lighthouse {next(counter)}", size="1024x1024")

        first_frames: list[float] = []

        def stream() -> None:
            started = time.perf_counter()
            events = client.images.generate(model="gpt-image-1", prompt=f"a kite {next(counter)}", stream=True,
                                            partial_images=2, size="1024x1024")
            for index, _ in enumerate(events):
                if index == 0:
                    first_frames.append(time.perf_counter() - started)

        def edit() -> None:
            client.images.edit(model="gpt-image-1", image=("in.png", picture), prompt=f"a hat {next(counter)}",
                               size="1024x1024")

        generate(), stream(), edit()  # warm up
        first_frames.clear()
        baseline = timed(generate, rounds)
        whole_stream = timed(stream, rounds)
        first = median(first_frames)
        edited = timed(edit, rounds)
    finally:
        server.process.terminate()
        server.process.wait(10)
    print(machine())
    print(versions("openai", "pillow", "python-multipart", "uvicorn"))
    print(f"{rounds} rounds each, medians, 1024x1024 PNG:")
    print(f"  generation (b64_json, the baseline)    {baseline * 1000:8.1f} ms   1.00x")
    print(f"  stream, first partial frame            {first * 1000:8.1f} ms   {first / baseline:.2f}x")
    print(f"  stream, 2 partials + completed         {whole_stream * 1000:8.1f} ms   {whole_stream / baseline:.2f}x")
    print(f"  edit of a 1024x1024 upload             {edited * 1000:8.1f} ms   {edited / baseline:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
