"""The container image, proved without a Docker engine: what `docker/Dockerfile` says, read from the file.

The wheel is built from exactly the files the build context sends (the root `.dockerignore`) and the build
stage's COPY lines; the image's ENTRYPOINT + CMD then runs with the image's ENV, from that wheel, on
127.0.0.1 and a free port instead of 0.0.0.0:8000. hadolint lints the file in `.ci/run`.
"""

from __future__ import annotations

import email.parser
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import httpx
import pytest
from PIL import Image

from aiml_mock import Settings
from aiml_mock.core.settings import ENV_PREFIX
from aiml_mock.hosting.cli import build_parser
from tests.dockerfile import ROOT, DockerIgnore, Stage, materialise_stage, parse_dockerfile

SEED_BODY = {
    "prompt": "A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses.",
    "model": "dall-e-3",
    "quality": "hd",
}
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile()


@pytest.fixture(scope="module")
def image(stages: list[Stage]) -> Stage:
    """The runtime stage: the last one."""
    return stages[-1]


@pytest.fixture(scope="module")
def wheel(stages: list[Stage], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel the build stage makes, from the files the build context sends and its COPY lines only."""
    build_root = tmp_path_factory.mktemp("build-stage")
    materialise_stage(stages[0], DockerIgnore.read().context(), build_root)
    workdir = build_root / stages[0].last("WORKDIR").args.lstrip("/")
    out = build_root / "wheels"
    hook = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    built = subprocess.run([sys.executable, "-c", hook, str(out)], cwd=workdir, capture_output=True, text=True,
                           timeout=120)
    assert built.returncode == 0, built.stderr
    return out / built.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked like `pip install` lays out a pure-Python wheel (first on PYTHONPATH in the runs)."""
    target = tmp_path_factory.mktemp("site-packages")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def image_environment(image: Stage, installed: Path, **overrides: str) -> dict[str, str]:
    """This machine's environment without any AIML_MOCK_* of its own, plus the image's ENV, plus `overrides`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    env.update(image.env)
    env.update(overrides)
    env["PYTHONPATH"] = str(installed)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    return env


def resolve(argv: list[str], env: dict[str, str]) -> list[str]:
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable, f"{argv[0]} is not installed (pip install -e '.[test]')"
    return [executable, *argv[1:]]


@pytest.fixture
def container(image: Stage, installed: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The image's command with the image's environment, on 127.0.0.1 and a free port; its URL once listening."""
    env = image_environment(image, installed, AIML_MOCK_HOST="127.0.0.1", AIML_MOCK_PORT="0")
    with subprocess.Popen(resolve(image.command, env), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=installed) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # printed once the socket listens
            assert "listening on http://" in line, line + (process.stderr.read() if process.stderr else "")
            yield process, line.split("listening on ")[1].split()[0]
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)


def test_base_image_is_an_official_python_slim_pinned_to_a_patch_version(stages: list[Stage]) -> None:
    for stage in stages:
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+", stage.base), stage.base


def test_runtime_stage_installs_the_built_wheels_and_copies_nothing_from_the_context(image: Stage) -> None:
    assert [item for item in image.instructions if item.keyword in ("COPY", "ADD")] == []
    [install] = [item.args for item in image.all("RUN") if "pip install" in item.args]
    assert "from=build" in install and "--no-index" in install


def test_the_image_installs_the_core_only_without_the_test_tools(image: Stage, wheel: Path) -> None:
    [install] = [item.args for item in image.all("RUN") if "pip install" in item.args]
    assert re.search(r"/wheels/aiml_mock-\*\.whl(\s|$)", install), install  # no [extra]
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        requires = email.parser.Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist") or []
    core = {re.split(r"[\s<>=!~;\[(]", line, maxsplit=1)[0].lower() for line in requires if "extra ==" not in line}
    assert {"starlette", "uvicorn", "pillow"} <= core
    assert not core & {"pytest", "hypothesis", "schemathesis", "httpx", "openai"}, core


def test_server_runs_as_a_non_root_user(image: Stage) -> None:
    user = image.last("USER").args.split(":")[0]
    assert user not in ("root", "0")


def test_binds_every_interface_inside_the_container_only(image: Stage) -> None:
    assert image.env[ENV_PREFIX + "HOST"] == "0.0.0.0"
    assert Settings().host == "127.0.0.1"  # outside a container the default stays loopback


