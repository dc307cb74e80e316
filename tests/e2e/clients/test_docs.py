"""docs/clients.md says what the matrix saw: each client's cells are the `@cell` marks of the tests proving
them, every client has every column, the versions are the installed ones, and the page's `aiml-mock check`
commands do what their comments say.

The generated blocks (between `<!-- generated: NAME -->` and `<!-- end -->`) are rewritten by
`AIML_MOCK_WRITE_DOCS=1 pytest tests/e2e/clients/test_docs.py`; everything else on the page is prose.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark.structures import Mark, ParameterSet

from tests.e2e.clients.conftest import NODE_DIR, node_modules

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PAGE = ROOT / "docs" / "clients.md"
COLUMNS = ("url", "b64_json", "400", "401", "429 then success", "dropped connection")
BLOCK = re.compile(r"(<!-- generated: (?P<name>[^>]+?) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)


def _tool(command: list[str], pattern: str) -> str:
    run = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    found = re.search(pattern, run.stdout)
    assert found, f"{command}: no version in {run.stdout[:200]!r}"
    return found.group(1)


def node_version() -> str:
    return "Node " + _tool(["node", "--version"], r"v(\d+)\.")


def node_openai_version() -> str:
    locked = json.loads((NODE_DIR / "package-lock.json").read_text())["packages"]["node_modules/openai"]["version"]
    installed = json.loads((node_modules() / "openai" / "package.json").read_text())["version"]
    assert installed == locked, f"node_modules has openai {installed}, the lock file {locked}: run npm ci in {NODE_DIR}"
    return f"openai {locked} ({node_version()})"


def python_package(*names: str) -> Callable[[], str]:
    return lambda: ", ".join(f"{name} {metadata.version(name)}" for name in names)


# Each client of the matrix, in the page's order, and how to tell the version this machine runs.
CLIENTS: dict[str, Callable[[], str]] = {
    "openai (Python)": python_package("openai"),
    "openai (Python, async)": python_package("openai"),
    "openai (Node)": node_openai_version,
    "LangChain `DallEAPIWrapper`": python_package("langchain-community", "openai"),
    "LiteLLM `openai/`": python_package("litellm", "openai"),
    "LiteLLM `aiml/`": python_package("litellm"),
    "requests": python_package("requests", "urllib3"),
    "httpx": python_package("httpx"),
    "curl": lambda: "curl " + _tool(["curl", "--version"], r"^curl (\d+\.\d+)"),
    "Node `fetch`": node_version,
}


def marks_of(test: object) -> list[Mark]:
    """A test function's own marks, and those of its `pytest.param`s."""
    found = []
    for mark in getattr(test, "pytestmark", []):
        found.append(mark)
        if mark.name == "parametrize":
            for value in mark.args[1]:
                if isinstance(value, ParameterSet):
                    found.extend(value.marks)  # type: ignore[arg-type]
    return found


def cells() -> dict[str, dict[str, tuple[str, str]]]:
    """client -> column -> (outcome, the test proving it), from every test module of this package."""
    seen: dict[str, dict[str, tuple[str, str]]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"tests.e2e.clients.{path.stem}")
        for name, test in vars(module).items():
            if not name.startswith("test_") or not callable(test):
                continue
            for mark in marks_of(test):
                if mark.name != "matrix":
                    continue
                client, column, outcome = mark.kwargs["client"], mark.kwargs["column"], mark.kwargs["outcome"]
                where = f"{path.name}::{name}"
                earlier = seen.setdefault(client, {}).get(column)
                assert earlier is None, f"{client} / {column}: proved by {earlier[1]} and {where}"  # one per cell
                seen[client][column] = (outcome, where)
    return seen


def versions_block() -> str:
    lines = ["| client | version tested |", "|---|---|"]
    lines += [f"| {client} | {version()} |" for client, version in CLIENTS.items()]
    return "\n".join(lines) + "\n"


def matrix_block(client: str, found: dict[str, dict[str, tuple[str, str]]]) -> str:
    lines = ["| case | what happens | proved by |", "|---|---|---|"]
    for column in COLUMNS:
        outcome, where = found[client][column]
        lines.append(f"| {column} | {outcome} | `{where}` |")
    return "\n".join(lines) + "\n"


def expected_blocks() -> dict[str, str]:
    found = cells()
    blocks = {"versions": versions_block()}
    blocks.update({f"matrix: {client}": matrix_block(client, found) for client in CLIENTS})
    return blocks


