"""The model registry seen from outside: what each served model takes and answers, read from the contract.

Nothing here is written per model: every fact comes from the model's request schema in the loaded contract,
so adding a model is adding its schema. It feeds `GET /v1/models` (`model_list`: the provider's catalogue
shape, with its filters and `include` sections), the model table of docs/models.md (`aiml_mock.tools.catalogue`) and
`example_request`, a minimal valid body for any model built from its required fields.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiml_mock.core.contract import Contract, ModelSpec
from aiml_mock.core.validation import validate_request

__all__ = [
    "CatalogueEntry",
    "catalogue",
    "etag",
    "example_request",
    "example_value",
    "listing_requires_key",
    "model_list",
    "not_modified",
]

EXAMPLE_PROMPT = "A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses."
EXAMPLE_IMAGE_URL = "https://example.com/input.png"
SIZE_FIELDS = ("size", "image_size", "aspect_ratio", "resolution", "max_resolution")
COUNT_FIELDS = ("n", "num_images")
FILTERS = ("id", "type", "tags", "modalities", "input_modalities", "output_modalities", "capabilities")
SECTIONS = ("pricing", "modalities", "capabilities")


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One served model as a user sees it: how to ask for it and what it answers."""

    id: str
    developer: str
    success_status: int
    required: tuple[str, ...]
    size_fields: tuple[str, ...]
    default_size: tuple[int, int]
    count_field: str | None
    output_formats: tuple[str, ...]
    default_format: str
    deliveries: tuple[str, ...]
    delivery_field: str | None
    image_inputs: tuple[str, ...]
    takes_prompt: bool

    @property
    def input_modalities(self) -> list[str]:
        """`text` for a prompt, `image` for image references."""
        return ["text"] * self.takes_prompt + ["image"] * bool(self.image_inputs)

    @property
    def capabilities(self) -> list[str]:
        """`text_to_image` unless an input image is required; `image_to_image` when it takes one."""
        needs_image = any(name in self.required for name in self.image_inputs)
        text_to_image = self.takes_prompt and not needs_image
        return ["text_to_image"] * text_to_image + ["image_to_image"] * bool(self.image_inputs)


def _is_image_reference(schema: Any) -> bool:
    if isinstance(schema, list):
        return any(_is_image_reference(item) for item in schema)
    if not isinstance(schema, Mapping):
        return False
    return bool(schema.get("x-image-reference")) or any(_is_image_reference(value) for value in schema.values())


def entry_for(spec: ModelSpec, contract: Contract) -> CatalogueEntry:
    """The catalogue facts of one model, read from its schema (and its minimal request, for the defaults)."""
    props = spec.properties
    example = validate_request(example_request(spec), contract)
    delivery_field = next((name for name in ("response_format", "convert_base64_to_url") if name in props), None)
    return CatalogueEntry(
        id=spec.id,
        developer=str(spec.schema.get("x-developer", "")),
        success_status=spec.success_status,
        required=tuple(name for name in spec.required if name != "model"),
        size_fields=tuple(name for name in SIZE_FIELDS if name in props),
        default_size=(example.width, example.height),
        count_field=next((name for name in COUNT_FIELDS if name in props), None),
        output_formats=spec.enum("output_format") or ("png",),
        default_format=str(spec.defaults.get("output_format", "png")),
        deliveries=("url", "b64_json") if delivery_field else ("url",),
        delivery_field=delivery_field,
        image_inputs=tuple(name for name, prop in props.items() if _is_image_reference(prop)),
        takes_prompt="prompt" in props,
    )


@functools.lru_cache(maxsize=16)
def catalogue(contract: Contract) -> tuple[CatalogueEntry, ...]:
    """Every served model, sorted by id (computed once per loaded contract, which never changes)."""
    return tuple(entry_for(contract.models[model_id], contract) for model_id in sorted(contract.models))


# -- minimal requests -----------------------------------------------------------------------------------


