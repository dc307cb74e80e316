"""`aiml-mock serve` as a user runs it: a real process, its printed URL, flags and env variables."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiml_mock.core.settings import ProtocolName
from aiml_mock.hosting.cli import build_parser, settings_from_args
from tests.serving import serve_process


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", *args]
    with serve_process(command, env={**os.environ, **(env or {})}) as served:
        yield served


def post(url: str, body: dict[str, object], key: str = "k") -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"{url}/v1/images/generations", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_serve_prints_its_url_and_base_url_and_answers() -> None:
    with serve() as (process, url):
        assert process.stdout is not None
        assert f'base_url="{url}/v1"' in process.stdout.readline()
        status, body = post(url, {"model": "dall-e-3", "prompt": "x"})
        assert status == 201 and body["data"]


def test_flags_and_environment_configure_the_server() -> None:
    with serve("--success-status", "200", "--api-key", "sk-a", env={"AIML_MOCK_ERROR_STYLE": "openai"}) as (_, url):
        assert post(url, {"model": "dall-e-3", "prompt": "x"}, key="sk-a")[0] == 200
        status, body = post(url, {"model": "dall-e-3", "prompt": "x"}, key="sk-b")
        assert status == 401 and body["error"]["code"] == "invalid_api_key"  # type: ignore[index]


def test_sigterm_stops_the_server_promptly() -> None:
    with serve() as (process, _):
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
        assert time.monotonic() - started < 3


def test_repeatable_api_key_flag_parses_into_settings() -> None:
    args = build_parser().parse_args(["serve", "--api-key", "a", "--api-key", "b", "--profile", "openai"])
    settings = settings_from_args(args)
    assert settings.api_keys == ("a", "b") and settings.profile == "openai"


def test_bad_flag_value_exits_with_a_message() -> None:
    result = subprocess.run([sys.executable, "-m", "aiml_mock", "serve", "--success-status", "404"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "2xx" in result.stderr



def test_settings_doc_lists_every_serve_flag() -> None:
    section = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
    parser = build_parser()
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    flags = [option for action in subparsers.choices["serve"]._actions for option in action.option_strings
             if option.startswith("--") and option != "--help" and not option.startswith("--no-")]
    missing = [flag for flag in flags if f"`{flag}" not in section]
    assert not missing, f"docs/settings.md's table lacks {missing}"


def test_serve_answers_under_either_protocol(protocol: ProtocolName) -> None:
    with serve("--protocol", protocol) as (_, url):
        status, body = post(url, {"model": "dall-e-2", "prompt": "x"})
    assert status == 201 and body["data"]


def test_an_unknown_protocol_is_refused_naming_the_setting() -> None:
    result = subprocess.run([sys.executable, "-m", "aiml_mock", "serve", "--port", "0"], capture_output=True,
                            text=True, timeout=30, env={**os.environ, "AIML_MOCK_PROTOCOL": "slow"})
    assert result.returncode == 2 and "protocol must be fast or stock" in result.stderr


def test_serve_beyond_loopback_refuses_an_open_admin_api_and_says_how_to_start() -> None:
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0"]
    env = {**os.environ, "AIML_MOCK_HOST": "0.0.0.0"}  # what the container image sets
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "listening" not in refused.stdout
    assert "--admin-token" in refused.stderr and "--no-admin" in refused.stderr and "0.0.0.0" in refused.stderr
    with serve(env={"AIML_MOCK_HOST": "0.0.0.0", "AIML_MOCK_ADMIN_TOKEN": "s3cret"}) as (_, url):
        assert post(url, {"model": "dall-e-3", "prompt": "x"})[0] == 201