def test_every_image_variable_is_a_setting_the_server_accepts(image: Stage) -> None:
    names = {ENV_PREFIX + spec.name.upper() for spec in fields(Settings)}
    ours = {key: value for key, value in image.env.items() if key.startswith(ENV_PREFIX)}
    assert set(ours) <= names
    Settings.from_env(ours)  # each value parses and validates


def test_exposes_the_port_the_server_listens_on(image: Stage) -> None:
    assert image.last("EXPOSE").args == image.env[ENV_PREFIX + "PORT"] == "8000"


def test_command_and_healthcheck_are_exec_form_aiml_mock_commands(image: Stage) -> None:
    options, probe = image.healthcheck
    assert image.command[0] == probe[0] == "aiml-mock"
    assert build_parser().parse_args(image.command[1:]).command == "serve"
    assert build_parser().parse_args(probe[1:]).command == "health"
    assert float(options["--timeout"].rstrip("s")) > 2  # the probe's own timeout (2 s) ends first


def test_build_context_sends_only_what_the_wheel_is_built_from() -> None:
    sent = DockerIgnore.read().context()
    assert {name.split("/")[0] for name in sent} == {"README.md", "pyproject.toml", "aiml_mock", "contracts"}
    assert set(name for name in sent if name.startswith("contracts/")) == {
        "contracts/aimlapi.yaml", "contracts/openai.yaml", "contracts/prices.yaml"}
    assert not [name for name in sent if "__pycache__" in name or name.endswith((".pyc", ".pyo"))]
    assert sum((ROOT / name).stat().st_size for name in sent) < 2 * 1024 * 1024


def test_wheel_built_from_the_context_carries_every_module_and_the_contract_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "aiml_mock").glob("*.py")}
    assert modules <= names
    assert {"aiml_mock/contracts/aimlapi.yaml", "aiml_mock/contracts/openai.yaml",
            "aiml_mock/contracts/prices.yaml"} <= names


def test_installed_wheel_reads_the_contract_from_inside_the_package(image: Stage, installed: Path) -> None:
    env = image_environment(image, installed)
    code = "from aiml_mock.core.contract import contracts_dir; print(contracts_dir())"
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                           cwd=installed)
    assert Path(found.stdout.strip()) == installed / "aiml_mock" / "contracts", found.stderr


def test_image_command_serves_health_and_a_generation(container: tuple[subprocess.Popen[str], str]) -> None:
    _, url = container
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/health").json()["status"] == "ok"
        response = client.post("/v1/images/generations", json=SEED_BODY,
                               headers={"Authorization": "Bearer <YOUR_AIMLAPI_KEY>"})
        assert response.status_code == 201, response.text
        [item] = response.json()["data"]
        png = client.get(item["url"])
        assert png.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(png.content)).size == (1024, 1024)


def test_healthcheck_command_passes_while_the_image_command_serves(
        image: Stage, installed: Path, container: tuple[subprocess.Popen[str], str]) -> None:
    _, url = container
    port = url.rsplit(":", 1)[1]
    env = image_environment(image, installed, AIML_MOCK_PORT=port)  # the image's AIML_MOCK_HOST: 0.0.0.0
    probe = subprocess.run(resolve(image.healthcheck[1], env), env=env, capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0, probe.stderr


def test_sigterm_stops_the_image_command_cleanly_with_a_client_connected(
        container: tuple[subprocess.Popen[str], str]) -> None:
    process, url = container
    with httpx.Client(base_url=url, timeout=10) as client:  # a keep-alive connection stays open, like an app's
        assert client.get("/health").status_code == 200
        process.send_signal(signal.SIGTERM)  # what `docker stop` sends to PID 1
        assert process.wait(timeout=3) == 0


def test_wheel_carries_the_dashboards_templates_and_static_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    files = {path.relative_to(ROOT).as_posix() for folder in ("templates", "static")
             for path in (ROOT / "aiml_mock" / "web" / folder).iterdir()}
    assert files and files <= names


def test_image_command_serves_the_dashboard_from_the_installed_wheel(container: tuple[subprocess.Popen[str], str]
                                                                     ) -> None:
    _, url = container
    with httpx.Client(base_url=url, timeout=10) as client:
        assert "<tbody id=\"rows\">" in client.get("/__mock/ui").text
        assert client.get("/__mock/ui/static/dashboard.js").status_code == 200
