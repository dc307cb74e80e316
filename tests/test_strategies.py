"""The public Hypothesis strategies: valid bodies the contract accepts, invalid ones refused for their field."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import Phase, Verbosity, find, given, settings
from hypothesis import strategies as st
from PIL import Image

from aiml_mock.core.contract import load_contract
from aiml_mock.core.edits import check_fields, check_uploads, rules_for
from aiml_mock.core.errors import ApiError
from aiml_mock.core.forms import Form, Upload
from aiml_mock.tools.strategies import (
    EDIT_OPERATION,
    FORM_REFUSALS,
    VARIATION_OPERATION,
    InvalidForm,
    InvalidRequest,
    MultipartForm,
    UnsupportedSchema,
    check_schema,
    edit_forms,
    image_requests,
    invalid_edit_forms,
    invalid_image_requests,
    invalid_variation_forms,
    variation_forms,
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


# -- multipart forms (edits, variations) ---------------------------------------------------------------------------

FORM_CASES = [("openai", EDIT_OPERATION), ("openai", VARIATION_OPERATION), ("aimlapi", EDIT_OPERATION)]


def core_form(form: MultipartForm) -> Form:
    """The form as the server's reader hands it on (`uploads.Form`): text fields, then file parts in order."""
    files = []
    for name, (filename, content, media) in form.files:
        upload = Upload(name, filename, media, size=len(content), file=tempfile.SpooledTemporaryFile())
        assert upload.file is not None
        upload.file.write(content)
        files.append(upload)
    return Form(dict(form.fields), files)


def refusal(profile: str, form: MultipartForm) -> ApiError | None:
    """What the pure core says of a form: None when it accepts it, else its error."""
    contract = load_contract(profile)  # type: ignore[arg-type]
    parsed = core_form(form)
    try:
        rules = rules_for(contract, form.operation, parsed)
        check_fields(rules, parsed)
        check_uploads(rules, parsed)
    except ApiError as error:
        return error
    finally:
        parsed.close()
    return None


def strategy_for(profile: str, operation: str, *, invalid: bool) -> st.SearchStrategy[Any]:
    if operation == EDIT_OPERATION:
        return (invalid_edit_forms if invalid else edit_forms)(profile=profile)  # type: ignore[arg-type]
    return (invalid_variation_forms if invalid else variation_forms)(profile=profile)  # type: ignore[arg-type]


@pytest.mark.parametrize(("profile", "operation"), FORM_CASES)
@given(data=st.data())
def test_drawn_forms_carry_real_images_the_core_accepts(profile: str, operation: str, data: st.DataObject) -> None:
    form = data.draw(strategy_for(profile, operation, invalid=False))
    assert isinstance(form, MultipartForm) and form.files and all(isinstance(v, str) for v in form.fields.values())
    for _, (_, content, media) in form.files:
        with Image.open(io.BytesIO(content)) as image:
            assert media == f"image/{(image.format or '').lower()}"
    assert refusal(profile, form) is None


@pytest.mark.parametrize(("profile", "operation"), FORM_CASES)
@given(data=st.data())
def test_invalid_forms_are_refused_for_the_part_or_field_they_name(profile: str, operation: str,
                                                                  data: st.DataObject) -> None:
    invalid = data.draw(strategy_for(profile, operation, invalid=True))
    assert isinstance(invalid, InvalidForm)
    error = refusal(profile, invalid.form)
    assert error is not None and error.status == 400, invalid.kind
    assert error.param == invalid.field, (invalid.kind, error)
    if invalid.code is not None:
        assert error.code == invalid.code


@pytest.mark.parametrize("kind", list(FORM_REFUSALS))
def test_every_refusal_is_drawn_for_an_edit(kind: str) -> None:
    model = "dall-e-2" if kind == "not_square" else "gpt-image-1"  # only dall-e-2 takes square images only
    # Searched by kind alone: a found example is reported, and a form's prompt and parts are long.
    drawn(invalid_edit_forms(model).map(lambda invalid: invalid.kind), lambda found: found == kind)


def shape(form: MultipartForm) -> tuple[list[str], list[tuple[int, int]], list[str]]:
    """A form's part names, image sizes and colour modes (small enough to report)."""
    images = [Image.open(io.BytesIO(content)) for _, (_, content, _) in form.files]
    return [name for name, _ in form.files], [image.size for image in images], [image.mode for image in images]


def test_several_images_come_as_repeated_image_parts_with_a_mask_of_the_first_ones_size() -> None:
    names, sizes, modes = drawn(edit_forms("gpt-image-1").map(shape),
                                lambda found: len(found[0]) >= 3 and found[0][-1] == "mask")
    assert set(names[:-1]) == {"image[]"} and sizes[0] == sizes[-1] and "A" in modes[-1]


def test_fields_can_be_fixed_and_the_default_model_left_out() -> None:
    fields = drawn(edit_forms("dall-e-2", n=st.just("2")).map(lambda form: form.fields),
                   lambda found: "model" not in found and len(found.get("prompt", "")) < 50)
    assert fields["n"] == "2"


def test_a_profile_without_variations_says_so() -> None:
    with pytest.raises(ValueError, match="no ImageVariationRequest"):
        variation_forms(profile="aimlapi")
    with pytest.raises(ValueError, match="no ImageEditRequest form"):
        edit_forms("dall-e-3")
