"""Benchmark `--state redis://`: one replica on Redis against one in memory, and two replicas against one.

A redis-server of its own (a free port, no persistence), three `aiml-mock serve` processes (in memory; two on
that Redis) and `wrk` with `url` answers (unique prompts). "Two replicas" is two `wrk`s at once, one per
replica, with the same threads and connections in all as the one-replica runs; their rates add up. Each round
measures every case in turn; medians over the rounds, ratios against the baselines measured in the same run.

    python bench/bench_replicas.py [--seconds 3] [--rounds 3] [--connections 64]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
from concurrent.futures import ThreadPoolExecutor

import harness

SIGNING_KEY = "bench-replicas-shared-secret"


def start_redis() -> tuple[subprocess.Popen[str], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = harness.free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "Ready to accept connections" in line:
            return process, port
    raise SystemExit("redis-server did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    print(f"machine: {harness.machine()}", flush=True)
    print(f"versions: {harness.versions('uvicorn', 'starlette', 'redis')}", flush=True)
    redis, port = start_redis()
    state = ("--state", f"redis://127.0.0.1:{port}/0", "--signing-key", SIGNING_KEY)
    servers: list[harness.Server] = []
    try:
        memory = harness.start_mock(None, name="in memory")
        a = harness.start_mock(None, *state, name="redis A")
        b = harness.start_mock(None, *state, name="redis B")
        servers += [memory, a, b]
        half = max(args.connections // 2, 1)

        def one(server: harness.Server) -> float:
            server.wait_idle()
            return harness.wrk(server.url, "url", seconds=args.seconds, connections=args.connections).rps

        def two() -> float:
            a.wait_idle()
            b.wait_idle()
            with ThreadPoolExecutor(2) as pool:
                loads = list(pool.map(lambda server: harness.wrk(server.url, "url", seconds=args.seconds,
                                                                 connections=half, threads=1), (a, b)))
            return sum(load.rps for load in loads)

        cases = {"1 replica, in memory": lambda: one(memory), "1 replica, redis state": lambda: one(a),
                 "2 replicas, redis state": two}
        for server in servers:
            harness.wrk(server.url, "url", seconds=1, connections=args.connections)  # warm up
        rates: dict[str, list[float]] = {name: [] for name in cases}
        for round_number in range(args.rounds):
            names = list(cases) if round_number % 2 == 0 else list(cases)[::-1]
            for name in names:
                rates[name].append(cases[name]())
                print(f"  round {round_number + 1}: {name:24s} {rates[name][-1]:8,.0f} req/s", flush=True)
        median = {name: statistics.median(values) for name, values in rates.items()}
        memory_rps, one_rps, two_rps = median.values()
        print(f"\nmedians of {args.rounds} rounds, {args.seconds:g} s each, {args.connections} connections:")
        for name, value in median.items():
            print(f"  {name:24s} {value:8,.0f} req/s")
        print(f"  redis state / in memory (1 replica): {one_rps / memory_rps:5.2f}x")
        print(f"  2 replicas / 1 replica (redis state): {two_rps / one_rps:5.2f}x")
    finally:
        for server in servers:
            server.stop()
        redis.terminate()
        redis.wait(10)


if __name__ == "__main__":
    main()
