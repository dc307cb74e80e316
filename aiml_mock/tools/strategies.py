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
import io
import json
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


# -- multipart forms: image edits and variations ----------------------------------------------------------------


class MultipartForm(NamedTuple):
    """A `multipart/form-data` request as clients send it: text fields (strings, as forms carry them) and file parts
    `(part name, (file name, bytes, media type))`, in order; pass them as `httpx.post(url, data=form.fields,
    files=form.files)`. `operation` is the contract's (`ImageEditRequest`, `ImageVariationRequest`)."""

    operation: str
    model: str
    fields: dict[str, str]
    files: list[tuple[str, tuple[str, bytes, str]]]

    def encoded(self, boundary: str = "aiml-mock-form-boundary") -> tuple[str, bytes]:
        """The form as a `multipart/form-data` body and its content type, fields first (for clients that send a form
        without files as urlencoded, as httpx and requests do)."""
        out = io.BytesIO()
        for name, value in self.fields.items():
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
            out.write(value.encode() + b"\r\n")
        for name, (filename, content, media) in self.files:
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                      f"Content-Type: {media}\r\n\r\n".encode())
            out.write(bytes(content) + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
        return f"multipart/form-data; boundary={boundary}", out.getvalue()


class InvalidForm(NamedTuple):
    """A form the API refuses with a 400, why (`kind`, one of `FORM_REFUSALS` or `field`), the part or field at fault,
    and the OpenAI `code` the refusal carries (None for a bad field value: its code depends on the rule broken)."""

    form: MultipartForm
    kind: str
    field: str
    code: str | None


# The refusals of an upload and the code each carries (docs/gpt-image.md); which apply to a model is read from its
# form's `x-mock-uploads` / `x-mock-mask` rules.
FORM_REFUSALS: Mapping[str, str] = {
    "not_an_image": "invalid_image_file",
    "wrong_format": "invalid_image_format",
    "oversize": "image_too_large",
    "too_many_images": "too_many_images",
    "mask_without_alpha": "invalid_image_format",
    "mask_other_size": "invalid_image_dimensions",
    "not_square": "invalid_image_dimensions",
}
PILLOW_FORMATS = ("png", "webp", "jpeg", "gif", "bmp", "tiff")  # what a wrong format is drawn from
MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg", "gif": "image/gif", "bmp": "image/bmp",
               "tiff": "image/tiff"}
_MODES = {"png": ("RGB", "RGBA", "L", "LA", "P"), "webp": ("RGB", "RGBA"), "jpeg": ("RGB", "L"), "gif": ("P",),
          "bmp": ("RGB",), "tiff": ("RGB",)}
PICTURE_SIDE = 48  # drawn pictures are at most this many pixels a side: real images, small enough for fast CI
OVERSIZE_MAX = 8 * 1024 * 1024  # an oversize part is drawn only where its limit is at most this (masks, dall-e-2)
EDIT_OPERATION, VARIATION_OPERATION = "ImageEditRequest", "ImageVariationRequest"


def edit_forms(model: str | None = None, *, profile: Profile = "openai",
               **fields: st.SearchStrategy[str]) -> st.SearchStrategy[MultipartForm]:
    """Edit forms the API accepts for `model` (any model that edits when None): one image or several (as `image` or
    repeated `image[]`, up to the model's limit, in the formats it takes, square where it must be), a mask with an
    alpha channel of the first image's size where the model takes one, every field the model's form defines drawn
    from its schema as the string a form carries. `fields` fixes what a field is drawn from (`n=st.just("1")`)."""
    return _forms(EDIT_OPERATION, model, profile, fields)


def variation_forms(model: str | None = None, *, profile: Profile = "openai",
                    **fields: st.SearchStrategy[str]) -> st.SearchStrategy[MultipartForm]:
    """Variation forms the API accepts (dall-e-2 on the openai profile): as `edit_forms`, for variations."""
    return _forms(VARIATION_OPERATION, model, profile, fields)


