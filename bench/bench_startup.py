"""Benchmark start-up: `aiml-mock serve` to a 200 from `/health`, against `python -c pass`, in the same run.

Each round times, in turn: the bare interpreter (`python -c pass`), `import aiml_mock`, the container health
probe (`aiml-mock health` against a running mock), and `aiml-mock serve --port 0` from launch to the first 200
from `GET /health` (the request is sent as soon as the port is printed; it waits in the listen backlog), once
with the parsed-contract cache warm and once with an empty cache directory (a fresh container). Medians over
the rounds; the ratios compare with `python -c pass` measured in the same rounds.

    python bench/bench_startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import harness


def script(name: str) -> list[str]:
    """The console script next to this interpreter (what users run), else `python -m aiml_mock`."""
    found = Path(sys.executable).parent / name
    return [str(found)] if found.exists() else [sys.executable, "-m", "aiml_mock"]


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def serve_to_health(env: dict[str, str]) -> float:
    """Seconds from launching `aiml-mock serve` to a 200 from `/health`."""
    started = time.perf_counter()
    process = subprocess.Popen([*script("aiml-mock"), "serve", "--port", "0"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        match = re.search(r"http://[^:]+:(\d+)", process.stdout.readline())
        if match is None:
            raise SystemExit("aiml-mock serve printed no URL")
        status = harness.get(f"http://127.0.0.1:{match.group(1)}", "/health")
        elapsed = time.perf_counter() - started
        if status != 200:
            raise SystemExit(f"/health answered {status}")
        return elapsed
    finally:
        process.terminate()
        process.wait(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"machine: {harness.machine()}", flush=True)
    env = harness.clean_env()
    cold_cache = tempfile.mkdtemp(prefix="aiml-mock-bench-cache-")
    mock = harness.start_mock()
    probe_env = {**env, "AIML_MOCK_PORT": str(mock.port)}
    steps: dict[str, Callable[[], float]] = {
        "python -c pass": lambda: timed([sys.executable, "-c", "pass"], env),
        "python -c 'import aiml_mock'": lambda: timed([sys.executable, "-c", "import aiml_mock"], env),
        "aiml-mock health (the probe)": lambda: timed([*script("aiml-mock"), "health"], probe_env),
        "aiml-mock serve -> 200 /health": lambda: serve_to_health(env),
        "  the same, empty cache": lambda: serve_to_health({**env, "XDG_CACHE_HOME": cold_cache}),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    try:
        for _ in range(args.rounds):
            for name, step in steps.items():
                if name.endswith("empty cache"):
                    shutil.rmtree(os.path.join(cold_cache, "aiml-mock"), ignore_errors=True)
                times[name].append(step())
    finally:
        mock.stop()
        shutil.rmtree(cold_cache, ignore_errors=True)
    base = statistics.median(times["python -c pass"])
    print(f"\n{args.rounds} rounds, medians (min-max)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:32} {median * 1000:7.0f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})  "
              f"{median / base:5.1f}x python -c pass")
    serve = statistics.median(times["aiml-mock serve -> 200 /health"])
    cold = statistics.median(times["  the same, empty cache"])
    print(f"start-up: {serve:.2f} s warm, {cold:.2f} s with an empty cache (target < 1 s: "
          f"{'met' if max(serve, cold) < 1 else 'NOT met'})")


if __name__ == "__main__":
    main()
