"""A feature whose extra is not installed says which extra to install (the real venvs: e2e/test_slim_install.py).

Here the missing module is blocked in a fresh interpreter (`sys.modules[name] = None` makes its import fail as
an absent module does), so each case runs in seconds without building a venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aiml_mock.core._extras import MissingExtra, missing_extra, require


def without(modules: list[str], code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter in which `modules` cannot be imported."""
    prelude = f"import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60)


def test_require_returns_an_installed_module() -> None:
    assert require("json", feature="x", extra="contract").dumps([]) == "[]"


def test_require_names_the_extra_and_the_missing_module() -> None:
    with pytest.raises(ImportError) as caught:
        require("no_such_module_here.sub", feature="aiml-mock verify", extra="contract")
    assert isinstance(caught.value, MissingExtra) and caught.value.name == "no_such_module_here"
    assert str(caught.value) == ("aiml-mock verify needs no_such_module_here, which the core install of aiml-mock"
                                 " leaves out: pip install 'aiml-mock[contract]'")
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_missing_extra_keeps_the_feature_and_the_extra() -> None:
    error = missing_extra("aiml_mock.tools.strategies", "contract", ModuleNotFoundError("x", name="hypothesis"))
    assert (error.feature, error.extra, error.name) == ("aiml_mock.tools.strategies", "contract", "hypothesis")


@pytest.mark.parametrize(("module", "blocked", "extra"), [
    ("aiml_mock.tools.strategies", "hypothesis", "contract"),
    ("aiml_mock.tools.verify", "httpx", "contract"),
])
def test_importing_a_feature_without_its_extra_names_the_extra(module: str, blocked: str, extra: str) -> None:
    result = without([blocked], f"import {module}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"aiml_mock.core._extras.MissingExtra: {module.replace('aiml_mock.tools.verify', 'aiml-mock verify')}"
        f" needs {blocked},"
        f" which the core install of aiml-mock leaves out: pip install 'aiml-mock[{extra}]'")


def test_a_command_without_its_extra_says_what_to_install_and_exits_2() -> None:
    result = without(["httpx", "hypothesis", "schemathesis", "pytest"], """
        from aiml_mock.hosting.cli import main
        sys.exit(main(["verify", "--base-url", "http://127.0.0.1:9", "--max-requests", "3"]))
    """)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == ("aiml-mock: aiml-mock verify needs httpx, which the core install of aiml-mock leaves"
                             " out: pip install 'aiml-mock[contract]'\n")
    listed = without(["httpx"], "from aiml_mock.hosting.cli import build_parser; build_parser().print_help()")
    assert "check" in listed.stdout and "not installed" in listed.stdout


def test_unknown_arguments_still_get_argparse_s_error() -> None:
    result = subprocess.run([sys.executable, "-m", "aiml_mock", "check", "--nonsense", "--", "true"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unrecognized arguments: --nonsense" in result.stderr


def test_a_local_handle_needs_no_httpx_and_a_remote_one_names_the_pytest_extra() -> None:
    result = without(["httpx"], """
        import json, urllib.request
        from aiml_mock import MockHandle
        with MockHandle.serve() as mock:
            request = urllib.request.Request(mock.base_url + "/images/generations",
                                             data=json.dumps({"model": "dall-e-2", "prompt": "x"}).encode(),
                                             headers={"Authorization": "Bearer k", "Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).close()
            mock.assert_called(times=1, model="dall-e-2")
            try:
                MockHandle.connect(mock.url)
            except ImportError as error:
                print(error)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("a mock that is already running (MockHandle.connect) needs httpx, which the core install"
                             " of aiml-mock leaves out: pip install 'aiml-mock[pytest]'\n")


def test_the_plugin_against_a_running_mock_without_httpx_fails_each_test_with_the_extra(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text("def test_one(aiml_mock):\n    pass\n\n\n"
                                           "def test_two(aiml_mock):\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['httpx'] = None; import pytest; sys.exit(pytest.main())",
         "-p", "aiml_mock.tools.pytest_plugin", "-p", "no:cacheprovider", "--aiml-mock-url", "http://127.0.0.1:9"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.returncode == 1 and "2 errors" in result.stdout, result.stdout + result.stderr
    assert result.stdout.count("pip install 'aiml-mock[pytest]'") >= 2
    assert "_extras.py" not in result.stdout  # the message alone, not a traceback through the plugin
