"""Benchmark `aiml-mock serve --workers N`: throughput of url answers (unique prompts) with 1, 2... workers.

Servers and `wrk` are not pinned: the workers share the machine's cores with the load generator, as they would
when a user load-tests their own service through the mock on one box. Each round measures every N in turn
(the order alternates); medians over the rounds, ratios against one worker measured in the same run.

    python bench/bench_workers.py [--workers 1,2] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics

import harness


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    counts = [int(item) for item in args.workers.split(",")]
    print(f"machine: {harness.machine()}", flush=True)
    servers = {}
    try:
        for count in counts:
            servers[count] = harness.start_mock(None, "--workers", str(count), name=f"{count} worker(s)")
            harness.wrk(servers[count].url, "url", seconds=1, connections=args.connections)  # warm every worker
        loads: dict[int, list[harness.Load]] = {count: [] for count in counts}
        for round_number in range(args.rounds):
            for count in counts if round_number % 2 == 0 else counts[::-1]:
                servers[count].wait_idle()
                load = harness.wrk(servers[count].url, "url", seconds=args.seconds, connections=args.connections)
                loads[count].append(load)
                print(f"  round {round_number + 1}: --workers {count}: {load.rps:8,.0f} req/s  "
                      f"p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:7.2f} ms", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    one = statistics.median(load.rps for load in loads[counts[0]])
    print(f"\nwrk -t2 -c{args.connections}, url answers with unique prompts, {args.rounds} rounds x "
          f"{args.seconds:g} s, medians, unpinned on {os.cpu_count()} cores (wrk included)")
    for count in counts:
        rps = statistics.median(load.rps for load in loads[count])
        p99 = statistics.median(load.p99_ms for load in loads[count])
        print(f"  --workers {count}: {rps:8,.0f} req/s  ({rps / one:.2f}x --workers {counts[0]}), p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
