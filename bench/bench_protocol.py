"""Benchmark one answer's CPU cost through uvicorn's protocol, without sockets: the mock vs the bare app.

Raw `POST /v1/images/generations` requests (a different prompt in every one, as in `bench_server.py`) are fed
to 64 connections of the protocol each server runs under (the mock under `--protocol fast`, its own, and
`--protocol stock`, uvicorn's with the transport registered: `aiml_mock.hosting._protocol`; uvicorn's httptools
protocol for `bench/bare_app.py`), on a uvloop loop, with transports that only count the answers written.
Everything a request costs in Python is measured (parsing, the app, the journal, the answer's framing) and
nothing of the kernel's: the figures move by a few per cent where `wrk` figures move by tens, so this is the
bench to tell whether a change to the hot path helps. It runs one server per process, alternating, and
reports the best of each process's runs.

`--baseline-source DIR` also measures the mock of another checkout (a `git worktree` of an older commit) in the
same run, alternating with this one's, and prints each protocol's cost against it: the figure to judge a hot-path
change by on a shared machine. A checkout from before `--protocol` existed runs its own protocol as `mock` and,
as `stock`, its app under uvicorn's httptools protocol.

    python bench/bench_protocol.py [--processes 3] [--runs 5] [--mock-source DIR] [--baseline-source DIR]
                                   [--servers mock stock bare]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness

CONNECTIONS = 64
ROUNDS = 300  # requests per connection in one run; the first WARM_UP rounds are not timed
WARM_UP = 20
BASE = "@base"  # the label of a baseline checkout's server
NAMES = {"mock": "aiml-mock, fast (url answers)", "stock": "aiml-mock, stock (url answers)", "bare": "bare Starlette"}
PROMPT = b"A watercolor painting of a red fox reading a newspaper in a sunlit Paris cafe, warm morning light"


class CountingTransport(asyncio.Transport):
    """A connection's far end that only counts the answers written to it: the writes that begin with a status
    line (uvicorn's own protocol writes a head and then its body, the mock's one write for both)."""

    def __init__(self, port: int = 50000) -> None:
        super().__init__()
        self.answers = 0
        self.port = port  # each connection its own client address, as on a socket

    def write(self, data: Any) -> None:
        if data[:7] == b"HTTP/1.":
            self.answers += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", self.port), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request(connection: int, number: int) -> bytes:
    body = b'{"model":"dall-e-3","prompt":"%s, take %d-%d","size":"1024x1024"}' % (PROMPT, connection, number)
    return (b"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (harness.API_KEY.encode(), len(body),
                                                                                  body))


def protocol_for(server: str) -> tuple[Any, Any]:
    """(uvicorn config, protocol class) of one server, as it runs under `aiml-mock serve` or uvicorn."""
    import uvicorn

    if server in ("mock", "stock"):
        try:
            from aiml_mock.core.settings import Settings
        except ImportError:  # a checkout from before `--protocol`: its own protocol, or uvicorn's as `stock`
            return _before_protocols(server)
        from aiml_mock.hosting.server import server_config
        from aiml_mock.web.app import create_app, settle_heap

        settings = Settings(log_level="warning", protocol="fast" if server == "mock" else "stock")
        app = create_app(settings)
        settle_heap()
        config = server_config(app, settings, timeout_keep_alive=30)
        return config, config.http
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    sys.path.insert(0, str(harness.BENCH))
    import bare_app

    return uvicorn.Config(bare_app.app, lifespan="off", log_level="warning", access_log=False), HttpToolsProtocol


def _before_protocols(server: str) -> tuple[Any, Any]:
    """A checkout from before `--protocol` (and the core/web/hosting layout): its own protocol as `mock`, its app
    under uvicorn's httptools protocol as `stock`."""
    from importlib import import_module

    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    app_module, server_module = import_module("aiml_mock.app"), import_module("aiml_mock.server")
    settings = import_module("aiml_mock.settings").Settings(log_level="warning")
    app = app_module.create_app(settings)
    app_module.settle_heap()
    config = server_module.server_config(app, settings, timeout_keep_alive=30)
    return config, import_module("aiml_mock.transport").protocol_class() if server == "mock" else HttpToolsProtocol


