"""The public API is small and listed (httpx's test_exported_members)."""

from __future__ import annotations

import aiml_mock


def test_all_exports_exist_and_are_documented() -> None:
    for name in aiml_mock.__all__:
        member = getattr(aiml_mock, name)
        assert name == "__version__" or member.__doc__, name


def test_public_names_are_listed_in_all() -> None:
    public = {name for name in dir(aiml_mock) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(aiml_mock, name)).__name__ == "module"}
    assert public - modules == set(aiml_mock.__all__) - {"__version__"}
