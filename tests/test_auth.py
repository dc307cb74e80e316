"""Bearer checks and key redaction."""

from __future__ import annotations

import pytest

from aiml_mock.core.auth import check_bearer, redact
from aiml_mock.core.errors import ApiError


def test_any_key_passes_without_configured_keys() -> None:
    assert check_bearer("Bearer anything", ()) == "anything"
    assert check_bearer("bearer  spaced  ", ()) == "spaced"


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Basic dXNlcjpwYXNz", "Bearer a b"])
def test_missing_or_malformed_header_is_401(header: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        check_bearer(header, ())
    assert caught.value.status == 401 and caught.value.code is None


def test_unknown_key_is_401_invalid_api_key_without_echoing_it() -> None:
    with pytest.raises(ApiError) as caught:
        check_bearer("Bearer sk-very-secret-key", ("sk-good",))
    assert caught.value.code == "invalid_api_key"
    assert "sk-very-secret-key" not in (caught.value.openai_message or "")


def test_redact_keeps_at_most_a_third_of_the_key_as_prefix() -> None:
    assert redact("sk-abcdefghijklmnop") == "sk-abc...(19 chars)"
    assert redact("short") == "s...(5 chars)"
    assert redact("sk-test") == "sk...(7 chars)"
    assert redact("abc") == "***"
