"""Benchmark the mock's memory under sustained traffic: resident memory before and after 50,000 requests.

`aiml-mock serve` with default settings (journal on: 1,000 entries) is warmed up until its journal is full,
then driven by `wrk` with `bench/generations.lua` in `mixed` mode: url answers whose images are then fetched
(rendered and cached), b64_json answers (rendered, cached), a FLUX model with an unknown field (a journaled
violation) and invalid sizes (400s), each with a different prompt. Resident memory (VmRSS) is read after each
`wrk` run, so the trend shows whether it levels off; the figure that counts is the growth from the full journal
to the end. A bare Starlette app's resident memory is shown alongside, as a scale.

    python bench/bench_memory.py [--requests 50000] [--chunk-seconds 5]
"""

from __future__ import annotations

import argparse
import time

import harness


def drive(server: harness.Server, requests: int, chunk: float, core: str | None) -> list[tuple[int, float]]:
    """`wrk` runs of `chunk` seconds until `requests` were answered; (total so far, RSS MiB) after each."""
    done, trend = 0, []
    while done < requests:
        load = harness.wrk(server.url, "mixed", seconds=chunk, core=core)
        if load.socket_errors:
            raise SystemExit(f"{load.socket_errors} socket errors: the mock stopped answering")
        done += load.requests
        server.wait_idle()
        trend.append((done, server.rss_mib()))
        print(f"  {done:>7,} requests: RSS {trend[-1][1]:7.1f} MiB", flush=True)
    return trend


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000, help="requests after the warm-up")
    parser.add_argument("--chunk-seconds", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--warm-up", type=int, default=3_000, help="requests first (the journal keeps 1,000)")
    args = parser.parse_args(argv)
    print(f"machine: {harness.machine()}", flush=True)
    pins = harness.cores()
    server_core, load_core = pins if pins else (None, None)
    begun = time.monotonic()
    mock = harness.start_mock(server_core)
    bare = harness.start_bare(server_core)
    try:
        started = mock.rss_mib()
        print(f"aiml-mock started: RSS {started:.1f} MiB (bare Starlette app: {bare.rss_mib():.1f} MiB)")
        print(f"warm-up ({args.warm_up:,} requests, journal full):", flush=True)
        before = drive(mock, args.warm_up, 2.0, load_core)[-1][1]
        print(f"{args.requests:,} more requests:", flush=True)
        trend = drive(mock, args.requests, args.chunk_seconds, load_core)
        after = trend[-1][1]
        growth = after - before
        peak = max(rss for _, rss in trend)
    finally:
        mock.stop()
        bare.stop()
    print(f"\nRSS: {started:.1f} MiB at start, {before:.1f} MiB with the journal full, {after:.1f} MiB after "
          f"{trend[-1][0]:,} more requests (peak {peak:.1f} MiB)")
    verdict = "met" if growth < 20 else "NOT met"
    print(f"growth over the {trend[-1][0]:,} requests: {growth:+.1f} MiB (target < 20 MiB: {verdict}); "
          f"bounds: journal 1,000 entries / 16 MiB, image cache (default --image-cache-bytes)")
    print(f"(bench took {time.monotonic() - begun:.0f} s)")


if __name__ == "__main__":
    main()