def invalid_edit_forms(model: str | None = None, *, profile: Profile = "openai",
                       **fields: st.SearchStrategy[str]) -> st.SearchStrategy[InvalidForm]:
    """Edit forms the API refuses with a 400, one thing broken and the rest valid: each upload refusal the model's
    rules allow (`FORM_REFUSALS`: bytes that are no image, a format it does not take, a part over its limit, too many
    images, a mask without alpha or of other dimensions, a non-square image where it must be square), or one field
    with a value its schema refuses, missing when required, or unknown where the form is closed."""
    return _invalid_forms(EDIT_OPERATION, model, profile, fields)


def invalid_variation_forms(model: str | None = None, *, profile: Profile = "openai",
                            **fields: st.SearchStrategy[str]) -> st.SearchStrategy[InvalidForm]:
    """Variation forms the API refuses with a 400: as `invalid_edit_forms`, for variations."""
    return _invalid_forms(VARIATION_OPERATION, model, profile, fields)


def form_models(operation: str, profile: Profile = "openai") -> list[str]:
    """The models that serve an operation (`ImageEditRequest`, `ImageVariationRequest`) in a profile."""
    found = load_contract(profile).document["components"]["schemas"].get(operation)
    return list(found["x-model-schemas"]) if found else []


def _form_rules(operation: str, profile: Profile, model: str) -> Any:
    from aiml_mock.core.edits import form_rules  # Pillow and the form reader: only for form strategies

    rules = form_rules(load_contract(profile), operation, model)
    if rules is None:
        served = ", ".join(form_models(operation, profile)) or "none"
        raise ValueError(f"{model!r} has no {operation} form in the {profile} profile (models: {served})")
    properties = {name: prop for name, prop in rules.properties.items() if isinstance(prop, Mapping)}
    check_schema({**rules.schema, "properties": properties}, f"{operation}/{model}")  # `false`: a field refused
    return rules


def _chosen(operation: str, model: str | None, profile: Profile) -> list[str]:
    models = form_models(operation, profile)
    if not models:
        raise ValueError(f"the {profile} profile serves no {operation}")
    if model is not None:
        _form_rules(operation, profile, model)
        return [model]
    return models


def _forms(operation: str, model: str | None, profile: Profile, fixed: Mapping[str, st.SearchStrategy[str]]
           ) -> st.SearchStrategy[MultipartForm]:
    fixed_items = tuple(sorted(fixed.items(), key=lambda item: item[0]))
    return st.sampled_from(_chosen(operation, model, profile)).flatmap(
        lambda chosen: _valid_form(operation, profile, chosen, fixed_items))


def _invalid_forms(operation: str, model: str | None, profile: Profile, fixed: Mapping[str, st.SearchStrategy[str]]
                   ) -> st.SearchStrategy[InvalidForm]:
    fixed_items = tuple(sorted(fixed.items(), key=lambda item: item[0]))
    return st.sampled_from(_chosen(operation, model, profile)).flatmap(
        lambda chosen: _invalid_form(operation, profile, chosen, fixed_items))


