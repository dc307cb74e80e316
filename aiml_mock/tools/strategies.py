"""Hypothesis strategies for request bodies, drawn from the contract's per-model schemas.

`image_requests()` draws bodies the API accepts; `invalid_image_requests()` draws bodies it refuses, each
paired with the field at fault. Both read `Contract.models[...].schema`: a new model or a changed limit in
`contracts/` changes what they draw, with nothing retyped here. Use them to property-test your own code:

    from hypothesis import given
    from aiml_mock.tools.strategies import image_requests

    @given(image_requests("dall-e-3"))
    def test_my_wrapper_sends_any_valid_request(body): ...

Why not a general JSON Schema generator: hypothesis-jsonschema (0.23.1, its newest release) fails on the
Hypothesis this project runs (`'many' object has no attribute 'more'`), and Schemathesis 4 keeps its own
engine private (its public `APIOperation.as_strategy()` draws whole HTTP cases, slowly, and cannot say which
field makes a body invalid). The contract uses a small set of JSON Schema keywords (`VALIDATION_KEYWORDS`);
a schema using any other makes these strategies raise `UnsupportedSchema` when built, rather than draw
bodies the contract refuses. Every drawn body is checked against the contract by `tests/test_strategies.py`.
"""

from __future__ import annotations

import base64
import functools
import math
import string
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import jsonschema_rs

from aiml_mock.core._extras import missing_extra

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as error:  # the core install: Hypothesis comes with the contract extra
    raise missing_extra("aiml_mock.tools.strategies", "contract", error) from error

from aiml_mock.core.contract import Contract, Profile, load_contract

Schema = Mapping[str, Any]

VALIDATION_KEYWORDS = frozenset({
    "type", "enum", "const", "anyOf", "properties", "required", "additionalProperties", "items", "minItems",
    "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "format",
    "pattern",
})
ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "contentEncoding",
    "contentMediaType", "$comment", "discriminator",
})
FORMATS = frozenset({"uri"})
FREE_SIZES = ("auto", "1024x1024", "1536x864", "864x1536", "1280x720", "2560x1440", "3840x2160", "2160x3840",
              "2400x800", "1024x1536")

SHORT_TEXT = 40  # most strings drawn are short; long ones reach the field's maxLength
UNBOUNDED_TEXT = 200  # the longest string drawn for a field without maxLength
EXTRA_ITEMS = 4  # arrays without maxItems get at most minItems + this
_CHARS = st.characters(codec="utf-8")  # any code point JSON can carry over the wire (no lone surrogates)
_URL_TEXT = string.ascii_letters + string.digits + "-._~"
_NOT_URIS = ("not a uri", "example.com/cat.png", "//cdn.example.com/cat.png", "http://exa mple.com/a.png", "",
             "https://example.com/a b.png", "data image/png;base64,AAAA")


class UnsupportedSchema(ValueError):
    """The contract uses a JSON Schema keyword these strategies do not model (they would draw wrong bodies)."""


class InvalidRequest(NamedTuple):
    """A body the API refuses, and the top-level field that makes it so (`image_size` for a bad width)."""

    body: dict[str, Any]
    field: str


def image_requests(model: str | None = None, *, profile: Profile = "aimlapi") -> st.SearchStrategy[dict[str, Any]]:
    """Bodies the API accepts for `model` (any model when None).

    Every enum value (sizes, qualities, styles, formats), `null` where a field is nullable, optional fields
    present or absent, unicode prompts up to the field's limit, nested objects such as
    `image_size: {width, height}`, and `image_urls` as `https:` or `data:` URLs.
    """
    contract = load_contract(profile)
    return st.one_of(*(_valid_body(profile, model_id) for model_id in _model_ids(contract, model)))


