"""The contract: the OpenAPI files in `contracts/`, loaded once, turned into typed facts and validators.

Everything the mock knows about models (ids, fields, limits, defaults, success statuses) comes from here,
read from the file; nothing is retyped in Python. `load_contract(profile)` bundles a profile's document
(resolving references into the shared `aimlapi.yaml`), `Contract.validate_request` checks a body the way
the real API does, `Contract.check_request` the way a careful client author would (unknown fields too),
and `Contract.validate_response` checks what a server answered.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import orjson
import yaml

Profile = Literal["aimlapi", "openai"]
ErrorStyle = Literal["aimlapi", "openai"]
PROFILES: tuple[Profile, ...] = ("aimlapi", "openai")
ERROR_SCHEMAS: Mapping[ErrorStyle, str] = {"aimlapi": "AimlError", "openai": "OpenAIError"}
IMAGE_PATH = "/v1/images/generations"

_yaml_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def contracts_dir() -> Path:
    """The folder holding the contract files: inside the wheel, or the source tree's `contracts/`."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "contracts", package.parent / "contracts"):
        if (candidate / "aimlapi.yaml").is_file():
            return candidate
    raise FileNotFoundError("aiml-mock's contract files are missing: reinstall the package")


def contract_path(profile: Profile) -> Path:
    return contracts_dir() / ("aimlapi.yaml" if profile == "aimlapi" else "openai.yaml")


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: where (a JSON path such as `$.size`), which rule, the value found, and a sentence."""

    path: str
    rule: str
    value: Any
    message: str
    expected: Any = None

    @property
    def field(self) -> str:
        """The top-level field at fault (`size` for `$.size`, `image_size` for `$.image_size.width`)."""
        parts = self.path.removeprefix("$").lstrip(".").replace("[", ".").split(".")
        return parts[0] if parts and parts[0] else ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rule": self.rule, "value": self.value, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.rule}]"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What the contract says about one model: its request schema and the facts read from it."""

    id: str
    schema: Mapping[str, Any]
    success_status: int
    properties: Mapping[str, Any]
    required: tuple[str, ...]
    defaults: Mapping[str, Any]
    prompt_lengths: tuple[int, int] | None = None  # see `_prompt_lengths`
    _compiled: dict[bool, Any] = field(default_factory=dict, repr=False, compare=False)

    def validator(self, strict: bool) -> Any:
        """The request validator (`strict`: unknown fields refused too), compiled on first use: compiling all
        162 at start-up was a tenth of `aiml-mock serve`'s start, for models a run mostly never sees."""
        found = self._compiled.get(strict)
        if found is None:
            schema = {**self.schema, "additionalProperties": False} if strict else self.schema
            found = self._compiled[strict] = _validator(schema)
        return found

    def enum(self, name: str) -> tuple[Any, ...]:
        """The allowed values of a field (without `null`), or () when the field is not an enum."""
        values = self.properties.get(name, {}).get("enum", ())
        return tuple(value for value in values if value is not None)

    def maximum(self, name: str) -> Any:
        return self.properties.get(name, {}).get("maximum")


def _pointer(doc: Any, pointer: str) -> Any:
    node = doc
    for raw in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


@functools.lru_cache(maxsize=8)
def _read(path: Path) -> Any:
    """A contract file, parsed. Parsing aimlapi.yaml takes ~90 ms, a sixth of `aiml-mock serve`'s start, so the
    result is also kept as JSON (~2 ms to read) in the user's cache, named by the file's digest: an edited file
    is parsed afresh. An unwritable cache, or a document JSON cannot hold exactly, just means no cache."""
    raw = path.read_bytes()
    cached = _cache_path(path, raw)
    if cached is not None:
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            return orjson.loads(cached.read_bytes())
    document = yaml.load(raw.decode("utf-8"), Loader=_yaml_loader)  # noqa: S506 (safe loader)
    if cached is not None:
        _store(cached, document)
    return document


def _cache_path(path: Path, raw: bytes) -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    return Path(base) / "aiml-mock" / f"{path.stem}-{hashlib.sha256(raw).hexdigest()[:32]}.json"


def _store(cached: Path, document: Any) -> None:
    try:
        encoded = orjson.dumps(document)
        if orjson.loads(encoded) != document:  # e.g. a YAML date, or an integer key: not the same in JSON
            return
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(encoded)
        os.replace(partial, cached)  # readers see the whole file or none
    except (OSError, TypeError):
        pass


