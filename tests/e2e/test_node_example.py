"""`examples/node/generate-image.js`: the provider's `fetch` example, run by Node against a live mock."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from PIL import Image

from aiml_mock import MockServer
from aiml_mock.core.settings import ProtocolName

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "node" / "generate-image.js"
# The provider's DALL·E 3 page, as collected with the project's briefing (beside the repository, also in CI).
SEED_PAGE = ROOT.parent / "shared" / "seeds" / "000_206e90eb0726f59f.txt"
NODE = shutil.which("node")


def main_function(source: str) -> str:
    """From `async function main() {` to the closing `main();`: the provider's example itself."""
    match = re.search(r"^async function main\(\) \{.*?^main\(\);$", source, re.S | re.M)
    assert match, "no `async function main() { ... } main();` block"
    return match.group(0)


def test_example_is_the_providers_code_but_for_the_host() -> None:
    if not SEED_PAGE.is_file():
        pytest.skip(f"the provider's page is not beside this checkout ({SEED_PAGE})")
    ours = main_function(EXAMPLE.read_text()).replace(
        "fetch(`${AIML_API_URL}/images/generations`", "fetch('https://api.aimlapi.com/v1/images/generations'")
    assert ours == main_function(SEED_PAGE.read_text())


@pytest.mark.skipif(NODE is None, reason="`node` is not installed: the Node example cannot run")
def test_node_example_generates_an_image_from_the_mock(live_server: MockServer) -> None:
    assert NODE is not None
    env = {**os.environ, "AIML_API_URL": live_server.base_url}
    run = subprocess.run([NODE, EXAMPLE.name], cwd=EXAMPLE.parent, env=env, capture_output=True, text=True,
                         timeout=60)
    # The provider's code logs errors and still exits 0: its output is what tells success.
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert run.stdout.startswith("Generation: {")
    [url] = re.findall(r"url: '([^']+)'", run.stdout)
    assert url.startswith(f"{live_server.url}/images/")
    assert "revised_prompt:" in run.stdout  # DALL·E 3's field, which the example prints with the rest
    image = httpx.get(url, timeout=10)
    assert Image.open(io.BytesIO(image.content)).size == (1024, 1024)


@pytest.mark.skipif(NODE is None, reason="`node` is not installed: the Node example cannot run")
def test_node_example_reports_the_mocks_refusal(protocol: ProtocolName) -> None:
    assert NODE is not None
    with MockServer(protocol=protocol, api_keys=("sk-only-this",)) as strict:
        env = {**os.environ, "AIML_API_URL": strict.base_url}
        run = subprocess.run([NODE, EXAMPLE.name], cwd=EXAMPLE.parent, env=env, capture_output=True, text=True,
                             timeout=60)
    assert "HTTP error! Status: 401" in run.stderr and run.stdout == ""
