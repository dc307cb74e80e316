"""Benchmark the mock's memory under what careless or hostile clients send: resident memory after each kind.

`aiml-mock serve` with `--journal-bytes` and `--images-bytes` (default 4 MiB each here) is warmed up with
ordinary generations, then sent, phase after phase: 1 MB unknown field names, 8 MB headers (431), 8 MB
headers to an unknown route without a key, 1 MB model ids, 4 KiB+ query strings with a key in them, lone
surrogates, and url generations with `n=10` and long prompts (the image registry). Resident memory (VmRSS)
is read after each phase; the figure that counts is the growth over the warmed-up server, against the
configured bounds (the baseline, set in the same run): it should stay below the bounds plus a small constant,
whatever clients send. A bare Starlette app's resident memory is shown as a scale.

    python bench/bench_hostile_memory.py [--bound-mib 4] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import harness

GENERATE = "/v1/images/generations"
JSON = {"Content-Type": "application/json", "Authorization": f"Bearer {harness.API_KEY}"}
BODY = {"model": "dall-e-2", "prompt": "a lighthouse at dusk", "size": "256x256"}
Request = tuple[str, str, bytes | None, dict[str, str]]


def send(port: int, requests: list[Request], threads: int = 4) -> dict[int, int]:
    """Each request on one of `threads` kept-alive connections; how many got each status."""
    statuses: dict[int, int] = {}

    def run(share: list[Request]) -> None:
        connection = http.client.HTTPConnection(harness.HOST, port, timeout=60)
        for method, path, body, headers in share:
            try:
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                status = answer.status
                if answer.will_close:
                    connection.close()
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                status = 0
            statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, [requests[index::threads] for index in range(threads)]))
    return statuses


def phases() -> list[tuple[str, Callable[[int], Request], int]]:
    big_header = "v" * (8 * 1024 * 1024)
    return [
        ("1 MB unknown field names", lambda i: ("POST", GENERATE, json.dumps(
            {**BODY, f"{i:07d}" + "f" * 999_990: 1}).encode(), JSON), 300),
        ("8 MB headers", lambda i: ("POST", GENERATE, json.dumps(BODY).encode(), {**JSON, "X-Big": big_header}), 40),
        ("8 MB headers, unknown route, no key", lambda i: ("GET", "/no-such-route", None, {"X-Big": big_header}), 30),
        ("1 MB model ids", lambda i: ("POST", GENERATE, json.dumps(
            {"model": f"{i:07d}" + "m" * 999_990, "prompt": "x"}).encode(), JSON), 300),
        ("4 KiB+ queries with a key", lambda i: ("POST", f"{GENERATE}?api_key=sk-{i}&q=" + "q" * 60_000,
                                                 json.dumps(BODY).encode(), JSON), 1000),
        ("lone surrogates", lambda i: ("POST", GENERATE, b'{"model": "dall-e-2", "prompt": "a \\ud800 %d", '
                                       b'"style": "\\udfff"}' % i, JSON), 2000),
        ("n=10 url generations, long prompts", lambda i: ("POST", GENERATE, json.dumps(
            {**BODY, "n": 10, "prompt": f"{i} " + "p" * 990}).encode(), JSON), 3000),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bound-mib", type=float, default=4.0, help="--journal-bytes and --images-bytes, MiB")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies each phase's request count")
    args = parser.parse_args(argv)
    bound = int(args.bound_mib * 1024 * 1024)
    print(f"machine: {harness.machine()}", flush=True)
    mock = harness.start_mock(None, "--api-key", harness.API_KEY, "--journal-bytes", str(bound),
                              "--images-bytes", str(bound), "--journal-size", "1000000")
    bare = harness.start_bare(None)
    try:
        started = mock.rss_mib()
        send(mock.port, [("POST", GENERATE, json.dumps({**BODY, "prompt": f"warm {i}"}).encode(), JSON)
                         for i in range(3000)])
        mock.wait_idle()
        warmed = mock.rss_mib()
        print(f"aiml-mock: RSS {started:.1f} MiB at start, {warmed:.1f} MiB warmed up (bare Starlette app: "
              f"{bare.rss_mib():.1f} MiB); bounds: journal {args.bound_mib:g} MiB + images {args.bound_mib:g} MiB")
        peak = warmed
        for name, make, count in phases():
            count = max(1, int(count * args.scale))
            begun = time.monotonic()
            statuses = send(mock.port, [make(index) for index in range(count)])
            mock.wait_idle()
            rss = mock.rss_mib()
            peak = max(peak, rss)
            shown = ", ".join(f"{status}: {number}" for status, number in sorted(statuses.items()))
            print(f"  {name:<38} {count:>5} requests in {time.monotonic() - begun:5.1f} s ({shown}): "
                  f"RSS {rss:7.1f} MiB, growth {rss - warmed:+6.1f} MiB", flush=True)
        if harness.get(mock.url, "/__mock/requests") != 200 or harness.get(mock.url, "/__mock/images") != 200:
            raise SystemExit("the admin API no longer serialises the journal")
    finally:
        mock.stop()
        bare.stop()
    bounds = 2 * args.bound_mib
    print(f"\npeak growth over the warmed-up server: {peak - warmed:.1f} MiB = {(peak - warmed) / bounds:.2f}x "
          f"the configured bounds ({bounds:g} MiB)")


if __name__ == "__main__":
    main()