def test_every_client_has_a_test_for_every_case() -> None:
    found = cells()
    assert set(found) == set(CLIENTS), "a client with tests but not on the page, or on the page without tests"
    missing = [f"{client} / {column}" for client in CLIENTS for column in COLUMNS if column not in found[client]]
    extra = [f"{client} / {column}" for client in found for column in found[client] if column not in COLUMNS]
    assert not missing and not extra, f"cells without a test: {missing}; tests of unknown cases: {extra}"


def test_the_page_says_what_the_tests_saw_and_the_versions_installed() -> None:
    page = PAGE.read_text(encoding="utf-8")
    expected = expected_blocks()
    if os.environ.get("AIML_MOCK_WRITE_DOCS"):
        page = BLOCK.sub(lambda m: m.group(1) + expected.get(m.group("name"), m.group("body")) + m.group(4), page)
        PAGE.write_text(page, encoding="utf-8")
    actual = {match.group("name"): match.group("body") for match in BLOCK.finditer(page)}
    assert set(actual) == set(expected), f"generated blocks: the page has {sorted(actual)}, want {sorted(expected)}"
    stale = [name for name in expected if actual[name] != expected[name]]
    assert not stale, (
        f"docs/clients.md is stale in {stale} (rewrite: AIML_MOCK_WRITE_DOCS=1 pytest {Path(__file__).name}):\n"
        + "\n".join(f"--- {name}\n{expected[name]}" for name in stale)
    )


def documented_checks() -> list[tuple[str, int]]:
    """The page's `aiml-mock check ...  # exit N` lines."""
    page = PAGE.read_text(encoding="utf-8")
    found = re.findall(r"^(aiml-mock check .+?)\s+# exit (\d+)", page, re.M)
    assert len(found) >= 4, "the page shows aiml-mock check for a Python and a Node app, passing and failing"
    return [(command, int(code)) for command, code in found]


def documented_outputs() -> tuple[list[str], dict[str, Any]]:
    """The page's sample `aiml-mock check` output (the lines of its plain block) and sample JSON report."""
    section = PAGE.read_text(encoding="utf-8").split("## `aiml-mock check`", 1)[1]
    [printed] = re.findall(r"^```\n(aiml-mock check: .*?)^```", section, re.S | re.M)
    [report] = re.findall(r"^```json\n(.*?)^```", section, re.S | re.M)
    return printed.splitlines(), json.loads(report)


def volatile(text: str) -> str:
    """Ports and image names change with every run."""
    return re.sub(r"img-[\w-]+", "img-...", re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)).rstrip()


def shown_in(shown: Any, actual: Any) -> bool:
    """Whether the page's sample is what the report holds; `"...": "..."` stands for keys left out."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(
            key == "..." or (key in actual and shown_in(value, actual[key])) for key, value in shown.items())
    if isinstance(shown, list):
        return isinstance(actual, list) and len(actual) == len(shown) and all(map(shown_in, shown, actual))
    return bool(shown == actual)


@pytest.mark.parametrize(("command", "code"), documented_checks())
def test_the_documented_check_commands_do_what_the_page_says(command: str, code: int, tmp_path: Path,
                                                             node: str) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the page's relative paths; the report lands here
    bin_dir = str(Path(sys.executable).parent)  # `aiml-mock` and `python` of this environment
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, str(Path(node).parent), os.environ.get("PATH", "")])}
    argv = shlex.split(command)
    run = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == code, f"{command}: exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    printed, sample = documented_outputs()
    if printed[0].split("`")[1] == " ".join(argv[argv.index("--") + 1:]):  # the command of the sample output
        lines = run.stderr.splitlines()
        verdict = [volatile(line) for line in lines[next(i for i, line in enumerate(lines)
                                                          if line.startswith("aiml-mock check:")):]]
        assert [volatile(line) for line in printed] == verdict, run.stderr
    if "--json" in command:
        report = json.loads((tmp_path / argv[argv.index("--json") + 1]).read_text())
        assert report["status"] == code and report["requests"] >= 1
        assert all(entry["valid"] for entry in report["entries"]) == (code == 0)
        if sample["command"] == argv[argv.index("--") + 1:]:
            assert shown_in(sample, report), f"the page's sample report is not what check wrote: {report}"
