"""The core install, for real: a fresh venv with only the wheel and what it requires, resolved by pip.

The venvs share nothing with this one (no `--system-site-packages`, no `--no-deps`): pip resolves the wheel's
own requirements from the package index it is configured with, as `pip install .` does for a user. The venvs
are made without pip of their own (this venv's pip installs into them with `--python`), so every distribution
in them came with aiml-mock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import serve_process

ROOT = Path(__file__).resolve().parents[2]
TEST_TOOLS = {"pytest", "hypothesis", "schemathesis", "httpx", "openai", "requests"}
LIST_DISTRIBUTIONS = ("import importlib.metadata as m, json;"
                      " print(json.dumps([d.metadata['Name'] for d in m.distributions()]))")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    hook = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    built = subprocess.run([sys.executable, "-c", hook, str(out)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert built.returncode == 0, built.stderr
    return out / built.stdout.strip().splitlines()[-1]


def make_venv(where: Path, *requirements: str) -> Path:
    """A venv holding exactly `requirements` and their dependencies; its `bin` folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=60)
    python = where / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                                "--disable-pip-version-check", *requirements],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    return where / "bin"


@pytest.fixture(scope="module")
def core(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install aiml-mock` from the wheel: the core install."""
    return make_venv(tmp_path_factory.mktemp("core") / "venv", str(wheel))


def distributions(bin_dir: Path) -> set[str]:
    listed = subprocess.run([str(bin_dir / "python"), "-c", LIST_DISTRIBUTIONS], capture_output=True, text=True,
                            timeout=30, check=True)
    return {name.lower() for name in json.loads(listed.stdout)}


def run(bin_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=60,
                          env={key: value for key, value in os.environ.items() if not key.startswith("AIML_MOCK_")})


@pytest.fixture
def served(core: Path) -> Iterator[str]:
    with serve_process([str(core / "aiml-mock"), "serve", "--port", "0"]) as (_, url):
        yield url


def test_the_core_install_holds_none_of_the_test_tools(core: Path) -> None:
    installed = distributions(core)
    assert {"aiml-mock", "starlette", "uvicorn", "pillow"} <= installed
    assert not installed & TEST_TOOLS, installed & TEST_TOOLS


def test_the_core_install_serves_a_generation_and_its_image(served: str) -> None:
    request = urllib.request.Request(f"{served}/v1/images/generations", headers={
        "Authorization": "Bearer k", "Content-Type": "application/json",
    }, data=json.dumps({"model": "dall-e-2", "prompt": "slim", "size": "256x256"}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1 only)
        assert response.status == 201
        [image] = json.load(response)["data"]
    with urllib.request.urlopen(image["url"], timeout=10) as response:  # noqa: S310
        assert response.headers["content-type"] == "image/png" and response.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_command_whose_extra_is_missing_names_it_and_exits_2(core: Path) -> None:
    for argv in (["verify", "--base-url", "http://127.0.0.1:9", "--json"], ["verify", "--help"]):
        result = run(core, "aiml-mock", *argv)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "pip install 'aiml-mock[contract]'" in result.stderr
    listed = run(core, "aiml-mock", "--help")
    assert listed.returncode == 0 and "verify" in listed.stdout and "check" in listed.stdout


def test_importing_a_feature_whose_extra_is_missing_names_it(core: Path) -> None:
    result = run(core, "python", "-c", "import aiml_mock.tools.strategies")
    assert "MissingExtra: aiml_mock.tools.strategies needs hypothesis" in result.stderr
    assert "pip install 'aiml-mock[contract]'" in result.stderr


def test_the_pytest_plugin_loads_and_serves_with_only_pytest_added(
        wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    venv = make_venv(tmp_path_factory.mktemp("core-pytest") / "venv", str(wheel), "pytest")
    assert not distributions(venv) & (TEST_TOOLS - {"pytest"})
    project = tmp_path_factory.mktemp("user-project")
    (project / "test_user.py").write_text(
        "import json, urllib.request\n\n\n"
        "def test_generation(aiml_mock):\n"
        "    request = urllib.request.Request(f'{aiml_mock.base_url}/images/generations',\n"
        "                                     data=json.dumps({'model': 'dall-e-2', 'prompt': 'x'}).encode(),\n"
        "                                     headers={'Authorization': f'Bearer {aiml_mock.api_key}',\n"
        "                                              'Content-Type': 'application/json'})\n"
        "    with urllib.request.urlopen(request) as response:\n"
        "        assert response.status == 201\n"
        "    aiml_mock.assert_called(times=1, model='dall-e-2')\n\n\n"
        "def test_the_sdk_fixture_says_what_is_missing(aiml_mock_openai):\n"
        "    pass\n"
    )
    result = subprocess.run([str(venv / "pytest"), "-rs", "-p", "no:cacheprovider"], cwd=project,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout and "needs the openai package: pip install openai" in result.stdout