class _Bundler:
    """Pull references into other files into one self-contained document.

    A component that the other file refers to internally (`#/components/schemas/ErrorBody`) is taken from
    the root document when the root defines it, so a profile overrides shared parts by naming them.
    """

    def __init__(self, root_path: Path) -> None:
        self.root_path = root_path
        self.root: dict[str, Any] = copy.deepcopy(_read(root_path))

    def bundle(self) -> dict[str, Any]:
        components = self.root.setdefault("components", {})
        own = [(kind, name) for kind, named in components.items() for name in list(named)]
        for key in [key for key in self.root if key != "components"]:
            self.root[key] = self._walk(self.root[key], self.root_path)
        for kind, name in own:
            components[kind][name] = self._walk(*self._own(components[kind][name], kind, name))
        return self.root

    def _own(self, node: Any, kind: str, name: str) -> tuple[Any, Path]:
        """A component that only aliases the shared file's component of the same name, inlined.

        Kept as a reference, `bearerAuth: {$ref: 'aimlapi.yaml#/components/securitySchemes/bearerAuth'}` would
        bundle into a reference to itself, which tools (Schemathesis) cannot read.
        """
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or ref.startswith("#") or ref.partition("#")[2] != f"/components/{kind}/{name}":
            return node, self.root_path
        target = (self.root_path.parent / ref.partition("#")[0]).resolve()
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return {**copy.deepcopy(_pointer(_read(target), ref.partition("#")[2])), **siblings}, target

    def _walk(self, node: Any, base: Path) -> Any:
        if isinstance(node, list):
            return [self._walk(item, base) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and (not ref.startswith("#") or base != self.root_path):
            return self._resolve(ref, base, {k: v for k, v in node.items() if k != "$ref"})
        return {key: self._walk(value, base) for key, value in node.items()}

    def _resolve(self, ref: str, base: Path, siblings: dict[str, Any]) -> Any:
        file_part, _, pointer = ref.partition("#")
        target_file = (base.parent / file_part).resolve() if file_part else base
        parts = pointer.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "components" and target_file != self.root_path:
            kind, name = parts[1], parts[2].replace("~1", "/")
            components = self.root.setdefault("components", {}).setdefault(kind, {})
            if name not in components:
                components[name] = {}  # placeholder first: a cycle then ends at a reference
                components[name] = self._walk(_pointer(_read(target_file), pointer), target_file)
            return {"$ref": f"#/components/{kind}/{parts[2]}", **siblings}
        resolved = self._walk(copy.deepcopy(_pointer(_read(target_file), pointer)), target_file)
        if isinstance(resolved, dict):
            return {**resolved, **self._walk(siblings, base)}
        return resolved


def _deref(node: Any, doc: Mapping[str, Any], depth: int = 0) -> Any:
    """Inline every internal reference (our schemas have no recursion) so a validator needs no registry."""
    if depth > 64:
        raise ValueError("reference nesting too deep in the contract")
    if isinstance(node, list):
        return [_deref(item, doc, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _deref(_pointer(doc, node["$ref"].lstrip("#")), doc, depth + 1)
        rest = {key: _deref(value, doc, depth) for key, value in node.items() if key != "$ref"}
        return {**target, **rest} if isinstance(target, dict) else target
    return {key: _deref(value, doc, depth) for key, value in node.items()}


def _validator(schema: Mapping[str, Any]) -> Any:
    return jsonschema_rs.validator_for(dict(schema), validate_formats=True)


def _json_path(parts: Iterable[str | int]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _to_violations(error: Any, schema: Mapping[str, Any]) -> list[Violation]:
    """One validator error as violations that name a field: unknown keys one by one, `anyOf` by its branch."""
    schema_path = [str(part) for part in error.schema_path]
    rule = schema_path[-1] if schema_path else "schema"
    try:
        expected = _pointer(schema, "/".join(schema_path))
    except (KeyError, IndexError, TypeError, ValueError):
        expected = None
    instance_path = list(error.instance_path)
    value = error.instance
    if rule == "additionalProperties" and isinstance(value, dict):
        known = _pointer(schema, "/".join(schema_path[:-1])).get("properties", {})
        extra = [key for key in value if key not in known]
        message = "unknown field (the real API ignores it; the contract does not define it)"
        return [Violation(_json_path([*instance_path, key]), rule, value[key], message, sorted(known)) for key in extra]
    if rule == "pattern" and isinstance(parent := _parent(schema, schema_path), dict):
        hint = parent.get("x-mock-pattern-message")  # the regex itself is no help to a reader
        if isinstance(hint, str):
            return [Violation(_json_path(instance_path), rule, value, hint, expected)]
    if rule == "required" and isinstance(value, dict):
        missing = [name for name in expected or () if name not in value]
        name = _quoted(error.message) or (missing[0] if missing else "")
        return [Violation(_json_path([*instance_path, name]), rule, None, "required field missing", name)]
    if rule in ("anyOf", "oneOf") and isinstance(expected, list):
        branch = _branch_for(value, expected)
        if branch is not None:
            found = [
                violation
                for sub in _validator(branch).iter_errors(value)
                for violation in _to_violations(sub, branch)
            ]
            if found:
                return [_prefixed(violation, instance_path) for violation in found]
    return [Violation(_json_path(instance_path), rule, value, error.message, expected)]


def _unprefixed(model_id: str) -> str:
    """`openai/gpt-image-1` -> `gpt-image-1`: the id without its provider prefix (unchanged without one)."""
    return model_id.partition("/")[2] or model_id


def _parent(schema: Mapping[str, Any], schema_path: list[str]) -> Any:
    try:
        return _pointer(schema, "/".join(schema_path[:-1]))
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _quoted(message: str) -> str | None:
    """The property name in jsonschema_rs's '"prompt" is a required property'."""
    head = message.partition(" is a required property")[0]
    try:
        name = json.loads(head)
    except ValueError:
        return None
    return name if isinstance(name, str) else None


def _branch_for(value: Any, branches: list[Any]) -> Any:
    """The `anyOf` branch whose type matches the value, so its error is the one worth reporting."""
    kind = {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")
    for branch in branches:
        types = branch.get("type") if isinstance(branch, dict) else None
        types = [types] if isinstance(types, str) else types or []
        if kind in types or (kind == "number" and "integer" in types):
            return branch
    return None


def _prefixed(violation: Violation, prefix: list[Any]) -> Violation:
    path = _json_path(prefix) + violation.path.removeprefix("$")
    return Violation(path, violation.rule, violation.value, violation.message, violation.expected)


def _sort_key(violation: Violation) -> tuple[int, str]:
    return (0 if violation.rule == "required" else 1, violation.path)


def _collect(validator: Any, schema: Mapping[str, Any], instance: Any, scrubbed: bool = False) -> list[Violation]:
    try:
        found = [violation for error in validator.iter_errors(instance) for violation in _to_violations(error, schema)]
    except UnicodeEncodeError:  # see `_is_valid`; the violations then carry text an error body can encode
        if scrubbed:
            raise
        return _collect(validator, schema, _without_surrogates(instance), scrubbed=True)
    return sorted(found, key=_sort_key)


def _is_valid(validator: Any, instance: Any) -> bool:
    """`validator.is_valid`, for bodies with lone surrogates too.

    `"\ud800"` is valid JSON and `parse_json` keeps it, but jsonschema_rs cannot turn it into a Rust string
    (UnicodeEncodeError, where an enum, a pattern or a key is compared). The same rules hold for U+FFFD in its
    place: one character, in no enum, in no valid URL.
    """
    try:
        return bool(validator.is_valid(instance))
    except UnicodeEncodeError:
        return bool(validator.is_valid(_without_surrogates(instance)))


_SURROGATES = re.compile("[\ud800-\udfff]")


def well_formed(text: str) -> str:
    """The text with every lone surrogate (valid in JSON, not in UTF-8) replaced by U+FFFD, so it can be encoded."""
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def _without_surrogates(value: Any) -> Any:
    """The value with every lone surrogate in its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    return value


_LENGTH_ONLY = frozenset({"type", "minLength", "maxLength", "title", "description", "examples"})


def _prompt_lengths(schema: Mapping[str, Any]) -> tuple[int, int] | None:
    """(min, max) characters when a model's only rules about `prompt` are that it is a string of that length,
    so whether a body is valid does not depend on its prompt beyond those bounds; else None."""
    prompt = schema.get("properties", {}).get("prompt")
    if not isinstance(prompt, dict) or prompt.get("type") != "string" or not _LENGTH_ONLY.issuperset(prompt):
        return None
    rest = {**schema, "properties": {name: value for name, value in schema["properties"].items() if name != "prompt"},
            "required": ()}
    if '"prompt"' in json.dumps(rest):  # another rule (a condition, a dependency) mentions the prompt
        return None
    return int(prompt.get("minLength", 0)), int(prompt.get("maxLength", 1 << 62))


class Contract:
    """A loaded profile of the contract: its document, its models, and validators built from them."""

    def __init__(self, document: dict[str, Any], profile: Profile, error_style: ErrorStyle) -> None:
        self.document = document
        self.profile = profile
        self.error_style = error_style
        self.models: dict[str, ModelSpec] = {spec.id: spec for spec in self._read_models()}
        self.default_model: str | None = self._default_model()
        self._responses: dict[tuple[str, str, int], Any] = {}
        self.request_shapes: dict[Any, Any] = {}  # `validation`'s cache of valid bodies but for their prompt
        self.response_plans: dict[str, Any] = {}  # `generation`'s cache of how each model's body is filled
        self._model_responses: dict[str, Any] = {}
        self._resolved: dict[int, Any] = {}  # `validate_response`'s documented responses, by the raw one's id

    # -- models ---------------------------------------------------------------------------------

    def _read_models(self) -> Iterable[ModelSpec]:
        schemas = self.document["components"]["schemas"]
        for branch in schemas["ImageRequest"]["oneOf"]:
            schema = _deref(branch, self.document)
            props = schema.get("properties", {})
            yield ModelSpec(
                id=schema["x-model-id"],
                schema=schema,
                success_status=int(schema["x-success-status"]),
                properties=props,
                required=tuple(schema.get("required", ())),
                defaults={name: prop["default"] for name, prop in props.items() if "default" in prop},
                prompt_lengths=_prompt_lengths(schema),
            )

    def _default_model(self) -> str | None:
        for spec in self.models.values():
            if "model" not in spec.required:
                return spec.id
        return None

    def model(self, model_id: str) -> ModelSpec | None:
        return self.models.get(model_id)

    def nearest_models(self, name: str, limit: int = 3) -> list[str]:
        """Model ids close to a mistyped one, best first.

        Case and a provider prefix too many or too few come first (`DALL-E-3`, `openai/dall-e-3` and
        `gpt-image-1` find `dall-e-3` and `openai/gpt-image-1`), then spelling (`dalle-3`), then substrings.
        """
        wanted = name.strip().lower()
        if not wanted or len(wanted) > self._longest_id * 2 + 16:  # no plausible typo: difflib's cost is quadratic
            return []
        cached = self._near.get((wanted, limit))
        if cached is not None:
            return list(cached)
        found = self._nearest(wanted, limit)
        if len(self._near) >= 1024:  # many distinct names (a fuzzer): start over rather than grow
            self._near.clear()
        self._near[(wanted, limit)] = tuple(found)
        return found

    @functools.cached_property
    def _longest_id(self) -> int:
        return max((len(model_id) for model_id in self.models), default=0)

    @functools.cached_property
    def _near(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """`nearest_models`' answers by (name, limit): a client retrying the same typo costs one lookup."""
        return {}

    def _nearest(self, wanted: str, limit: int) -> list[str]:
        by_lower = {model_id.lower(): model_id for model_id in self.models}
        exact = [by_lower[key] for key in (wanted, _unprefixed(wanted)) if key in by_lower]
        exact += [model_id for key, model_id in by_lower.items() if _unprefixed(key) in (wanted, _unprefixed(wanted))]
        close = [by_lower[key] for key in difflib.get_close_matches(wanted, list(by_lower), n=limit, cutoff=0.6)]
        contained = [model_id for key, model_id in by_lower.items() if wanted in key]
        return list(dict.fromkeys([*exact, *close, *contained]))[:limit]

    # -- requests -------------------------------------------------------------------------------

    def validate_request(self, body: Any) -> list[Violation]:
        """The rules the real API enforces: [] when it would accept the body."""
        spec, problem = self._dispatch(body)
        if problem:
            return [problem]
        assert spec is not None
        validator = spec.validator(strict=False)
        if _is_valid(validator, body):
            return []
        return _collect(validator, spec.schema, body)

    def strictly_valid(self, body: Any) -> ModelSpec | None:
        """The body's model when the body breaks no rule of the contract at all (the common case, answered with
        one validator call), else None: then `validate_request` and `check_request` say what it breaks."""
        if not isinstance(body, dict):
            return None
        model_id = body.get("model", self.default_model)
        spec = self.models.get(model_id) if isinstance(model_id, str) else None
        return spec if spec is not None and _is_valid(spec.validator(strict=True), body) else None

    def check_request(self, body: Any) -> list[Violation]:
        """Everything the contract forbids, including fields the real API silently ignores."""
        spec, problem = self._dispatch(body)
        if problem:
            return [problem]
        assert spec is not None
        validator = spec.validator(strict=True)
        if _is_valid(validator, body):
            return []
        return _collect(validator, {**spec.schema, "additionalProperties": False}, body)

    def _dispatch(self, body: Any) -> tuple[ModelSpec | None, Violation | None]:
        if not isinstance(body, dict):
            kind = type(body).__name__ if body is not None else "null"
            return None, Violation("$", "type", body, f"the body must be a JSON object, not {kind}", "object")
        model_id = body.get("model", self.default_model)
        if model_id is None:
            return None, Violation("$.model", "required", None, '"model" is a required property', "model")
        if not isinstance(model_id, str):
            return None, Violation("$.model", "type", model_id, "model must be a string", "string")
        spec = self.models.get(model_id)
        if spec is None:
            return None, Violation("$.model", "enum", model_id, self.unknown_model_message(model_id), list(self.models))
        return spec, None

    def unknown_model_message(self, model_id: str) -> str:
        near = self.nearest_models(model_id)
        hint = f" Did you mean {' or '.join(map(repr, near))}?" if near else ""
        shown = repr(model_id if len(model_id) <= 120 else model_id[:117] + "...")  # no echo of a huge body
        return f"Unknown model {shown}.{hint} See GET /v1/models for the {len(self.models)} models served."

    # -- responses ------------------------------------------------------------------------------

    def success_status(self, model_id: str) -> int:
        return self.models[model_id].success_status

    def response_schema(self, model_id: str) -> Mapping[str, Any]:
        """The model's own success body schema (`ImagesResponse`'s `x-model-responses`), dereferenced."""
        schemas = self.document["components"]["schemas"]
        ref = schemas["ImagesResponse"].get("x-model-responses", {}).get(model_id)
        if ref is None:
            raise KeyError(f"the contract gives {model_id!r} no response schema")
        found: Mapping[str, Any] = _deref({"$ref": ref}, self.document)
        return found

    def _model_response_violations(self, model_id: str, body: Any) -> list[Violation]:
        validator = self._model_responses.get(model_id)
        if validator is None:
            validator = self._model_responses[model_id] = _validator(self.response_schema(model_id))
        if validator.is_valid(body):
            return []
        found = _collect(validator, self.response_schema(model_id), body)
        return [Violation(v.path, v.rule, v.value, f"{v.message} ({model_id}'s response schema)", v.expected)
                for v in found]

    def validate_response(
        self, method: str, path: str, status: int, headers: Mapping[str, str], body: Any, model_id: str | None = None
    ) -> list[Violation]:
        """Check a response against the operation's documented responses (status, headers, JSON body)."""
        operation = self._operation(method, path)
        if operation is None:
            if status >= 400:  # unknown routes and methods still answer in the error dialect
                return self._error_violations(headers, body)
            return [Violation("$", "path", f"{method} {path}", f"{method} {path} is not in the contract")]
        found: list[Violation] = []
        if status // 100 == 2 and model_id in self.models and path == IMAGE_PATH:
            expected = self.models[model_id].success_status
            if status != expected:
                message = f"{model_id} answers {expected} (x-success-status), got {status}"
                found.append(Violation("status", "x-success-status", status, message, expected))
        response = operation["responses"].get(str(status))
        if response is None:
            documented = ", ".join(sorted(operation["responses"]))
            message = f"status {status} is not documented ({documented})"
            return [*found, Violation("status", "responses", status, message)]
        resolved = self._resolved.get(id(response))  # dereferenced once: ~0.8 ms a call otherwise (the proxy's)
        if resolved is None:
            resolved = self._resolved[id(response)] = _deref(response, self.document)
        response = resolved
        lowered = {key.lower(): value for key, value in headers.items()}
        for name, header in response.get("headers", {}).items():
            if header.get("required") and name.lower() not in lowered:
                found.append(Violation(f"headers.{name}", "required", None, f"header {name} is missing"))
        content = response.get("content", {})
        media = lowered.get("content-type", "").split(";")[0].strip()
        if content and media not in content:
            found.append(Violation("headers.content-type", "content", media, f"content type {media!r} not documented"))
        elif media == "application/json" and status // 100 == 2 and path == IMAGE_PATH and model_id in self.models:
            found.extend(self._model_response_violations(model_id, body))  # each model answers its own shape
        elif media == "application/json":
            found.extend(self._body_violations(method, path, status, content[media]["schema"], body))
        return found

    def _error_violations(self, headers: Mapping[str, str], body: Any) -> list[Violation]:
        found = []
        if not any(name.lower() == "x-request-id" for name in headers):
            found.append(Violation("headers.x-request-id", "required", None, "header x-request-id is missing"))
        schema = self.document["components"]["schemas"]["ErrorBody"]
        return found + self._body_violations("*", "*", 0, schema, body)

    def _body_violations(self, method: str, path: str, status: int, schema: Any, body: Any) -> list[Violation]:
        key = (method, path, status)
        if key not in self._responses:
            self._responses[key] = _validator(_deref(schema, self.document))
        return _collect(self._responses[key], _deref(schema, self.document), body)

    def _operation(self, method: str, path: str) -> Any:
        paths = self.document.get("paths", {})
        item = paths.get(path)
        if item is None and path.startswith("/images/"):
            item = paths.get("/images/{image_file}")
        if item is None:
            return None
        return item.get(method.lower())

    def to_json(self) -> bytes:
        return json.dumps(self.document, ensure_ascii=False).encode()


def _with_error_style(document: dict[str, Any], style: ErrorStyle) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    for name in ERROR_SCHEMAS.values():
        if name not in schemas:
            schemas[name] = _Bundler(contract_path("aimlapi")).bundle()["components"]["schemas"][name]
    schemas["ErrorBody"] = {"$ref": f"#/components/schemas/{ERROR_SCHEMAS[style]}"}
    document["x-error-style"] = style
    return document


FORM_OPERATIONS = ("ImageEditRequest", "ImageVariationRequest")
FORM_PATHS = ("/v1/images/edits", "/v1/images/variations")


def _with_success_status(document: dict[str, Any], status: int) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    for branch in schemas["ImageRequest"]["oneOf"]:
        name = branch["$ref"].rsplit("/", 1)[-1]
        schemas[name]["x-success-status"] = status
    for operation in FORM_OPERATIONS:  # edits and variations: each model's form, as its generations
        for ref in schemas.get(operation, {}).get("x-model-schemas", {}).values():
            schemas[ref.rsplit("/", 1)[-1]]["x-success-status"] = status
    for path in (IMAGE_PATH, *FORM_PATHS):
        if path not in document["paths"]:
            continue
        responses = document["paths"][path]["post"]["responses"]
        success = next(responses[code] for code in ("200", "201") if code in responses)
        for code in ("200", "201"):
            responses.pop(code, None)
        responses[str(status)] = success
    return document


@functools.lru_cache(maxsize=16)
def load_contract(
    profile: Profile = "aimlapi", error_style: ErrorStyle | None = None, success_status: int | None = None
) -> Contract:
    """Load a profile once (cached): its document, with the error dialect and success status overridden."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose from {', '.join(PROFILES)}")
    document = _Bundler(contract_path(profile)).bundle()
    style: ErrorStyle = error_style or document.get("x-error-style", profile)
    if style not in ERROR_SCHEMAS:
        raise ValueError(f"unknown error style {style!r}: choose from {', '.join(ERROR_SCHEMAS)}")
    document = _with_error_style(document, style)
    if success_status is not None:
        document = _with_success_status(document, success_status)
    return Contract(document, profile, style)


def field_of(violations: Sequence[Violation]) -> str | None:
    """The field named by the first violation, for an error body's `param`."""
    return violations[0].field or None if violations else None