def form_text(value: Any) -> str:
    """A value as a form field carries it: `true`/`false`, numbers as written, other values as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


Fixed = tuple[tuple[str, st.SearchStrategy[str]], ...]


@functools.cache
def _field_texts(operation: str, profile: Profile, model: str, fixed: Fixed) -> st.SearchStrategy[dict[str, str]]:
    """The text fields of a valid form: each one the schema defines, present or absent (required ones present), and
    `model` (absent at times for the operation's default model)."""
    rules = _form_rules(operation, profile, model)
    chosen = dict(fixed)
    required = set(rules.schema.get("required", ()))
    drawn: dict[str, st.SearchStrategy[str]] = {}
    for name, prop in rules.properties.items():
        if name == "model" or not isinstance(prop, Mapping):
            continue
        drawn[name] = chosen.get(name, valid_values(prop).filter(_not_none).map(form_text))
    always = {name: drawn.pop(name) for name in list(drawn) if name in required or name in chosen}
    texts = st.tuples(_model_field(operation, profile, model), st.fixed_dictionaries(always, optional=drawn))
    return texts.map(_with_model).filter(functools.partial(_fields_valid, rules))


def _with_model(item: tuple[str | None, dict[str, str]]) -> dict[str, str]:
    model, values = item
    return values if model is None else {"model": model, **values}


def _not_none(value: Any) -> bool:
    return value is not None


def _fields_valid(rules: Any, fields: Mapping[str, str]) -> bool:
    from aiml_mock.core.edits import typed_fields

    return bool(rules.validator.is_valid(typed_fields(fields, rules.properties)))


def _model_field(operation: str, profile: Profile, model: str) -> st.SearchStrategy[str | None]:
    """The `model` field: the model's id, or absent when the model is the operation's default."""
    schemas = load_contract(profile).document["components"]["schemas"][operation]
    return st.sampled_from([model, None]) if schemas.get("x-default-model") == model else st.just(model)


@st.composite
def pictures(draw: st.DrawFn, fmt: str = "png", size: tuple[int, int] | None = None, *, mode: str | None = None,
             square: bool = False) -> bytes:
    """A real image in `fmt` (png, webp, jpeg, gif, bmp, tiff), small: random sides up to `PICTURE_SIDE` unless
    `size` is given (square when `square`), in any colour mode the format holds, a few coloured blocks drawn on it."""
    from PIL import Image

    if size is None:
        width = draw(st.integers(1, PICTURE_SIDE), label="width")
        size = (width, width) if square else (width, draw(st.integers(1, PICTURE_SIDE), label="height"))
    chosen = mode or draw(st.sampled_from(_MODES[fmt]), label="mode")
    base = "RGBA" if chosen in ("RGBA", "LA") else "RGB"
    colours = st.tuples(*(st.integers(0, 255) for _ in range(len(base))))
    image = Image.new(base, size, draw(colours))
    for _ in range(draw(st.integers(0, 3))):
        x, y = draw(st.integers(0, size[0] - 1)), draw(st.integers(0, size[1] - 1))
        image.paste(draw(colours), (x, y, min(size[0], x + 1 + size[0] // 2), min(size[1], y + 1 + size[1] // 2)))
    image = image.convert(chosen) if chosen != "P" else image.convert("P", palette=Image.Palette.ADAPTIVE)
    return _encoded(image, fmt)


def _encoded(image: Any, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt.upper())
    return out.getvalue()


@st.composite
def masks(draw: st.DrawFn, size: tuple[int, int], *, alpha: bool = True) -> bytes:
    """A PNG mask of `size`: with an alpha channel (RGBA or LA) whose transparent block marks the area to edit, or,
    `alpha=False`, a PNG without one (RGB or L: refused as a mask)."""
    from PIL import Image

    mode = draw(st.sampled_from(["RGBA", "LA"] if alpha else ["RGB", "L"]), label="mask mode")
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    x, y = draw(st.integers(0, size[0] - 1)), draw(st.integers(0, size[1] - 1))
    image.paste((0, 0, 0, 0), (x, y, size[0], size[1]))
    return _encoded(image.convert(mode), "png")


def not_images() -> st.SearchStrategy[bytes]:
    """Bytes no image decoder reads: empty, text, random bytes, an image's first bytes cut short."""
    from PIL import Image

    def unreadable(data: bytes) -> bool:
        try:
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
        except Exception:  # noqa: BLE001 (whatever Pillow raises, it is no image)
            return True
        return False

    cut = st.sampled_from([b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP", b"\xff\xd8\xff\xe0", b"GIF89a"])
    return st.one_of(st.binary(max_size=64), st.text(max_size=40).map(str.encode), cut).filter(unreadable)


@functools.cache
def _valid_form(operation: str, profile: Profile, model: str, fixed: Fixed) -> st.SearchStrategy[MultipartForm]:
    return st.builds(_assembled, st.just(operation), st.just(model), _field_texts(operation, profile, model, fixed),
                     _valid_uploads(operation, profile, model))


@functools.cache
def _valid_uploads(operation: str, profile: Profile, model: str) -> st.SearchStrategy[list[tuple[str, tuple[str, bytes,
                                                                                                                str]]]]:
    return _uploads(_form_rules(operation, profile, model))


def _assembled(operation: str, model: str, fields: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]]
               ) -> MultipartForm:
    return MultipartForm(operation, model, fields, files)


class PartContent(bytes):
    """A file part's bytes, shown by their size and first bytes (a failing example's report stays readable when a
    part is megabytes long)."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes: {self[:8].hex()}...>"


def _part(name: str, fmt: str, content: bytes, index: int = 0) -> tuple[str, tuple[str, bytes, str]]:
    return name, (f"{name.rstrip('[]')}-{index}.{fmt}", PartContent(content),
                  MEDIA_TYPES.get(fmt, "application/octet-stream"))


@st.composite
def _uploads(draw: st.DrawFn, rules: Any, *, images: int | None = None) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Valid file parts: the images (the model's formats, square where it must be) and, maybe, a mask."""
    limits = rules.uploads
    count = images if images is not None else draw(st.integers(1, min(int(limits["max_images"]), 4)), label="images")
    name = "image[]" if count > 1 else draw(st.sampled_from(["image", "image[]"]), label="part name")
    parts = []
    first_size: tuple[int, int] | None = None
    for index in range(count):
        fmt = draw(st.sampled_from(list(limits["formats"])), label="format")
        content = draw(pictures(fmt, square=bool(limits.get("square"))))
        if first_size is None:
            first_size = _size_of(content)
        parts.append(_part(name, fmt, content, index))
    if rules.mask is not None and first_size is not None and draw(st.booleans(), label="with mask"):
        parts.append(_part("mask", "png", draw(masks(first_size))))
    return parts


def _size_of(content: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(content)) as opened:
        return opened.size


def _upload_kinds(rules: Any) -> list[str]:
    """The upload refusals this model's rules allow."""
    limits, mask = rules.uploads, rules.mask
    kinds = ["not_an_image", "too_many_images"]
    if set(PILLOW_FORMATS) - set(limits["formats"]) or (mask and set(PILLOW_FORMATS) - set(mask["formats"])):
        kinds.append("wrong_format")
    if min(int(limits["max_bytes"]), int(mask["max_bytes"]) if mask else OVERSIZE_MAX + 1) <= OVERSIZE_MAX:
        kinds.append("oversize")
    if limits.get("square"):
        kinds.append("not_square")
    if mask and mask.get("alpha"):
        kinds.append("mask_without_alpha")
    if mask and mask.get("same_size"):
        kinds.append("mask_other_size")
    return kinds


@functools.cache
def _invalid_form(operation: str, profile: Profile, model: str, fixed: Fixed) -> st.SearchStrategy[InvalidForm]:
    rules = _form_rules(operation, profile, model)
    kinds: list[tuple[str, str]] = [("upload", kind) for kind in _upload_kinds(rules)]
    kinds += [("field", name) for name in _breakable(rules)]
    kinds += [("missing", name) for name in rules.schema.get("required", ())]
    kinds.append(("missing", "image"))
    if rules.schema.get("additionalProperties") is False:
        kinds.append(("unknown", ""))
    return st.sampled_from(kinds).flatmap(functools.partial(_broken, operation, profile, model, fixed))


def _breakable(rules: Any) -> list[str]:
    """Fields a form string can break: typed, enumerated or bounded ones (a free string is never refused)."""
    names = []
    for name, prop in rules.properties.items():
        if prop is False:  # a field this model refuses (gpt-image-1-mini's input_fidelity)
            names.append(name)
        if name == "model" or not isinstance(prop, Mapping):
            continue
        kinds = set(_types(prop))
        if kinds - {"string", "null"} or any(key in prop for key in ("enum", "const", "maxLength", "minLength",
                                                                        "pattern", "x-mock-size-rule")):
            names.append(name)
    return names


@functools.cache
def _broken(operation: str, profile: Profile, model: str, fixed: Fixed, kind: tuple[str, str]
            ) -> st.SearchStrategy[InvalidForm]:
    """Forms broken in one way (`kind`: how, and the upload refusal or field): built once per kind, drawn often."""
    rules = _form_rules(operation, profile, model)
    fields = _field_texts(operation, profile, model, fixed)
    how, name = kind
    if how == "upload":
        return st.builds(_refused_upload, st.just(operation), st.just(model), fields, st.just(name),
                         _bad_uploads(rules, name))
    if how == "missing" and name == "image":
        files = _valid_uploads(operation, profile, model).map(lambda parts: [p for p in parts if p[0] == "mask"])
        return st.builds(lambda values, parts: InvalidForm(MultipartForm(operation, model, values, parts), "field",
                                                           "image", "missing_required_parameter"), fields, files)
    if how == "missing":
        broken = fields.map(lambda values: ({k: v for k, v in values.items() if k != name}, name))
    elif how == "unknown":
        extra = st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True).filter(
            lambda key: key not in rules.properties and key not in ("image", "image[]", "mask"))
        broken = st.tuples(fields, extra, st.text(_CHARS, max_size=12)).map(
            lambda item: ({**item[0], item[1]: item[2]}, item[1]))
    else:
        prop = rules.properties[name]
        typed = invalid_values(prop) if prop is not False else None
        bad = st.text(_CHARS, max_size=12) if prop is False else _bad_texts(prop)
        if typed is not None:
            bad = st.one_of(bad, typed.map(form_text))
        broken = st.tuples(fields, bad).map(lambda item: ({**item[0], name: item[1]}, name))
    return st.builds(_refused_field, st.just(operation), st.just(model), broken,
                     _valid_uploads(operation, profile, model)).filter(
        functools.partial(_refused_only_for, rules))


def _bad_texts(prop: Mapping[str, Any]) -> st.SearchStrategy[str]:
    """Form strings that break a field's type or enum: words for numbers and booleans, numbers in other spellings."""
    return st.sampled_from(["", "abc", "1.5", "1e3", "yes", "TRUE", "null", "[]", "{}", " 1", "0x1", "∞"])


def _refused_field(operation: str, model: str, broken: tuple[dict[str, str], str],
                   files: list[tuple[str, tuple[str, bytes, str]]]) -> InvalidForm:
    values, name = broken
    return InvalidForm(MultipartForm(operation, model, values, files), "field", name, None)


def _refused_only_for(rules: Any, invalid: InvalidForm) -> bool:
    """The fields are refused, and only because of the field named (the size rule, which no JSON Schema says, too)."""
    from aiml_mock.core.edits import typed_fields

    body = typed_fields(invalid.form.fields, rules.properties)
    if invalid.field in ("image", "prompt") and invalid.field not in invalid.form.fields:
        return True
    rule = rules.properties.get(invalid.field, {}).get("x-mock-size-rule") if invalid.field == "size" else None
    if rule is not None and rules.validator.is_valid(body):
        from aiml_mock.core.dimensions import size_rule_problem

        return size_rule_problem(str(body.get("size")), rule) is not None
    fields = {_field_name(error.instance_path, error) for error in rules.validator.iter_errors(body)}
    return fields == {invalid.field}


def _field_name(path: Any, error: Any) -> str:
    """The top-level field a validation error is about (for a closed form's unknown field: that field)."""
    if path:
        return str(path[0])
    kind = getattr(error, "kind", None)
    unexpected = getattr(kind, "unexpected", None)
    if unexpected:
        return str(list(unexpected)[0])
    return ""


def _refused_upload(operation: str, model: str, fields: dict[str, str], kind: str,
                    broken: tuple[str, list[tuple[str, tuple[str, bytes, str]]]]) -> InvalidForm:
    part, files = broken
    return InvalidForm(MultipartForm(operation, model, fields, files), kind, part, FORM_REFUSALS[kind])


def _bad_uploads(rules: Any, kind: str) -> st.SearchStrategy[tuple[str, list[tuple[str, tuple[str, bytes, str]]]]]:
    """File parts broken in one way (`kind`), and the part at fault (`image` or `mask`)."""
    limits, mask = rules.uploads, rules.mask
    square = bool(limits.get("square"))
    good_format = st.sampled_from(list(limits["formats"]))
    if kind == "too_many_images":
        many = int(limits["max_images"]) + 1
        return st.builds(lambda parts: ("image", parts), _uploads(rules, images=many).map(_no_mask))
    if kind == "not_square":
        size = st.tuples(st.integers(1, PICTURE_SIDE), st.integers(1, PICTURE_SIDE)).filter(lambda wh: wh[0] != wh[1])
        return st.tuples(good_format, size).flatmap(
            lambda item: pictures(item[0], item[1]).map(lambda content: ("image", [_part("image", item[0], content)])))
    on_mask = ("mask_without_alpha", "mask_other_size")
    targets = ["mask"] if kind in on_mask else ["image"] + (["mask"] if mask else [])
    rules_of = {"image": limits, "mask": mask}
    if kind == "oversize":
        targets = [name for name in targets if int(rules_of[name]["max_bytes"]) <= OVERSIZE_MAX]
    if kind == "wrong_format":
        targets = [name for name in targets if set(PILLOW_FORMATS) - set(rules_of[name]["formats"])]
    return st.sampled_from(targets).flatmap(lambda target: _one_bad_part(rules, kind, target, square))


def _no_mask(parts: list[tuple[str, tuple[str, bytes, str]]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [part for part in parts if part[0] != "mask"]


@st.composite
def _one_bad_part(draw: st.DrawFn, rules: Any, kind: str, target: str, square: bool
                  ) -> tuple[str, list[tuple[str, tuple[str, bytes, str]]]]:
    """A valid image (and a mask where the target is the mask) with the target part broken by `kind`."""
    limits, mask = rules.uploads, rules.mask
    fmt = draw(st.sampled_from(list(limits["formats"])), label="format")
    width = draw(st.integers(1, PICTURE_SIDE))
    size = (width, width) if square else (width, draw(st.integers(1, PICTURE_SIDE)))
    image: tuple[str, bytes] = (fmt, draw(pictures(fmt, size)))
    mask_part: tuple[str, bytes] | None = ("png", draw(masks(size))) if target == "mask" else None
    allowed = list((mask if target == "mask" else limits)["formats"])
    if kind == "not_an_image":
        broken: tuple[str, bytes] = (draw(st.sampled_from(allowed)), draw(not_images()))
    elif kind == "wrong_format":
        other = draw(st.sampled_from([name for name in PILLOW_FORMATS if name not in allowed]), label="wrong format")
        mode = "RGBA" if target == "mask" and other in ("png", "webp", "tiff") else None
        broken = (other, draw(pictures(other, size, mode=mode)))
    elif kind == "oversize":
        limit = int((mask if target == "mask" else limits)["max_bytes"])
        head = mask_part[1] if mask_part else image[1]
        broken = (mask_part[0] if mask_part else image[0],
                  head + b"\0" * (limit + draw(st.integers(1, 4096)) - len(head)))
    elif kind == "mask_without_alpha":
        broken = ("png", draw(masks(size, alpha=False)))
    else:  # mask_other_size
        other_size = st.tuples(st.integers(1, PICTURE_SIDE), st.integers(1, PICTURE_SIDE)).filter(lambda wh: wh != size)
        broken = ("png", draw(masks(draw(other_size))))
    if target == "mask":
        mask_part = broken
    else:
        image = broken
    name = draw(st.sampled_from(["image", "image[]"]), label="part name")
    parts = [_part(name, image[0], image[1])]
    if mask_part is not None:
        parts.append(_part("mask", mask_part[0], mask_part[1]))
    return target, parts
