"""The recipes users copy: `docker/compose.yaml` and the GitHub Actions workflows in `examples/`.

Each is validated against its official schema (check-jsonschema carries the compose-spec and GitHub-workflow
schemas, offline), and what it says to the mock is checked against the mock itself: every `aiml-mock ...`
command parses, every `AIML_MOCK_*` variable is a real setting, the health check is the image's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiml_mock import MockServer, Settings
from aiml_mock.core.settings import ENV_PREFIX
from aiml_mock.hosting.cli import build_parser
from tests.dockerfile import DOCKERFILE, ROOT, parse_dockerfile

COMPOSE = ROOT / "docker" / "compose.yaml"
WORKFLOWS = sorted((ROOT / "examples" / "github-actions").glob("*.yml"))
SERVICE_WORKFLOW = ROOT / "examples" / "github-actions" / "mock-service-container.yml"
SETTING_VARIABLES = {ENV_PREFIX + spec.name.upper() for spec in fields(Settings)}
# `aiml-mock` followed by a subcommand, in a shell line (not `ghcr.io/.../aiml-mock:tag` nor `aiml-mock.log`).
COMMAND = re.compile(r"(?<![\w./@-])aiml-mock ([a-z][^\n;&|<>\"']*)")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is missing: pip install -e '.[test]'"
    return subprocess.run([tool, "--builtin-schema", schema, *map(str, paths)], capture_output=True, text=True,
                          timeout=120)


def commands_in(text: str) -> list[list[str]]:
    return [shlex.split(match) for match in COMMAND.findall(text)]


def assert_settings(environment: dict[str, Any]) -> None:
    ours = {key: str(value) for key, value in environment.items() if key.startswith(ENV_PREFIX)}
    assert set(ours) <= SETTING_VARIABLES, set(ours) - SETTING_VARIABLES
    Settings.from_env(ours)


def with_example_app(tmp_path: Path) -> Path:
    """The compose file with its commented-out example app service uncommented, as a user would."""
    lines = COMPOSE.read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if line.strip() == "# app:")
    assert all(line.lstrip().startswith("#") for line in lines[start:]), "the example app must end the file"
    path = tmp_path / "compose.yaml"
    path.write_text("\n".join(lines[:start] + [re.sub(r"^(\s*)# ?", r"\1", line) for line in lines[start:]]) + "\n")
    return path


def test_compose_file_and_its_example_app_are_valid_against_the_compose_spec(tmp_path: Path) -> None:
    result = check_jsonschema("vendor.compose-spec", COMPOSE, with_example_app(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_are_valid_against_the_github_workflow_schema() -> None:
    assert len(WORKFLOWS) == 2
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_builds_the_dockerfile_from_the_repository_root() -> None:
    build = load(COMPOSE)["services"]["aiml-mock"]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == ROOT and (context / build["dockerfile"]) == DOCKERFILE


def test_compose_health_check_and_port_are_the_images() -> None:
    service = load(COMPOSE)["services"]["aiml-mock"]
    image = parse_dockerfile()[-1]
    assert service["healthcheck"]["test"] == ["CMD", *image.healthcheck[1]]
    published = {port.rsplit(":", 1)[1] for port in service["ports"]}
    assert published == {image.env[ENV_PREFIX + "PORT"]}
    assert_settings({**image.env, **service.get("environment", {})})


def test_compose_example_app_waits_for_the_mock_to_be_healthy_and_calls_it_by_name(tmp_path: Path) -> None:
    app = load(with_example_app(tmp_path))["services"]["app"]
    assert app["depends_on"] == {"aiml-mock": {"condition": "service_healthy"}}
    assert app["environment"]["OPENAI_BASE_URL"] == "http://aiml-mock:8000/v1"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_commands_and_variables_are_ones_the_mock_accepts(workflow: Path) -> None:
    jobs = load(workflow)["jobs"]
    found = []
    for job in jobs.values():
        assert_settings(job.get("env", {}))
        for service in job.get("services", {}).values():
            assert_settings(service.get("env", {}))
            found += commands_in(service.get("options", ""))
        for step in job["steps"]:
            assert_settings(step.get("env", {}))
            found += commands_in(step.get("run", ""))
    assert found, f"{workflow.name} never runs aiml-mock"
    for argv in found:
        build_parser().parse_args(argv)  # exits (fails the test) on an unknown subcommand or flag


def test_service_container_waits_for_the_images_health_check() -> None:
    [service] = load(SERVICE_WORKFLOW)["jobs"]["test"]["services"].values()
    assert commands_in(service["options"]) == [parse_dockerfile()[-1].healthcheck[1][1:]]
    assert [port.split(":")[1] for port in service["ports"]] == [parse_dockerfile()[-1].env[ENV_PREFIX + "PORT"]]


def test_workflow_steps_run_files_that_exist() -> None:
    for workflow in WORKFLOWS:
        for step in load(workflow)["jobs"]["test"]["steps"]:
            for script in re.findall(r"\bnode (\S+\.js)", step.get("run", "")):
                assert (ROOT / script).is_file(), f"{workflow.name} runs {script}, which does not exist"


@pytest.mark.skipif(shutil.which("node") is None, reason="`node` is not installed: the workflow's step cannot run")
def test_service_workflow_test_step_passes_against_a_mock_configured_like_its_service(tmp_path: Path) -> None:
    job = load(SERVICE_WORKFLOW)["jobs"]["test"]
    [service] = job["services"].values()
    [step] = [step for step in job["steps"] if "node " in step.get("run", "")]
    settings = Settings.from_env({key: str(value) for key, value in service["env"].items()}, host="127.0.0.1",
                                 port=0)
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the checkout, without writing into it
    with MockServer(settings) as server:
        job_env = {key: str(value).replace("http://localhost:8000", server.url) for key, value in job["env"].items()}
        result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env={**os.environ, **job_env},
                                capture_output=True, text=True, timeout=60)  # `bash -e {0}`, as the runner does
    assert result.returncode == 0, result.stdout + result.stderr
