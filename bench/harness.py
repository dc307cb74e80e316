"""What the server benches share: starting servers pinned to a core, waiting for them to go idle, driving
them with `wrk`, reading their memory, and saying which machine the figures come from.

Not a test helper and not part of the package: the bench scripts import it as a sibling module
(`python bench/bench_server.py` puts `bench/` first on `sys.path`).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
LUA = BENCH / "generations.lua"
HOST = "127.0.0.1"
API_KEY = "sk-bench-0123456789abcdef"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the machine -----------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU, cores, Python, and how busy the machine already is (other people's jobs count)."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average {load}")


def versions(*names: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def cores() -> tuple[str, str] | None:
    """(server core, load-generator core) when there are two cores to split, else None (no pinning)."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return None
    return "0", "1"


def pinned(command: Sequence[str], core: str | None) -> list[str]:
    return ["taskset", "-c", core, *command] if core is not None else list(command)


# -- wrk -------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The `wrk` binary, installed from Debian's archive when missing (the bench needs it; root or sudo)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing it with apt-get", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=False)
    found = shutil.which("wrk")
    if not found:
        subprocess.run([*sudo, "apt-get", "update"], check=False)
        subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=False)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    return found


@dataclass(frozen=True)
class Load:
    """What one `wrk` run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    max_ms: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_RESULT = re.compile(r"^RESULT (\d+) ([\d.]+) (\d+) (\d+) (\d+) (\d+) (\d+)$", re.MULTILINE)


def wrk(url: str, mode: str, *, seconds: float, connections: int = 64, threads: int = 2, core: str | None = None,
        extra_env: dict[str, str] | None = None) -> Load:
    """Drive `url` with `bench/generations.lua` in `mode` (url, b64, repeat, mixed) and return the figures."""
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_KEY": API_KEY, **(extra_env or {})}
    command = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
               "-s", str(LUA), url]
    result = subprocess.run(pinned(command, core), env=env, capture_output=True, text=True, check=False)
    match = _RESULT.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed on {url}:\n{result.stdout}\n{result.stderr}")
    requests, duration_us, p50, p99, non_2xx, errors, longest = match.groups()
    return Load(int(requests), float(duration_us) / 1e6, int(p50) / 1000, int(p99) / 1000, int(non_2xx),
                int(errors), int(longest) / 1000)


# -- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    """The environment without `AIML_MOCK_*`, so the mock runs with its default settings."""
    return {key: value for key, value in os.environ.items() if not key.startswith("AIML_MOCK_")}


@dataclass
class Server:
    """A server process under test."""

    name: str
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def rss_mib(self) -> float:
        """Resident memory of the process and its children (uvicorn's workers), in MiB."""
        return sum(_rss_kib(pid) for pid in process_tree(self.process.pid)) / 1024

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(pid) for pid in process_tree(self.process.pid))

    def wait_idle(self, quiet: float = 0.05, window: float = 0.3, limit: float = 10.0) -> None:
        """Until the server uses less than `quiet` of a core over `window` seconds (GC, a JIT, late writes
        done), so the next server measured does not share the core with this one's leftovers."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = self.cpu_seconds()
            time.sleep(window)
            if self.cpu_seconds() - before < quiet * window:
                return

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def process_tree(pid: int) -> list[int]:
    pids, index = [pid], 0
    while index < len(pids):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pids[index]}/task").iterdir():
                with contextlib.suppress(OSError):
                    pids += [int(child) for child in (task / "children").read_text().split()]
        index += 1
    return pids


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return 0.0


def get(url: str, path: str, timeout: float = 10.0) -> int:
    """The status of `GET path`, waiting (in the listen backlog) until the server answers."""
    host, _, port = url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def wait_until_up(url: str, path: str, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {process.communicate()[1][-2000:]}")
        with contextlib.suppress(OSError):
            get(url, path, timeout=2)
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url}{path} did not answer within {timeout:.0f} s")


def start_mock(core: str | None = None, *args: str, name: str = "aiml-mock", source: Path | None = None
               ) -> Server:
    """`aiml-mock serve` with default settings on a free port: the URL line it prints gives the port.

    `source`: another checkout of the project (e.g. a `git worktree` of an older commit) to serve from instead.
    """
    command = pinned([sys.executable, "-m", "aiml_mock", "serve", "--port", "0", *args], core)
    env = clean_env()
    if source is not None:
        env["PYTHONPATH"] = str(source)
    process = subprocess.Popen(command, cwd=source or ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://[^:]+:(\d+)", line)
    if match is None:
        process.kill()
        raise RuntimeError(f"aiml-mock serve printed no URL: {line!r} {process.communicate()[1][-2000:]}")
    server = Server(name, process, int(match.group(1)))
    wait_until_up(server.url, "/health", process)
    return server


def start_bare(core: str | None = None) -> Server:
    """The baseline: `bench/bare_app.py` under uvicorn with uvloop and httptools, one worker."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(BENCH), "--host", HOST,
               "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
               "--log-level", "warning", "--no-server-header"]
    process = subprocess.Popen(pinned(command, core), cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    server = Server("bare Starlette", process, port)
    wait_until_up(server.url, "/health", process)
    return server


PRISM_DIR = Path(tempfile.gettempdir()) / "aiml-mock-bench-prism"


def prism_binary() -> Path | None:
    """Stoplight Prism, installed with npm into a folder outside the repository (reused across runs)."""
    binary = PRISM_DIR / "node_modules" / ".bin" / "prism"
    if binary.exists():
        return binary
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None
    PRISM_DIR.mkdir(parents=True, exist_ok=True)
    print(f"installing @stoplight/prism-cli into {PRISM_DIR} (once)", flush=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "@stoplight/prism-cli"], cwd=PRISM_DIR,
                   check=False, stdout=subprocess.DEVNULL)
    return binary if binary.exists() else None


def prism_version(binary: Path) -> str:
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "?"


def start_prism(binary: Path, contract: Path, core: str | None = None) -> Server:
    """`prism mock -v silent` on a contract file: the peer the mock is compared with."""
    port = free_port()
    command = [str(binary), "mock", "-h", HOST, "-p", str(port), "-v", "silent", str(contract)]
    process = subprocess.Popen(pinned(command, core), cwd=PRISM_DIR, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    server = Server("Prism", process, port)
    wait_until_up(server.url, "/health", process, timeout=120)
    return server


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