def example_request(spec: ModelSpec, prompt: str = EXAMPLE_PROMPT) -> dict[str, Any]:
    """The smallest body the model accepts: its required fields, each with a valid value from its schema."""
    body: dict[str, Any] = {"model": spec.id}
    for name in spec.required:
        if name != "model":
            body[name] = example_value(spec.properties.get(name, {}), prompt)
    return body


def example_value(schema: Mapping[str, Any], prompt: str = EXAMPLE_PROMPT) -> Any:
    """A valid value for a field: its constant, first option or default, else one built from its type."""
    if "const" in schema:
        return schema["const"]
    options = [value for value in schema.get("enum", ()) if value is not None]
    if options:
        return options[0]
    if schema.get("default") is not None:
        return schema["default"]
    branches = [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
    if branches:
        return example_value(branches[0], prompt)
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    if kind == "array":
        return [example_value(schema.get("items", {}), prompt)] * max(1, int(schema.get("minItems", 1)))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return int(low) if kind == "integer" else low
    if kind == "boolean":
        return False
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_value(props.get(name, {}), prompt) for name in schema.get("required", ())}
    if schema.get("x-image-reference") or schema.get("format") == "uri":
        return EXAMPLE_IMAGE_URL
    limit = schema.get("maxLength")
    return prompt[:limit] if isinstance(limit, int) else prompt


# -- GET /v1/models ------------------------------------------------------------------------------------


def listing_requires_key(contract: Contract) -> bool:
    """Whether the profile's `GET /v1/models` asks for a key (the AI/ML API: no; OpenAI: yes)."""
    operation = contract.document.get("paths", {}).get("/v1/models", {}).get("get", {})
    return bool(operation.get("security", contract.document.get("security", [])))


def _query_values(query: Iterable[tuple[str, str]], name: str) -> set[str]:
    """A filter's values: comma-separated or repeated, case-insensitive; empty means not given."""
    return {part.strip().lower() for key, value in query if key == name for part in value.split(",") if part.strip()}


def _model_facets(item: CatalogueEntry) -> Mapping[str, set[str]]:
    inputs = set(item.input_modalities)
    return {
        "id": {item.id.lower()},
        "type": {"image"},
        "tags": set(),
        "modalities": inputs | {"image"},
        "input_modalities": inputs,
        "output_modalities": {"image"},
        "capabilities": set(item.capabilities),
    }


def _sections(query: Sequence[tuple[str, str]]) -> set[str]:
    wanted = _query_values(query, "include")
    if "all" in wanted or "true" in _query_values(query, "details"):
        return set(SECTIONS)
    return wanted & set(SECTIONS)


def _list_item(item: CatalogueEntry, created: int, sections: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": item.id,
        "type": "image",
        "info": {"name": item.id, "developer": item.developer},
        "tags": [],
        "object": "model",
        "created": created,
        "owned_by": item.developer,
    }
    if "pricing" in sections:
        out["pricing"] = None
    if "modalities" in sections:
        out["modalities"] = {"input": item.input_modalities, "output": ["image"]}
    if "capabilities" in sections:
        out["capabilities"] = item.capabilities
    return out


def model_list(contract: Contract, query: Sequence[tuple[str, str]] = (), created: int = 0) -> dict[str, Any]:
    """`{"object": "list", "data": [...]}`: the served models that pass every given filter.

    Several values of one filter are OR'd, different filters AND'd, values compared case-insensitively;
    unknown `include` values are ignored, as the provider documents.
    """
    filters = {name: values for name in FILTERS if (values := _query_values(query, name))}
    sections = _sections(query)
    data = [
        _list_item(item, created, sections)
        for item in catalogue(contract)
        if all(facet & filters[name] for name, facet in _model_facets(item).items() if name in filters)
    ]
    return {"object": "list", "data": data}


def etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def not_modified(if_none_match: str | None, current: str) -> bool:
    """True when `If-None-Match` names the current ETag (weak comparison, `*` matches anything)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or current.removeprefix("W/") in tags