def invalid_image_requests(model: str | None = None, *, profile: Profile = "aimlapi"
                           ) -> st.SearchStrategy[InvalidRequest]:
    """Bodies the API refuses with a 400, each as `(body, field)`: one field broken, the rest valid.

    A field is broken by a wrong type, a value outside its enum or bounds, a string or array too long or
    too short, a malformed URL, a bad nested value, or by being absent when required; `model` also by naming
    no known model. Fields the contract does not define break a body only where the profile refuses them.
    """
    ids = _model_ids(load_contract(profile), model)
    return st.sampled_from(ids).flatmap(functools.partial(_invalid_body, profile))


def _model_ids(contract: Contract, model: str | None) -> list[str]:
    if model is None:
        return list(contract.models)
    if model not in contract.models:
        raise ValueError(contract.unknown_model_message(model))
    return [model]


# -- checking the schema -----------------------------------------------------------------------------------


def check_schema(schema: Schema, where: str = "$") -> None:
    """Raise `UnsupportedSchema` if the schema uses anything these strategies do not model."""
    for key in schema:
        if key not in VALIDATION_KEYWORDS and key not in ANNOTATIONS and key != "allOf" and not key.startswith("x-"):
            raise UnsupportedSchema(f"{where}: keyword {key!r} is not modelled by aiml_mock.tools.strategies")
    if "format" in schema and schema["format"] not in FORMATS:
        raise UnsupportedSchema(f"{where}: format {schema['format']!r} is not modelled by aiml_mock.tools.strategies")
    if not isinstance(schema.get("additionalProperties", True), bool):
        raise UnsupportedSchema(f"{where}: additionalProperties must be true or false here")
    missing = set(schema.get("required", ())) - set(schema.get("properties", {}))
    if missing and "properties" in schema:
        raise UnsupportedSchema(f"{where}: required {sorted(missing)} without a schema")
    for name, prop in schema.get("properties", {}).items():
        check_schema(prop, f"{where}.{name}")
    if isinstance(schema.get("items"), Mapping):
        check_schema(schema["items"], f"{where}[]")
    for index, branch in enumerate(schema.get("anyOf", ())):
        check_schema(branch, f"{where}.anyOf[{index}]")
    for index, rule in enumerate(schema.get("allOf", ())):  # cross-field rules: bodies are filtered by them
        if not isinstance(rule, Mapping) or not set(rule) <= _RULE_KEYS:
            raise UnsupportedSchema(
                f"{where}.allOf[{index}]: only if/then rules are modelled by aiml_mock.tools.strategies")
        for inner in rule.get("allOf", ()):
            if not set(inner) <= _RULE_KEYS:
                raise UnsupportedSchema(f"{where}.allOf[{index}]: only if/then rules are modelled")


_RULE_KEYS = frozenset({"if", "then", "description", "title", "allOf"})


# -- valid values ---------------------------------------------------------------------------------------


@functools.cache
def _valid_body(profile: Profile, model_id: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = load_contract(profile).models[model_id].schema
    check_schema(schema, model_id)
    if "allOf" in schema:  # a rule across fields (a transparent background needs png or webp): drawn, then kept
        return _object(schema).filter(_validator(schema).is_valid)
    return _object(schema)


def valid_values(schema: Schema) -> st.SearchStrategy[Any]:
    """Values one (sub)schema of the contract accepts."""
    if "const" in schema:
        return st.just(schema["const"])
    if "x-mock-size-rule" in schema:  # a free WxH (gpt-image-2): sizes its rule allows, corners included
        return st.sampled_from(list(FREE_SIZES))
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    if "anyOf" in schema:
        base = {key: value for key, value in schema.items() if key != "anyOf"}
        return st.one_of(*(valid_values({**base, **branch}) for branch in schema["anyOf"]))
    kinds = _types(schema)
    if not kinds:
        return _any_json()
    return st.one_of(*(_BY_TYPE[kind](schema) for kind in kinds))


def _types(schema: Schema) -> list[str]:
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) else list(kind or ())


def _object(schema: Schema) -> st.SearchStrategy[Any]:
    props: Mapping[str, Any] = schema.get("properties", {})
    if not props:
        if schema.get("additionalProperties") is False:
            return st.just({})
        return st.dictionaries(st.text(max_size=8), _any_json(), max_size=3)
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {name: valid_values(prop) for name, prop in props.items() if name in required},
        optional={name: valid_values(prop) for name, prop in props.items() if name not in required},
    )


