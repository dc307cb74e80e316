"""Pure request handling: raw body bytes -> a validated `ImageRequest`, or an `ApiError` naming the field.

The real API's rules come from the contract (`Contract.validate_request`); what the contract forbids but
the real API silently ignores (unknown fields) is returned as violations for the journal, or refused
with `strict=True`. Every field is read through the model's own schema: a field the model does not define is
dropped before anything reads the request, so it never changes the answer, and a field it defines has been
validated against that schema, so what reads it (`dimensions`, `behaviours`, `faults`) sees only vetted values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from aiml_mock.core._unicode import surrogate_path, writable
from aiml_mock.core.contract import Contract, Violation
from aiml_mock.core.dimensions import image_count, image_delivery, image_dimensions, image_format, size_rule_problem
from aiml_mock.core.errors import ApiError, unknown_model_error, validation_error

JSON_TYPES = ("application/json", "application/*+json", "text/json")


class ImageRequest(NamedTuple):
    """A request the real API would accept, with defaults filled in and the image facts worked out.

    `params` holds only the fields the model's schema defines, each valid by that schema (or its default):
    nothing downstream can read a raw field that validation has not vetted.

    A named tuple, not a frozen dataclass: one is made per generation, and a frozen dataclass's `__init__`
    (a guarded `object.__setattr__` per field) cost 2.3 us of a `url` answer's budget, a tuple 0.3 us.
    """

    model: str
    prompt: str
    count: int  # type: ignore[assignment]  # shadows `tuple.count`, which nothing here calls
    width: int
    height: int
    fmt: str
    response_format: str
    params: Mapping[str, Any]
    violations: tuple[Violation, ...] = ()

    def get(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name)
        return default if value is None else value


def check_content_type(content_type: str | None) -> None:
    """Only JSON bodies: a form post or text/plain gets 415 before the body is read."""
    media = (content_type or "").split(";")[0].strip().lower()
    if not media:
        return  # curl -d without -H sends no type at all on some clients; the JSON parse decides
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return
    raise ApiError(
        415,
        f"Unsupported content type {media!r}: send the body as JSON with Content-Type: application/json",
        openai_message=f"Invalid Content-Type header ({media}), expected application/json.",
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a body strictly: empty, malformed, NaN/Infinity and absurdly nested bodies are 400s."""
    if not raw.strip():
        raise ApiError(400, "Body validation error! The request body is empty: send a JSON object",
                       openai_message="We could not parse the JSON body of your request. The body is empty.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as fast_error:
        try:  # orjson refuses lone surrogates (valid JSON escapes, e.g. "\ud800"); the stdlib reads them
            numbers = _Numbers()
            value = json.loads(raw, parse_constant=_reject_constant, parse_float=numbers)
        except (ValueError, RecursionError, UnicodeDecodeError):
            pass
        else:
            return _valid_text(_finite(value, numbers))
        detail = str(fast_error).split(":", 1)[0]
        raise ApiError(
            400,
            f"Body validation error! The request body is not valid JSON ({detail})",
            openai_message=(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON."
            ),
        ) from None


class _Numbers:
    """`json.loads`' `parse_float`: the literal of the first number too large for a float, kept to quote it."""

    __slots__ = ("overflow",)

    def __init__(self) -> None:
        self.overflow: str | None = None

    def __call__(self, text: str) -> float:
        number = float(text)
        if self.overflow is None and math.isinf(number):
            self.overflow = text
        return number


def _finite(value: Any, numbers: _Numbers) -> Any:
    """The stdlib reads `1e309` as infinity, which JSON cannot hold: a 400 quoting the number as sent."""
    if numbers.overflow is None:
        return value
    where = _infinite(value)
    shown = where.removeprefix("$.") if where != "$" else "body"
    literal = numbers.overflow if len(numbers.overflow) <= 40 else numbers.overflow[:37] + "..."
    message = (f"Body validation error! Number out of range at \"{shown}\": received {literal}, beyond what a "
               "64-bit float holds")
    raise ApiError(400, message, param=shown, openai_message=f"Invalid number in '{shown}': {literal} is beyond "
                   "what a 64-bit float holds.", type="invalid_request_error")


def _infinite(value: Any) -> str:
    stack: list[tuple[Any, str]] = [(value, "$")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and math.isinf(item):
            return path
        if isinstance(item, dict):
            stack.extend((member, f"{path}.{key}") for key, member in item.items())
        elif isinstance(item, list):
            stack.extend((member, f"{path}[{index}]") for index, member in enumerate(item))
    return "$"


def _valid_text(value: Any) -> Any:
    """Lone surrogates (JSON escapes such as `"\\ud800"`, not Unicode text) replaced by U+FFFD in every string
    and key, as a lenient API reads text: a field the model defines is then validated as usual (an enum refuses
    it with a 400 naming the field), one it does not define is ignored, and all of it can be written back."""
    return value if surrogate_path(value) is None else writable(value, 0)


def _fill_defaults(body: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Absent fields and `null` take their defaults (the seed page marks size/style/response_format nullable)."""
    if None not in body.values():
        return {**defaults, **body}
    params = dict(defaults)
    params.update({key: value for key, value in body.items() if value is not None or key not in defaults})
    return params


_SHAPES_MAX = 4096


def validate_request(body: Any, contract: Contract, *, strict: bool = False) -> ImageRequest:
    """Check a parsed body against its model's schema and build the request, or raise `ApiError(400)`."""
    if type(body) is dict:
        prompt = body.get("prompt")
        if type(prompt) is str and prompt.isascii():  # non-ASCII prompts take the full check (lone surrogates)
            try:
                shape = contract.request_shapes.get(_shape_key(body))
            except TypeError:  # a list or an object among the values: checked in full
                shape = None
            if shape is not None and shape[0] <= len(prompt) <= shape[1]:
                model, count, width, height, fmt, delivery, params = shape[2]
                return ImageRequest(model, prompt, count, width, height, fmt, delivery, {**params, "prompt": prompt})
    spec = contract.strictly_valid(body)  # most bodies break no rule: one validator call decides
    violations: tuple[Violation, ...] = ()
    if spec is None:
        problems = contract.validate_request(body)
        if problems:
            first = problems[0]
            if first.path == "$.model" and first.rule == "enum":
                raise unknown_model_error(contract.unknown_model_message(str(first.value)), first.value)
            model_id = body.get("model") if isinstance(body, dict) else None
            raise validation_error(problems, model_id if isinstance(model_id, str) else contract.default_model)
        violations = tuple(contract.check_request(body))
        spec = contract.models[str(body.get("model") or contract.default_model)]
        if strict and violations:
            raise validation_error(violations, spec.id)
        if violations:  # fields the model does not define: recorded above, ignored for the answer
            body = defined_fields(body, spec.properties)
    params = _fill_defaults(body, spec.defaults)
    params["model"] = spec.id
    check_size_rule(params, spec.properties)
    width, height = image_dimensions(params, spec.properties)
    delivery = spec.schema.get("x-mock-delivery") or image_delivery(params)  # GPT image models: always b64_json
    request = ImageRequest(spec.id, str(params.get("prompt") or ""), image_count(params), width, height,
                           image_format(params), str(delivery), params, violations)
    if not violations and spec.prompt_lengths is not None and type(body.get("prompt")) is str:
        _remember_shape(body, contract, spec.prompt_lengths, request)
    return request


def check_size_rule(params: Mapping[str, Any], properties: Mapping[str, Any]) -> None:
    """A free-form `size` (gpt-image-2's WxH) against its schema's `x-mock-size-rule`: a 400 `invalid_size`."""
    rule = properties.get("size", {}).get("x-mock-size-rule")
    size = params.get("size")
    if rule is None or not isinstance(size, str):
        return
    problem = size_rule_problem(size, rule)
    if problem is not None:
        raise validation_error([Violation("$.size", "x-mock-size-rule", size, problem, rule)], str(params["model"]))


def defined_fields(body: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """The body's fields that the model's schema defines; the others (unknown to the model) are left out."""
    return {name: value for name, value in body.items() if name in properties}


def _shape_key(body: dict[str, Any]) -> tuple[tuple[str, Any, type], ...]:
    """A body's fields but the prompt, with their types. A loop, not a comprehension: on the hot path, and
    Python 3.11 makes a function object each time a comprehension runs."""
    key = []
    for name, value in body.items():
        if name != "prompt":
            key.append((name, value, type(value)))
    return tuple(key)


def _remember_shape(body: dict[str, Any], contract: Contract, lengths: tuple[int, int], request: ImageRequest
                    ) -> None:
    """Keep a valid body's request as the template for bodies that differ from it only by their prompt.

    Only for models whose schema says nothing of the prompt but its length: such a body is valid exactly when
    its prompt's length is within those bounds, and all else its request says is the same. The key is the
    body's other fields with their types (`1`, `1.0` and `true` are equal in Python, not in JSON Schema).
    """
    key = _shape_key(body)
    try:
        hash(key)
    except TypeError:  # a list or an object among the values
        return
    shapes = contract.request_shapes
    if len(shapes) >= _SHAPES_MAX:  # many distinct bodies (a fuzzer): start over rather than grow
        shapes.clear()
    params = {name: value for name, value in request.params.items() if name != "prompt"}
    facts = (request.model, request.count, request.width, request.height, request.fmt, request.response_format, params)
    shapes[key] = (lengths[0], lengths[1], facts)
