"""The public Hypothesis strategies: valid bodies the contract accepts, invalid ones refused for their field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import Phase, Verbosity, find, given, settings
from hypothesis import strategies as st

from aiml_mock.core.contract import load_contract
from aiml_mock.tools.strategies import (
    InvalidRequest,
    UnsupportedSchema,
    check_schema,
    image_requests,
    invalid_image_requests,
)

T = TypeVar("T")
AIML = load_contract("aimlapi")


def drawn(strategy: st.SearchStrategy[T], condition: Callable[[T], Any]) -> T:
    """The first value the strategy draws that meets the condition (no shrinking: that is not the point).

    Derandomized: a search that found its example once finds it every run, so CI cannot flake on bad luck."""
    return find(strategy, condition, settings=settings(phases=[Phase.generate], max_examples=1000, database=None,
                                                      derandomize=True, verbosity=Verbosity.quiet))


ALL_MODELS = [("aimlapi", model) for model in load_contract("aimlapi").models] + [
    ("openai", model) for model in load_contract("openai").models
]


@pytest.mark.parametrize(("profile", "model"), ALL_MODELS)
@settings(max_examples=5)  # fewer than the profile: 83 models; the broad tests below sample all of them
@given(data=st.data())
def test_every_model_draws_bodies_its_schema_accepts(profile: str, model: str, data: st.DataObject) -> None:
    contract = load_contract(profile)
    body = data.draw(image_requests(model, profile=profile))  # type: ignore[arg-type]
    assert contract.validate_request(body) == []
    assert contract.check_request(body) == []  # no field the contract does not define


@pytest.mark.parametrize("profile", ["aimlapi", "openai"])
@given(data=st.data())
def test_invalid_bodies_are_refused_only_because_of_their_field(profile: str, data: st.DataObject) -> None:
    contract = load_contract(profile)
    invalid = data.draw(invalid_image_requests(profile=profile))  # type: ignore[arg-type]
    assert isinstance(invalid, InvalidRequest)
    violations = contract.validate_request(invalid.body)
    assert violations and {violation.field for violation in violations} == {invalid.field}


def test_prompts_reach_the_models_limit_in_any_script() -> None:
    body = drawn(image_requests("dall-e-3"), lambda body: len(body["prompt"]) == 4000)
    assert AIML.validate_request(body) == []
    drawn(image_requests("dall-e-2"), lambda body: any(ord(char) > 0xFFFF for char in body["prompt"]))


@pytest.mark.parametrize("size", ["1024x1024", "1024x1792", "1792x1024", None])
def test_every_size_is_drawn_including_null(size: str | None) -> None:
    drawn(image_requests("dall-e-3"), lambda body: "size" in body and body["size"] == size)


def test_nested_image_size_objects_are_drawn() -> None:
    body = drawn(image_requests("flux-pro"), lambda body: isinstance(body.get("image_size"), dict))
    assert set(body["image_size"]) == {"width", "height"}


def test_image_urls_are_drawn_as_https_and_data_urls() -> None:
    model = "blackforestlabs/flux-2-edit"
    drawn(image_requests(model), lambda body: any(url.startswith("data:image/") for url in body["image_urls"]))
    drawn(image_requests(model), lambda body: any(url.startswith("https://") for url in body["image_urls"]))


def test_openai_profile_bodies_may_leave_the_model_out() -> None:
    body = drawn(image_requests(profile="openai"), lambda body: "model" not in body)
    assert load_contract("openai").validate_request(body) == []


@pytest.mark.parametrize(
    ("field", "rule"),
    [("model", "enum"), ("prompt", "required"), ("prompt", "maxLength"), ("size", "enum"), ("n", "enum"),
     ("style", "type")],
)
def test_invalid_bodies_break_each_kind_of_rule(field: str, rule: str) -> None:
    def breaks(pair: InvalidRequest) -> bool:
        return pair.field == field and rule in {violation.rule for violation in AIML.validate_request(pair.body)}

    drawn(invalid_image_requests("dall-e-3"), breaks)


def test_a_bad_nested_value_is_blamed_on_its_top_level_field() -> None:
    found = drawn(invalid_image_requests("flux-pro"),
                 lambda pair: pair.field == "image_size" and isinstance(pair.body["image_size"], dict))
    assert {violation.field for violation in AIML.validate_request(found.body)} == {"image_size"}


def test_unknown_model_is_refused_with_suggestions() -> None:
    with pytest.raises(ValueError, match="dall-e-3"):
        image_requests("dalle-3")


def test_a_keyword_the_strategies_do_not_model_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedSchema, match="multipleOf"):
        check_schema({"type": "object", "properties": {"steps": {"type": "integer", "multipleOf": 4}}})
