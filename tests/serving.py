"""`aiml-mock serve` as a real process on a free port, for the tests that need one over a socket."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


@contextmanager
def serve_process(command: Sequence[str], env: dict[str, str] | None = None
                  ) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start `command` (an `aiml-mock serve --port 0 ...` line) and yield the process and the URL its banner
    names; stopped with SIGTERM on the way out. A server that fails to start fails the test with its stderr."""
    with subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "listening on http://" in line, line + (process.stderr.read() if process.stderr else "")
            yield process, line.split("listening on ")[1].split()[0]
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(10)
