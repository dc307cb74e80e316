"""Bugs the contract suites found, each pinned by the behaviour that broke."""

from __future__ import annotations

import pytest

from aiml_mock.contract import load_contract


@pytest.mark.parametrize("profile", ["aimlapi", "openai"])
def test_bundled_profile_defines_the_bearer_scheme_instead_of_referring_to_itself(profile: str) -> None:
    # openai.yaml aliases aimlapi.yaml's bearerAuth by the same name; bundled naively, the alias became
    # `{"$ref": "#/components/securitySchemes/bearerAuth"}` and Schemathesis could not read the document.
    scheme = load_contract(profile).document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "$ref" not in scheme
