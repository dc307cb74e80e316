"""The parsed contract is cached as JSON in the user's cache, named by the file's digest; the cache never changes
what is read: an edited file, a corrupt or unwritable cache all fall back to parsing the YAML."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiml_mock.core import contract
from aiml_mock.core.contract import contract_path

read = contract._read.__wrapped__


@pytest.fixture
def copy_of_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    target = tmp_path / "aimlapi.yaml"
    shutil.copy(contract_path("aimlapi"), target)
    return target


def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts YAML parses from now on."""
    calls: list[int] = []
    real = yaml.load

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(contract.yaml, "load", counted)
    return calls


def test_a_second_read_comes_from_the_cache_and_equals_the_parsed_file(
    copy_of_the_contract: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = yaml.load(copy_of_the_contract.read_text(), Loader=yaml.SafeLoader)
    calls = parses(monkeypatch)
    first = read(copy_of_the_contract)
    second = read(copy_of_the_contract)
    assert second == first == expected
    assert len(calls) == 1
    assert len(list((copy_of_the_contract.parent / "cache" / "aiml-mock").glob("aimlapi-*.json"))) == 1


def test_an_edited_file_is_parsed_again(copy_of_the_contract: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read(copy_of_the_contract)
    copy_of_the_contract.write_text(copy_of_the_contract.read_text() + "\nx-edited: true\n")
    calls = parses(monkeypatch)
    assert read(copy_of_the_contract)["x-edited"] is True
    assert len(calls) == 1


def test_a_corrupt_cache_file_is_ignored(copy_of_the_contract: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = read(copy_of_the_contract)
    for cached in (copy_of_the_contract.parent / "cache" / "aiml-mock").glob("*.json"):
        cached.write_bytes(b'{"openapi": ')
    assert read(copy_of_the_contract) == expected


def test_an_unwritable_cache_still_reads_the_file(copy_of_the_contract: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = copy_of_the_contract.parent / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert read(copy_of_the_contract)["openapi"].startswith("3.1")
