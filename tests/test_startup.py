"""Start-up stays cheap: the container health probe and `contract` import no server, no HTTP client, no images."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("httpx", "uvicorn", "starlette", "PIL", "aiml_mock.hosting.server", "aiml_mock.web.app")


@pytest.mark.parametrize("argv", [["health", "--port", "1", "--timeout", "0.1"], ["contract"]])
def test_light_commands_import_nothing_heavy(argv: list[str]) -> None:
    probe = (f"import sys\nfrom aiml_mock.hosting.cli import main\nmain({argv!r})\n"
             f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_help_still_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "aiml_mock", "--help"], capture_output=True, text=True,
                            check=True, timeout=60)
    assert "{serve,proxy,contract,health,verify,check,drift}" in result.stdout