async def one_run(config: Any, protocol_class: Any) -> float:
    """Microseconds per answered request over one run of 64 connections x ROUNDS requests."""
    from uvicorn.server import ServerState

    state = ServerState()
    state.default_headers = [(b"date", b"Fri, 04 Dec 2026 10:00:00 GMT"), (b"server", b"uvicorn")]
    protocols, transports = [], []
    for connection in range(CONNECTIONS):
        protocol = protocol_class(config=config, server_state=state, app_state={})
        transport = CountingTransport(50000 + connection)
        protocol.connection_made(transport)
        protocols.append(protocol)
        transports.append(transport)
    requests = [[request(connection, number) for connection in range(CONNECTIONS)] for number in range(ROUNDS)]

    async def round_of(number: int) -> None:
        for protocol, raw in zip(protocols, requests[number], strict=True):
            protocol.data_received(raw)
        while any(transport.answers <= number for transport in transports):
            await asyncio.sleep(0)

    for number in range(WARM_UP):
        await round_of(number)
    started = time.perf_counter()
    for number in range(WARM_UP, ROUNDS):
        await round_of(number)
    elapsed = time.perf_counter() - started
    return elapsed / ((ROUNDS - WARM_UP) * CONNECTIONS) * 1e6


def measure(server: str, runs: int) -> None:
    """In a child process: print the best of `runs` runs."""
    import uvloop

    config, protocol_class = protocol_for(server)
    loop = uvloop.new_event_loop()
    best = min(loop.run_until_complete(one_run(config, protocol_class)) for _ in range(runs))
    print(f"RESULT {best:.3f}")


def child(server: str, runs: int, core: str | None, source: Path | None) -> float:
    env = harness.clean_env()
    if source is not None:
        env["PYTHONPATH"] = str(source)
    command = harness.pinned([sys.executable, __file__, "--child", server, "--runs", str(runs)], core)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"the {server} run failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return float(lines[-1].split()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="processes per server, alternating")
    parser.add_argument("--runs", type=int, default=5, help="runs per process (the best counts)")
    parser.add_argument("--mock-source", type=Path, default=None, help="measure the mock of another checkout")
    parser.add_argument("--baseline-source", type=Path, default=None,
                        help="also measure the mock of this checkout, in the same run, as the baseline")
    parser.add_argument("--servers", nargs="+", choices=list(NAMES), default=list(NAMES),
                        help="mock: --protocol fast; stock: --protocol stock; bare: bench/bare_app.py")
    parser.add_argument("--child", choices=list(NAMES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        measure(args.child, args.runs)
        return
    pins = harness.cores()
    core = pins[0] if pins else None
    print(f"machine: {harness.machine()}", flush=True)
    # (label, server, source): this checkout's servers, then the baseline's mock servers
    children = [(name, name, args.mock_source) for name in NAMES if name in args.servers]
    if args.baseline_source is not None:
        children += [(name + BASE, name, args.baseline_source) for name in ("mock", "stock") if name in args.servers]
    figures: dict[str, list[float]] = {label: [] for label, _, _ in children}
    for process in range(args.processes):
        for label, server, source in children if process % 2 == 0 else children[::-1]:
            figures[label].append(child(server, args.runs, core, source))
            print(f"  process {process + 1}: {label:10} {figures[label][-1]:6.1f} us per answer", flush=True)
    best = {label: min(values) for label, values in figures.items()}
    print(f"\n{CONNECTIONS} connections x {ROUNDS - WARM_UP} timed requests, a new prompt in each; best of "
          f"{args.processes} processes x {args.runs} runs; {'pinned to core ' + core if core else 'unpinned'}")
    print(harness.versions("starlette", "uvicorn", "uvloop", "httptools", "orjson"))
    if args.baseline_source is not None:
        print(f"baseline: the mock of {args.baseline_source} ({_commit(args.baseline_source)})")
    for label, server, _ in children:
        name = NAMES[server] + (", baseline" if label.endswith(BASE) else "")
        print(f"  {name + ':':44} {best[label]:.1f} us per answer")
    if "bare" in best:
        for label, server, _ in children:
            if server != "bare":
                print(f"  {label} costs {best[label] / best['bare']:.2f}x the bare app's CPU per answer "
                      f"({best['bare'] / best[label]:.2f}x its rate)")
    if "mock" in best and "stock" in best:
        print(f"  stock costs {best['stock'] / best['mock']:.2f}x fast's CPU per answer "
              f"({best['mock'] / best['stock']:.2f}x its rate)")
    for name in ("mock", "stock"):
        if name in best and name + BASE in best:
            ratios = [now / then for now, then in zip(figures[name], figures[name + BASE], strict=True)]
            print(f"  {name} costs {best[name] / best[name + BASE]:.2f}x the baseline's {name} (best against best; "
                  f"process by process {', '.join(f'{ratio:.2f}' for ratio in ratios)})")
    print(f"(command: python {' '.join(sys.argv)}; pid {os.getpid()})")


def _commit(source: Path) -> str:
    result = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip() or "not a git checkout"


if __name__ == "__main__":
    main()
