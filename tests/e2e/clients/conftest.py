"""The client matrix: every client people use with the API, against one real `aiml-mock serve`.

The mock is the console script users run, on port 0, with `--api-key` (so a wrong key gets the real 401).
Tests script it through its admin API (`MockHandle.connect`): faults for the next request, the journal of
what each client really sent. Nothing here may leave 127.0.0.1: while this package's tests run, `offline`
refuses every connection from this process to anything else (LiteLLM and LangChain are imported under
it), and the environment keeps telemetry and price-list downloads off. Each test names the docs/clients.md
matrix cell it proves with `@cell(...)`; test_docs.py checks the page against those marks and the installed
versions.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aiml_mock import MockHandle
from aiml_mock.core.journal import Entry

KEY = "sk-client-matrix"
PROMPT = "A lighthouse on a cliff at dusk"
NODE_DIR = Path(__file__).resolve().parent / "node"
GENERATIONS = "/v1/images/generations"
# Before any client library is imported: LiteLLM fetches its price list at import unless told to use its own
# copy; LangSmith tracing and LiteLLM's callbacks stay off. The variables are set for the whole session, as
# a user's CI would set them.
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_TRACING": "false",
    "NO_PROXY": "127.0.0.1,localhost",
}
os.environ.update(OFFLINE_ENV)


def cell(client: str, column: str, outcome: str) -> pytest.MarkDecorator:
    """Mark the test proving one cell of the docs/clients.md matrix: `client`'s `column` is `outcome`."""
    return pytest.mark.matrix(client=client, column=column, outcome=outcome)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "matrix(client, column, outcome): the docs/clients.md cell a test proves")


# -- nothing but 127.0.0.1 ------------------------------------------------------------------------------


class LeftLoopback(AssertionError):
    """A client in this process tried to reach something other than the loopback interface."""


def _loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(target: Any) -> LeftLoopback:
    return LeftLoopback(f"a client tried to reach {target!r}: the client matrix must stay offline")


@pytest.fixture(scope="package", autouse=True)
def offline() -> Iterator[None]:
    """Every name lookup and socket connection from this process stays on loopback, or fails the test.

    Refused before anything leaves: no DNS query for another name, no connection to another address.
    """
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _loopback(address):
            raise _refuse(address)
        return connect(self, address)

    def guarded_ex(self: socket.socket, address: Any) -> Any:
        if not _loopback(address):
            raise _refuse(address)
        return connect_ex(self, address)

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback((host.decode() if isinstance(host, bytes) else host, 0)):
            raise _refuse(host)
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = guarded, guarded_ex  # type: ignore[method-assign]
    socket.getaddrinfo = lookup
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = getaddrinfo


# -- the mock -------------------------------------------------------------------------------------------


@dataclass
class Served:
    """`aiml-mock serve` in a subprocess, and a handle on it through its admin API."""

    process: subprocess.Popen[str]
    handle: MockHandle

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    def generations(self) -> list[Entry]:
        """The generation requests since the test started, oldest first (each retry one more)."""
        return [entry for entry in self.handle.requests if entry.path == GENERATIONS]

    def statuses(self) -> list[int]:
        return [entry.status for entry in self.generations()]

    def fail_next(self, status: int, **options: Any) -> None:
        self.handle.fail_next(status, **options)

    def drop_next(self) -> None:
        """The next generation request's connection closes before any answer."""
        self.handle.backend.add_fault({"kind": "drop", "times": 1})


def _console_script() -> str:
    script = Path(sys.executable).with_name("aiml-mock")
    return str(script) if script.exists() else shutil.which("aiml-mock") or "aiml-mock"


@pytest.fixture(scope="package")
def served(offline: None) -> Iterator[Served]:
    """One `aiml-mock serve --port 0 --api-key KEY` for the whole matrix (this package); its log to a temp file."""
    with tempfile.TemporaryFile("w+") as log, subprocess.Popen(
        [_console_script(), "serve", "--port", "0", "--api-key", KEY, "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "AIML_MOCK_API_KEYS": ""},
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if "listening on http://" not in line:
                log.seek(0)
                pytest.fail(f"aiml-mock serve did not start: {line}{log.read()}")
            url = line.split("listening on ")[1].split()[0]
            with MockHandle.connect(url, api_key=KEY) as handle:
                yield Served(process, handle)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)


@pytest.fixture
def mock(served: Served) -> Served:
    """The session's mock with an empty journal and no fault rules."""
    served.handle.reset()
    return served


# -- Node ----------------------------------------------------------------------------------------------


def node_modules() -> Path:
    """`tests/e2e/clients/node/node_modules`, installed from the lock file when missing (`.ci/run` does it first).

    A client that cannot be installed fails the matrix: this never skips.
    """
    installed = NODE_DIR / "node_modules" / "openai" / "package.json"
    if not installed.is_file():
        npm = shutil.which("npm")
        assert npm, "npm is not installed: the Node clients of the matrix cannot run (apt-get install -y npm)"
        run = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0 and installed.is_file(), f"npm ci failed in {NODE_DIR}:\n{run.stderr}"
    return installed.parent.parent


@pytest.fixture(scope="session")
def node() -> str:
    binary = shutil.which("node")
    assert binary, "node is not installed: the Node clients of the matrix cannot run (apt-get install -y nodejs)"
    node_modules()
    return binary


def run_node(node: str, script: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run `node/SCRIPT` with one scenario (JSON in argv); it prints one JSON line saying what happened."""
    run = subprocess.run([node, script, json.dumps(config)], cwd=NODE_DIR, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, f"node {script} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    outcome: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return outcome
