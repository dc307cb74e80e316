"""Benchmark the proxy and the replay, against the mock itself, in one run.

1. Latency the proxy adds: `wrk` on one connection (requests one after another, `url` answers of dall-e-3),
   straight to an `aiml-mock serve` upstream, then through `aiml-mock proxy --upstream` in front of it, once
   keeping its upstream connections alive (the default) and once with `--upstream-keepalive 0` (a new
   upstream connection per request: the baseline); p50 and p99 of each, and what each adds. The three run
   interleaved, `--rounds` times (on a shared machine a burst of other work lands on one run, not one setup);
   each figure is the median over the rounds.
2. Replay throughput: `wrk` on 64 connections against `aiml-mock serve --replay DIR` (one recording, matched
   with `--replay-ignore prompt`, its image URL re-signed on every answer), against the mock's own `url`
   answers (`aiml-mock serve`), each measured in the same run; the ratio is replay / mock.

    python bench/bench_proxy.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile

import harness
import httpx


def start(*args: str, name: str) -> harness.Server:
    """`aiml-mock ARGS --port 0`, its port read from the line it prints."""
    process = subprocess.Popen([sys.executable, "-m", "aiml_mock", *args, "--port", "0"], env=harness.clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    match = re.search(r"http://[^:]+:(\d+)", process.stdout.readline())
    if match is None:
        process.kill()
        raise RuntimeError(f"{name} printed no URL: {process.communicate()[1][-2000:]}")
    server = harness.Server(name, process, int(match.group(1)))
    harness.wait_until_up(server.url, "/health", process)
    return server


def record_one(proxy_url: str) -> None:
    body = {"model": "dall-e-3", "prompt": "a red fox reading a newspaper", "size": "1024x1024"}
    answer = httpx.post(f"{proxy_url}/v1/images/generations", json=body,
                        headers={"authorization": f"Bearer {harness.API_KEY}"}, timeout=30)
    answer.raise_for_status()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the latency runs")
    args = parser.parse_args()
    seconds = args.seconds
    print(harness.machine())
    upstream = start("serve", name="upstream")
    servers = [upstream]
    try:
        proxy = start("proxy", "--upstream", upstream.url, name="proxy")
        servers.append(proxy)
        fresh = start("proxy", "--upstream", upstream.url, "--upstream-keepalive", "0", name="proxy-no-keepalive")
        servers.append(fresh)
        setups = {"direct to the upstream": (upstream, []),
                  "through aiml-mock proxy (upstream kept alive)": (proxy, []),
                  "through aiml-mock proxy --upstream-keepalive 0": (fresh, [])}
        for _ in range(args.rounds):
            for server, loads in setups.values():
                for other in (upstream, proxy, fresh):
                    other.wait_idle()
                loads.append(harness.wrk(f"{server.url}/v1/images/generations", "url", seconds=seconds,
                                         connections=1, threads=1))
        fresh.stop()
        figures = {name: (median([load.p50_ms for load in loads]), median([load.p99_ms for load in loads]))
                   for name, (_, loads) in setups.items()}
        print(f"latency, one connection, url answers (ms; median of {args.rounds} rounds)   p50      p99")
        for name, (p50, p99) in figures.items():
            print(f"  {name:<47}          {p50:7.2f}  {p99:7.2f}")
        base50, base99 = figures["direct to the upstream"]
        for name, label in (("through aiml-mock proxy (upstream kept alive)", "added, kept alive"),
                            ("through aiml-mock proxy --upstream-keepalive 0", "added, a connection per request")):
            p50, p99 = figures[name]
            print(f"  {label:<47}          {p50 - base50:7.2f}  {p99 - base99:7.2f}")
        with tempfile.TemporaryDirectory() as cassette:
            recorder = start("proxy", "--upstream", upstream.url, "--record", cassette, name="recorder")
            servers.append(recorder)
            record_one(recorder.url)
            recorder.stop()
            proxy.stop()
            replay = start("serve", "--replay", cassette, "--replay-ignore", "prompt", name="replay")
            servers.append(replay)
            upstream.wait_idle()
            mock = harness.wrk(f"{upstream.url}/v1/images/generations", "url", seconds=seconds)
            replay.wait_idle()
            replayed = harness.wrk(f"{replay.url}/v1/images/generations", "url", seconds=seconds)
        print("throughput, 64 connections, url answers    req/s    p99 ms   non-2xx")
        print(f"  aiml-mock serve (its own answers)       {mock.rps:7.0f}  {mock.p99_ms:7.2f}  {mock.non_2xx}")
        print(f"  aiml-mock serve --replay                {replayed.rps:7.0f}  {replayed.p99_ms:7.2f}  "
              f"{replayed.non_2xx}")
        print(f"  replay / mock                           {replayed.rps / mock.rps:7.2f}x")
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