def _string(schema: Schema) -> st.SearchStrategy[Any]:
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if "pattern" not in schema and schema.get("format") != "uri":
        return text(low, int(high) if high is not None else None)
    drawn = uris()
    if schema.get("format") != "uri":
        drawn = st.one_of(drawn, st.from_regex(schema["pattern"], fullmatch=True))
    return drawn.filter(_validator({key: schema[key] for key in _STRING_RULES if key in schema}).is_valid)


_STRING_RULES = ("type", "minLength", "maxLength", "pattern", "format")


def _validator(schema: Schema) -> Any:
    """The contract's own validator (formats checked), for the few rules a strategy filters by."""
    return jsonschema_rs.validator_for(dict(schema), validate_formats=True)


def text(min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Unicode text, mostly short, sometimes as long as `max_size` (exactly that long, often)."""
    top = max_size if max_size is not None else max(min_size, UNBOUNDED_TEXT)
    short = st.text(_CHARS, min_size=min_size, max_size=min(top, max(min_size, SHORT_TEXT)))
    if top <= SHORT_TEXT:
        return short
    lengths = st.one_of(st.just(top), st.integers(max(min_size, SHORT_TEXT), top))
    return st.one_of(short, st.builds(_repeat, st.text(_CHARS, min_size=1, max_size=16), lengths))


def _repeat(chunk: str, length: int) -> str:
    return (chunk * (length // len(chunk) + 1))[:length]


def uris() -> st.SearchStrategy[str]:
    """`https://` image URLs and `data:` URLs carrying base64 bytes, as clients send for image inputs."""
    host = st.builds("{}.{}".format, st.from_regex(r"[a-z][a-z0-9-]{0,15}[a-z0-9]", fullmatch=True),
                     st.sampled_from(["com", "org", "net", "io", "test"]))
    path = st.text(_URL_TEXT, max_size=20)
    query = st.one_of(st.just(""), st.builds("?sig={}".format, st.text(_URL_TEXT, min_size=1, max_size=12)))
    https = st.builds("https://{}/{}.png{}".format, host, path, query)
    media = st.sampled_from(["image/png", "image/jpeg", "image/webp"])
    data = st.builds(lambda kind, raw: f"data:{kind};base64,{base64.b64encode(raw).decode()}", media,
                     st.binary(min_size=1, max_size=48))
    return st.one_of(https, data)


def _integer(schema: Schema) -> st.SearchStrategy[Any]:
    low, high = _int_bounds(schema)
    return st.integers(low, high)


def _int_bounds(schema: Schema) -> tuple[int | None, int | None]:
    lows = [math.ceil(schema["minimum"])] if "minimum" in schema else []
    if "exclusiveMinimum" in schema:
        lows.append(math.floor(schema["exclusiveMinimum"]) + 1)
    highs = [math.floor(schema["maximum"])] if "maximum" in schema else []
    if "exclusiveMaximum" in schema:
        highs.append(math.ceil(schema["exclusiveMaximum"]) - 1)
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _number(schema: Schema) -> st.SearchStrategy[Any]:
    low = schema.get("exclusiveMinimum", schema.get("minimum"))
    high = schema.get("exclusiveMaximum", schema.get("maximum"))
    floats = st.floats(low, high, exclude_min="exclusiveMinimum" in schema, exclude_max="exclusiveMaximum" in schema,
                       allow_nan=False, allow_infinity=False)
    int_low, int_high = _int_bounds(schema)
    if int_low is not None and int_high is not None and int_low > int_high:
        return floats
    return st.one_of(st.integers(int_low, int_high), floats)


def _array(schema: Schema) -> st.SearchStrategy[Any]:
    low = int(schema.get("minItems", 0))
    high = min(int(schema.get("maxItems", low + EXTRA_ITEMS)), low + EXTRA_ITEMS)
    items = schema.get("items")
    return st.lists(valid_values(items) if isinstance(items, Mapping) else _any_json(), min_size=low, max_size=high)


_BY_TYPE: Mapping[str, Any] = {
    "object": _object,
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": lambda schema: st.booleans(),
    "null": lambda schema: st.none(),
    "array": _array,
}


def _any_json() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    leaves = scalars | st.text(_CHARS, max_size=12)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(_CHARS, max_size=8), inner, max_size=3), max_leaves=6)


# -- invalid values -------------------------------------------------------------------------------------


_KINDS: Mapping[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "integer": st.integers(-10, 10**6),
    "number": st.floats(-1e6, 1e6, allow_nan=False).filter(lambda value: not value.is_integer()),
    "string": st.text(_CHARS, max_size=12),
    "array": st.lists(st.integers(0, 3), max_size=2),
    "object": st.dictionaries(st.text(string.ascii_lowercase, max_size=5), st.integers(0, 3), max_size=2),
}


@functools.cache
def _invalid_body(profile: Profile, model_id: str) -> st.SearchStrategy[InvalidRequest]:
    """One field broken, which one drawn first: only the mutations drawn get built (81 models, ~15 fields each)."""
    contract = load_contract(profile)
    spec = contract.models[model_id]
    kinds = [("value", name) for name, prop in spec.properties.items() if name == "model" or _constrained(prop)]
    kinds += [("missing", name) for name in spec.required if name != "model" or contract.default_model is None]
    if spec.schema.get("additionalProperties") is False:
        kinds.append(("unknown", ""))
    mutation = functools.partial(_mutation, profile, model_id)
    return st.sampled_from(kinds).flatmap(mutation).filter(functools.partial(_refused_for, contract))


@functools.cache
def _mutation(profile: Profile, model_id: str, kind: tuple[str, str]) -> st.SearchStrategy[InvalidRequest]:
    contract = load_contract(profile)
    spec = contract.models[model_id]
    body = _valid_body(profile, model_id)
    how, name = kind
    if how == "missing":
        return body.map(functools.partial(_without, name=name))
    if how == "unknown":
        unknown = st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True).filter(lambda key: key not in spec.properties)
        return st.builds(_with, body, unknown, _KINDS["string"])
    bad = _unknown_models(contract) if name == "model" else invalid_values(spec.properties[name])
    assert bad is not None
    return st.builds(_with, body, st.just(name), bad)


def _with(body: dict[str, Any], name: str, value: Any) -> InvalidRequest:
    return InvalidRequest({**body, name: value}, name)


def _without(body: dict[str, Any], name: str) -> InvalidRequest:
    return InvalidRequest({key: value for key, value in body.items() if key != name}, name)


def _refused_for(contract: Contract, request: InvalidRequest) -> bool:
    """The body is refused, and only because of the field it is paired with."""
    violations = contract.validate_request(request.body)
    return bool(violations) and all(violation.field == request.field for violation in violations)


def _unknown_models(contract: Contract) -> st.SearchStrategy[Any]:
    near = st.sampled_from(sorted(contract.models)).map(lambda known: known.replace("-", "", 1) + "-x")
    return st.one_of(near, _KINDS["string"], _KINDS["integer"], st.none()).filter(
        lambda value: value not in contract.models
    )


def invalid_values(schema: Schema) -> st.SearchStrategy[Any] | None:
    """Values one (sub)schema refuses, or None when it accepts anything."""
    if not _constrained(schema):
        return None
    kinds = set(_types(schema)) | ({"integer"} if "number" in _types(schema) else set())
    candidates = [strategy for kind, strategy in _KINDS.items() if kind not in kinds] + list(_breaking(schema))
    # sampled, not one_of: only the candidate drawn is built, and the filter is not copied into every branch
    return st.sampled_from(candidates).flatmap(_same).filter(functools.partial(_refused_by, _validator(schema)))


def _constrained(schema: Schema) -> bool:
    return bool(_types(schema)) or any(key in schema for key in ("enum", "const", "anyOf"))


def _same(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy


def _refused_by(validator: Any, value: Any) -> bool:
    return not validator.is_valid(value)


def _breaking(schema: Schema) -> Iterable[st.SearchStrategy[Any]]:
    """Values of the right type that break one of the schema's other rules."""
    if "const" in schema:
        yield st.just(f"{schema['const']}-x")
    if "enum" in schema:
        yield from _off_enum(schema["enum"])
    for branch in schema.get("anyOf", ()):
        yield from _breaking({**{k: v for k, v in schema.items() if k != "anyOf"}, **branch})
    kinds = _types(schema)
    if "string" in kinds:
        yield from _bad_strings(schema)
    if "integer" in kinds or "number" in kinds:
        yield from _out_of_bounds(schema, integer="number" not in kinds)
    if "array" in kinds:
        yield from _bad_arrays(schema)
    if "object" in kinds:
        yield from _bad_objects(schema)


def _off_enum(values: list[Any]) -> Iterable[st.SearchStrategy[Any]]:
    words = [value for value in values if isinstance(value, str)]
    if words:
        yield st.sampled_from(words).flatmap(lambda word: st.sampled_from([word.upper(), f"{word} ", f"{word}x"]))
    numbers = [value for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
    if numbers:
        yield st.sampled_from([max(numbers) + 1, min(numbers) - 1, 0])


def _bad_strings(schema: Schema) -> Iterable[st.SearchStrategy[Any]]:
    if "maxLength" in schema:
        limit = int(schema["maxLength"])
        yield st.builds(_repeat, st.text(_CHARS, min_size=1, max_size=8), st.integers(limit + 1, limit + 64))
    if schema.get("minLength", 0) > 0:
        yield st.text(_CHARS, max_size=int(schema["minLength"]) - 1)
    if schema.get("format") == "uri" or "pattern" in schema:
        yield st.sampled_from(_NOT_URIS)


def _out_of_bounds(schema: Schema, *, integer: bool) -> Iterable[st.SearchStrategy[Any]]:
    for name, below in (("minimum", True), ("exclusiveMinimum", True), ("maximum", False), ("exclusiveMaximum", False)):
        if name not in schema:
            continue
        bound = schema[name]
        if name.startswith("exclusive"):
            yield st.just(bound)
        yield st.integers(max_value=math.floor(bound) - 1) if below else st.integers(min_value=math.ceil(bound) + 1)
    low, high = _int_bounds(schema)
    if integer and (low is None or high is None or high > low):
        inside = st.floats(low if low is not None else -1e6, high if high is not None else 1e6, allow_nan=False)
        yield inside.filter(lambda value: not value.is_integer())


def _bad_arrays(schema: Schema) -> Iterable[st.SearchStrategy[Any]]:
    items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
    good = valid_values(items) if items else _any_json()
    low, high = int(schema.get("minItems", 0)), schema.get("maxItems")
    if high is not None:
        yield st.lists(good, min_size=int(high) + 1, max_size=int(high) + 2)
    if low > 0:
        yield st.lists(good, max_size=low - 1)
    bad_item = invalid_values(items) if items else None
    if bad_item is not None:
        room = max(0, (int(high) if high is not None else low + 1) - 1)
        head = st.lists(good, min_size=max(0, low - 1), max_size=room)
        yield st.builds(_appended, head, bad_item)


def _appended(head: list[Any], item: Any) -> list[Any]:
    return [*head, item]


def _bad_objects(schema: Schema) -> Iterable[st.SearchStrategy[Any]]:
    props: Mapping[str, Any] = schema.get("properties", {})
    good = _object(schema)
    for name, prop in props.items():
        bad = invalid_values(prop)
        if bad is not None:
            yield st.builds(_set_key, good, st.just(name), bad)
    for name in schema.get("required", ()):
        yield good.map(functools.partial(_drop_key, key=name))


def _set_key(obj: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**obj, key: value}


def _drop_key(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in obj.items() if name != key}
