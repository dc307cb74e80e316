"""The README's commands, run as printed against a real `aiml-mock serve`: a newcomer's first minutes work.

Only the port changes (the README's 8000 becomes the free port the server picked); `curl` is the real binary
(`.ci/run` installs it when the machine lacks it) and the SDK example runs in its own interpreter.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.serving import serve_process

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CURL = shutil.which("curl") or "curl"


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return [block.split("```", 1)[0] for block in text.split(f"```{language}\n")[1:]]


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """`aiml-mock serve` as the README's first command leaves it, on a free port: its `host:port`."""
    script = Path(sys.executable).with_name("aiml-mock")
    with serve_process([str(script), "serve", "--port", "0"]) as (_, url):
        yield url.removeprefix("http://")


def on(address: str, text: str) -> str:
    return text.replace("127.0.0.1:8000", address).replace("localhost:8000", address)


def curl(address: str, command: str) -> tuple[int, str]:
    """Run a README `curl` line through the shell, as a reader pastes it; its HTTP status and body."""
    assert command.startswith("curl "), command
    result = subprocess.run(f"{on(address, command)} -s -w '\\n%{{http_code}}'", shell=True, capture_output=True,
                            text=True, timeout=30, env={**os.environ, "PATH": os.environ.get("PATH", "")})
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def fetch(url: str) -> Image.Image:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (127.0.0.1 only)
        return Image.open(io.BytesIO(response.read()))


def test_the_readme_install_commands_are_the_ones_ci_runs() -> None:
    head = README.split("\n## ", 1)[0]
    assert blocks(head, "bash") == ["pip install -e . && aiml-mock serve\n", "pip install -e '.[test]' && pytest\n"]
    assert "pip install -e '.[test]' && pytest" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_no_doc_says_to_install_the_package_from_an_index() -> None:
    examples = [path for path in (ROOT / "examples").rglob("*") if path.suffix in (".py", ".yml", ".js", ".mjs")
                and "node_modules" not in path.parts]
    docs = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md"), *examples]
    unpublished = re.compile(r"pip install (-U )?aiml-mock\b(?!\[)")
    said = [path.name for path in docs if unpublished.search(path.read_text(encoding="utf-8"))]
    assert not said, f"aiml-mock is not published on an index, yet {said} say `pip install aiml-mock`"


def test_the_curl_example_generates_an_image(served: str) -> None:
    [block] = blocks(section("First requests"), "bash")
    [command] = commands(block)
    status, body = curl(served, command)
    assert status == 201, body
    [image] = json.loads(body)["data"]
    assert image["url"].startswith(f"http://{served}/images/") and "T-Rex" in image["revised_prompt"]
    assert fetch(image["url"]).size == (1024, 1024)


def test_the_sdk_example_prints_an_image_url_and_its_revised_prompt(served: str) -> None:
    [example] = blocks(section("First requests"), "python")
    result = subprocess.run([sys.executable, "-c", on(served, example)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    url, revised_prompt = result.stdout.splitlines()
    assert fetch(url).format == "PNG" and "T-Rex" in revised_prompt


def test_the_fault_and_journal_commands_answer_as_described(served: str) -> None:
    faults, journal = blocks(section("Faults, latency and the request journal"), "bash")
    serve_random, add_rule, per_request = commands(faults)
    assert serve_random.startswith("aiml-mock serve --fault-rate")
    status, body = curl(served, add_rule)
    assert status == 201 and json.loads(body)["times"] == 2, body
    status, body = curl(served, per_request)  # the request's own header wins over the rule
    assert status == 429 and "Too Many Requests" in body, body
    listed, reset = commands(journal)
    status, body = curl(served, listed)
    [entry] = json.loads(body)["requests"]
    assert status == 200 and entry["status"] == 429 and entry["json"]["prompt"] == "a cat", body
    assert curl(served, reset) == (200, '{"reset":true}')
