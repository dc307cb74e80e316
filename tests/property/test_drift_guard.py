"""The drift guard: for any JSON body, the contract accepts it exactly when the mock answers with success.

"The contract accepts it" is decided by jsonschema_rs against the whole `ImageRequest` `oneOf` of the bundled
document, not by the mock's own per-model dispatch, so a mock that drifts from its contract file (or a
dispatch that picks the wrong schema) fails here.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema_rs
from hypothesis import given
from hypothesis import strategies as st

from aiml_mock.core.contract import Contract
from aiml_mock.tools.strategies import image_requests, invalid_image_requests
from tests.property.conftest import Mock

_CHARS = st.characters(codec="utf-8")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CHARS, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(_CHARS, max_size=10), inner, max_size=4),
    max_leaves=10,
)


@functools.cache
def accepts(contract: Contract) -> Any:
    """A validator for the document's `ImageRequest` schema, references resolved within the document."""
    document = contract.document
    schema = {"$ref": "#/components/schemas/ImageRequest", "components": document["components"]}
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def field_names(contract: Contract) -> list[str]:
    return sorted({name for spec in contract.models.values() for name in spec.properties} | {"qualty", "model"})


def near_misses(contract: Contract) -> st.SearchStrategy[Any]:
    """Valid bodies with one field replaced by any JSON, dropped, or borrowed from another model's vocabulary."""
    valid = image_requests(profile=contract.profile)
    replaced = st.builds(lambda body, key, value: {**body, key: value}, valid, st.sampled_from(field_names(contract)),
                         JSON)
    dropped = valid.flatmap(lambda body: st.sampled_from(sorted(body)).map(
        lambda key: {k: v for k, v in body.items() if k != key}))
    return st.one_of(replaced, dropped)


@functools.cache
def bodies(contract: Contract) -> st.SearchStrategy[Any]:
    models = st.sampled_from(sorted(contract.models))
    shaped = st.dictionaries(st.sampled_from(field_names(contract)), JSON, max_size=6)
    return st.one_of(
        image_requests(profile=contract.profile),
        invalid_image_requests(profile=contract.profile).map(lambda invalid: invalid.body),
        near_misses(contract),
        st.builds(lambda model, rest: {**rest, "model": model}, models, shaped),
        JSON,
    )


@given(data=st.data())
def test_contract_accepts_a_body_exactly_when_the_mock_answers_success(mock: Mock, data: st.DataObject) -> None:
    body = data.draw(bodies(mock.contract), label="body")
    accepted = accepts(mock.contract).is_valid(body)
    response = mock.post(body)
    assert response.status_code < 500, response.text
    succeeded = 200 <= response.status_code < 300
    assert succeeded == accepted, f"contract accepts: {accepted}, mock answered {response.status_code} {response.text}"
