"""Benchmark the mock server against a bare Starlette app and Stoplight Prism, measured in the same run.

The mock runs as users get it: `aiml-mock serve` with default settings (validation, the request journal and
contract verdicts on), one uvicorn worker, uvloop and httptools, under its default protocol (`fast`), and once
more under `--protocol stock` (uvicorn's own protocol; `--no-stock` leaves it out). The baseline
(`bench/bare_app.py`) runs under the same uvicorn and does the least the job needs: check the bearer header,
parse the JSON, answer a fixed 201.
Prism (`prism mock -v silent` on `contracts/aimlapi.yaml`) runs when Node and npm are available.

`wrk -t2 -c64` drives each server with a different prompt in every request (`bench/generations.lua`), in three
scenarios: `url` answers, `b64_json` 1024x1024 (a new image each time) and `b64_json` with one repeated prompt
(the cached path). Servers are pinned to core 0 and wrk to core 1 when there are two cores. Each round measures
every server in turn (the order alternates between rounds) after waiting for the previous one to go idle; the
figures are medians over the rounds, and the ratios compare figures from the same run.

Each wrk run opens its 64 connections anew. Under uvloop a saturated server accepts new connections slowly (the
last of 64 was accepted ~0.6 s after the first in a measured run, against ~10 ms under asyncio's loop), so the
first requests of a run wait; runs of 10 s keep those few requests out of p99, and `max` shows them.

    python bench/bench_server.py [--seconds 10] [--rounds 3] [--connections 64] [--no-prism] [--no-stock]
                                 [--scenarios url b64 repeat] [--mock-source DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness import Load, Server

STOCK = "aiml-mock stock"  # the mock under `--protocol stock`
SCENARIOS = {
    "url": "url, unique prompts",
    "b64": "b64_json 1024x1024, unique prompts",
    "repeat": "b64_json 1024x1024, one repeated prompt",
}


@dataclass
class Figures:
    """Every run of one server in one scenario."""

    loads: list[Load] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return harness.median([load.rps for load in self.loads])

    @property
    def p50(self) -> float:
        return harness.median([load.p50_ms for load in self.loads])

    @property
    def p99(self) -> float:
        return harness.median([load.p99_ms for load in self.loads])

    @property
    def max(self) -> float:
        return harness.median([load.max_ms for load in self.loads])

    @property
    def spread(self) -> str:
        """Lowest and highest requests/s over the rounds: how noisy the machine was."""
        values = [load.rps for load in self.loads]
        return f"{min(values):,.0f}-{max(values):,.0f}" if values else "-"


def measure(server: Server, scenario: str, args: argparse.Namespace, core: str | None) -> Load:
    server.wait_idle()
    load = harness.wrk(server.url, scenario, seconds=args.seconds, connections=args.connections, core=core)
    if load.non_2xx or load.socket_errors:
        raise SystemExit(f"{server.name} answered {load.non_2xx} non-2xx and had {load.socket_errors} socket errors "
                         f"in the {scenario} scenario: the figures would not be comparable")
    return load


def run(args: argparse.Namespace) -> dict[tuple[str, str], Figures]:
    pins = None if args.no_pin else harness.cores()
    server_core, load_core = pins if pins else (None, None)
    prism = None if args.no_prism else harness.prism_binary()
    if not args.no_prism and prism is None:
        print("Prism skipped: node and npm are not available")
    servers: list[Server] = []
    try:
        servers.append(harness.start_mock(server_core, source=args.mock_source))
        if not args.no_stock:
            servers.append(harness.start_mock(server_core, "--protocol", "stock", name=STOCK, source=args.mock_source))
        servers.append(harness.start_bare(server_core))
        if prism is not None:
            print(f"Prism {harness.prism_version(prism)}: prism mock -v silent contracts/aimlapi.yaml", flush=True)
            servers.append(harness.start_prism(prism, harness.ROOT / "contracts" / "aimlapi.yaml", server_core))
        for server in servers:  # warm-up: first requests build font atlases, caches, Prism's JIT
            for scenario in args.scenarios if server.name != "Prism" else ("url",):
                harness.wrk(server.url, scenario, seconds=1, connections=args.connections, core=load_core)
        results: dict[tuple[str, str], Figures] = {}
        for round_number in range(args.rounds):
            order = servers if round_number % 2 == 0 else servers[::-1]
            for scenario in args.scenarios:
                for server in order:
                    if server.name == "Prism" and scenario != "url":
                        continue  # Prism renders nothing: its b64_json answer is its url answer
                    load = measure(server, scenario, args, load_core)
                    results.setdefault((server.name, scenario), Figures()).loads.append(load)
                    print(f"  round {round_number + 1}: {server.name:14} {scenario:6} {load.rps:9,.0f} req/s  "
                          f"p50 {load.p50_ms:7.2f} ms  p99 {load.p99_ms:8.2f} ms  max {load.max_ms:8.1f} ms",
                          flush=True)
        return results
    finally:
        for server in servers:
            server.stop()


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: dict[tuple[str, str], Figures], args: argparse.Namespace, started: str) -> None:
    pinning = "server on core 0, wrk on core 1" if not args.no_pin and harness.cores() else "unpinned"
    print(f"\n{args.rounds} rounds x {args.seconds:g} s per server and scenario, wrk -t2 -c{args.connections}, "
          f"medians; {pinning}")
    print(f"machine: {started}")
    print(f"  after: load average {', '.join(f'{value:.1f}' for value in os.getloadavg())}")
    print(f"{harness.versions('starlette', 'uvicorn', 'uvloop', 'httptools', 'orjson', 'pillow')}\n")
    print("| scenario | server | req/s (range over rounds) | p50 ms | p99 ms | max ms | vs bare req/s | vs bare p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for scenario in args.scenarios:
        title = SCENARIOS[scenario]
        bare = results[("bare Starlette", scenario)]
        for name in ("aiml-mock", STOCK, "bare Starlette", "Prism"):
            figures = results.get((name, scenario))
            if figures is None:
                continue
            ratio = f"{figures.rps / bare.rps:.2f}x" if name != "bare Starlette" else "1"
            p99 = f"{figures.p99 / bare.p99:.2f}x" if name != "bare Starlette" else "1"
            print(f"| {title} | {name} | {figures.rps:,.0f} ({figures.spread}) | {figures.p50:.1f} | "
                  f"{figures.p99:.1f} | {figures.max:.0f} | {ratio} | {p99} |")
    mock = {scenario: results[("aiml-mock", scenario)] for scenario in args.scenarios}
    bare = {scenario: results[("bare Starlette", scenario)] for scenario in args.scenarios}
    print("\ntargets:")
    if "url" in mock:
        url_ratio = mock["url"].rps / bare["url"].rps
        p99_ratio = mock["url"].p99 / bare["url"].p99
        print(f"  url, unique prompts: {url_ratio:.2f}x bare throughput (>= 0.7: {verdict(url_ratio >= 0.7)}), "
              f"p99 {p99_ratio:.2f}x bare (<= 2: {verdict(p99_ratio <= 2)})")
    if "b64" in mock:
        b64_ratio = mock["b64"].rps / bare["b64"].rps
        print(f"  b64_json 1024x1024, unique prompts: {b64_ratio:.2f}x bare (>= 0.1: {verdict(b64_ratio >= 0.1)})")
    if "repeat" in mock and "url" in mock:
        repeat_ratio = mock["repeat"].rps / mock["url"].rps
        print(f"  b64_json, repeated prompt: {repeat_ratio:.2f}x the mock's url mode (>= 0.5: "
              f"{verdict(repeat_ratio >= 0.5)})")
    for scenario in args.scenarios:
        stock = results.get((STOCK, scenario))
        if stock is not None:
            print(f"  {SCENARIOS[scenario]}: --protocol stock {stock.rps / mock[scenario].rps:.2f}x fast's throughput, "
                  f"p99 {stock.p99 / mock[scenario].p99:.2f}x fast's")
    prism = results.get(("Prism", "url"))
    if prism is not None and "url" in mock:
        prism_ratio = mock["url"].rps / prism.rps
        print(f"  vs Prism (url): {prism_ratio:.1f}x Prism's throughput (>= 3: {verdict(prism_ratio >= 3)}); "
              f"Prism p99 {prism.p99:.1f} ms, the mock's {mock['url'].p99:.1f} ms")
    else:
        print("  vs Prism: skipped (no node/npm, or --no-prism)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="seconds per wrk run (each run opens its 64 connections anew: see the module docstring)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (the median is reported)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-prism", action="store_true", help="skip Stoplight Prism")
    parser.add_argument("--no-stock", action="store_true", help="skip the mock under --protocol stock")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS),
                        help="measure only these scenarios (all by default)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and wrk to separate cores")
    parser.add_argument("--mock-source", type=Path, default=None,
                        help="serve the mock from another checkout (e.g. a git worktree of an older commit)")
    args = parser.parse_args(argv)
    started = harness.machine()
    print(f"machine: {started}", flush=True)
    if args.mock_source:
        print(f"aiml-mock served from {args.mock_source}", flush=True)
    begun = time.monotonic()
    results = run(args)
    report(results, args, started)
    print(f"\n(bench took {time.monotonic() - begun:.0f} s; command: python {' '.join(sys.argv)})")


if __name__ == "__main__":
    main()
