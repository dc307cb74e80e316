"""The negative-form judge of the contract suites: spares a negation the wire undoes, and only that."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from aiml_mock import Settings, create_app
from tests.contract.sent_forms import sent_form_is_valid

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def served(profile: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(profile=profile)))  # type: ignore[arg-type]


AIMLAPI, OPENAI = served("aimlapi"), served("openai")


def judged(schema: schemathesis.BaseSchema, path: str, body: dict[str, Any]) -> bool:
    case = schema[path]["POST"].Case(body=body, media_type="multipart/form-data")
    return sent_form_is_valid(schema, case)


@pytest.mark.parametrize("prompt", [None, False, True, 0, 2.5, {"a": "b"}, ["x"], ["", "x"]])
def test_a_prompt_of_another_type_is_sent_as_text_a_valid_prompt(prompt: Any) -> None:
    # The flaky AcceptedNegativeData of test_aimlapi_profile_keeps_its_contract: `prompt: false` went out as "false".
    assert judged(AIMLAPI, "/v1/images/edits", {"image": PNG, "prompt": prompt, "model": "openai/gpt-image-1"})


@pytest.mark.parametrize("body", [
    {"image": PNG},  # prompt missing
    {"image": PNG, "prompt": ""},  # prompt empty
    {"image": PNG, "prompt": "x", "model": None},  # "null" is no model of the enum
    {"image": PNG, "prompt": "x", "model": 3},
    {"prompt": "x"},  # no image
    {"image": PNG, "prompt": []},  # no part at all
])
def test_a_form_still_invalid_as_sent_stays_negative(body: dict[str, Any]) -> None:
    assert not judged(AIMLAPI, "/v1/images/edits", body)


@pytest.mark.parametrize(("n", "valid"), [(2, True), ("2", True), (None, False), (False, False), (2.5, False),
                                          ("two", False), (11, False)])
def test_an_integer_field_counts_as_sent_only_when_its_text_is_an_integer_in_range(n: Any, valid: bool) -> None:
    assert judged(OPENAI, "/v1/images/variations", {"image": PNG, "n": n}) is valid
