"""Write `aimlapi.yaml`, the AI/ML API profile of the contract, from the provider's published schemas.

The provider publishes one request schema per image model (collected in `shared/provider/image-models.json`).
This script turns them into one OpenAPI 3.1 document in the project's own format: one component schema per
model id, JSON Schema 2020-12 keywords, the project's documented decisions (see DECISIONS below) applied and
marked with `x-mock-*` so a reader can tell a provider fact from a mock choice. Run it again when the
provider's schemas change:

    python contracts/generate.py ../shared/provider/image-models.json
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "aimlapi.template.yaml"
OUTPUT = HERE / "aimlapi.yaml"

COUNT_FIELDS = ("n", "num_images")
NULLABLE_DALLE_FIELDS = ("size", "style", "response_format")
MOCK_MAX_COUNT = 10
MOCK_MAX_SIDE = 8192

# What the provider's JSON schemas do not say but its rendered pages and CONTRACT.md do.
DALLE_SUCCESS_STATUS = 201
DALLE2_TOLERATED_QUALITY = {
    "type": "string",
    "enum": ["standard", "hd"],
    "default": "standard",
    "description": "Not in the provider's schema, but the provider's own dall-e-2 examples send it: tolerated.",
    "x-mock-note": "tolerated on the AI/ML API; OpenAI refuses it with unknown_parameter",
}


# Image references: an http(s) URL, or a data URL carrying a base64 image (media type image/*, valid padding).
_B64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)"
_HTTP_URL = r"[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+(?:[/?#]\S*)?"
_DATA_URL = r"[Dd][Aa][Tt][Aa]:image/[A-Za-z0-9.+-]+(?:;[A-Za-z0-9.+-]+=[A-Za-z0-9.+-]+)*;base64," + _B64
IMAGE_REF_PATTERN = f"^(?:{_HTTP_URL}|{_DATA_URL})$"
IMAGE_REF_PATTERN_BARE = f"^(?:{_HTTP_URL}|{_DATA_URL}|{_B64})$"
IMAGE_REF_MESSAGE = "expected an http(s) URL or a base64 data URL (data:image/<type>;base64,...)"
IMAGE_REF_MESSAGE_BARE = (
    "expected an http(s) URL, a base64 data URL (data:image/<type>;base64,...) or base64 image data"
)
IMAGE_REF_NOTE = (
    "format uri alone accepts foo:bar or data:, (no image); the provider takes URLs or base64 images, so the mock "
    "accepts http(s) URLs and base64 data:image/ URLs only. It never fetches them: their form is all it checks."
)
BARE_BASE64_FIELDS = ("image",)  # documented as "the Base64 encoding of the picture or an accessible URL"

# Limits the provider writes in a description instead of the schema (read from its pages).
_SIDE_512_2048 = r"(?:51[2-9]|5[2-9][0-9]|[6-9][0-9]{2}|1[0-9]{3}|20[0-3][0-9]|204[0-8])"
PROSE_FACTS: dict[str, dict[str, dict[str, Any]]] = {
    "bytedance/seedream-3.0": {
        "size": {
            "pattern": f"^{_SIDE_512_2048}x{_SIDE_512_2048}$",
            "x-mock-pattern": "the provider's description: width x height in pixels, between [512x512, 2048x2048]",
            "x-mock-pattern-message": "expected WIDTHxHEIGHT with each side from 512 to 2048, e.g. 1024x1024",
        },
    },
}


def component_name(model_id: str) -> str:
    """OpenAPI component names allow [A-Za-z0-9._-]: `flux-pro/v1.1` becomes `flux-pro__v1.1`."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", model_id.replace("/", "__"))


def upgrade(schema: Any) -> Any:
    """Draft-4 leftovers to 2020-12: boolean exclusiveMinimum/Maximum become numbers."""
    if isinstance(schema, list):
        return [upgrade(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: upgrade(value) for key, value in schema.items() if key not in ("enum", "default")}
    for key in ("enum", "default"):
        if key in schema:
            out[key] = schema[key]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if out.get(exclusive) is True:
            out[exclusive] = out.pop(bound)
        elif out.get(exclusive) is False:
            del out[exclusive]
    return out


def fix_defaults(schema: Any) -> None:
    """A default must be a valid value (OpenAPI tools check it): `"1080"` for an integer enum becomes 1080."""
    if isinstance(schema, list):
        for item in schema:
            fix_defaults(item)
        return
    if not isinstance(schema, dict):
        return
    default = schema.get("default")
    if isinstance(default, str) and schema.get("type") in ("integer", "number"):
        try:
            schema["default"] = int(default) if schema["type"] == "integer" else float(default)
        except ValueError:
            del schema["default"]
    for value in schema.values():
        fix_defaults(value)


def bound_sides(schema: Any) -> None:
    """Width/height without a documented bound get the mock's: no 10^9 px image, no 0 or negative side."""
    if isinstance(schema, dict):
        props = schema.get("properties", {})
        for side in ("width", "height"):
            if side in props and "maximum" not in props[side]:
                props[side]["maximum"] = MOCK_MAX_SIDE
                props[side]["x-mock-limit"] = "the provider documents no maximum; the mock caps each side"
            if side in props and "minimum" not in props[side] and "exclusiveMinimum" not in props[side]:
                props[side]["minimum"] = 1
                props[side]["x-mock-limit-min"] = "the provider documents no minimum; an image side is at least 1 px"
        for value in schema.values():
            bound_sides(value)
    elif isinstance(schema, list):
        for item in schema:
            bound_sides(item)


def counts_are_integers(props: dict[str, Any]) -> None:
    """`n`/`num_images` are image counts: integers only (`true` and `2.5` are not counts), bounded."""
    for field in COUNT_FIELDS:
        if field not in props:
            continue
        prop = props[field]
        prop["type"] = "integer"
        if "enum" not in prop:
            prop.setdefault("minimum", 1)
            if "maximum" not in prop:
                prop["maximum"] = MOCK_MAX_COUNT
                prop["x-mock-limit"] = "the provider documents no maximum; the mock caps the count"


def image_references(props: dict[str, Any]) -> None:
    """Image inputs must look like what the provider can read: an http(s) URL or a base64 `data:image/` URL.

    `format: uri` alone accepts `foo:bar`, `mailto:x` or `data:,` (no image in it); the provider's pages say
    these fields take "URLs or local Base64 encoded images" (`image`: "the Base64 encoding of the picture or
    an accessible URL"). The mock never fetches them, so their form is all it can check.
    """
    for name, prop in props.items():
        bare = name in BARE_BASE64_FIELDS and prop.get("type") == "string" and "format" not in prop
        _pattern_uri_strings(prop, IMAGE_REF_PATTERN_BARE if bare else IMAGE_REF_PATTERN, force=bare)


def _pattern_uri_strings(schema: Any, pattern: str, force: bool = False) -> None:
    if isinstance(schema, list):
        for item in schema:
            _pattern_uri_strings(item, pattern)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and (force or schema.get("format") == "uri") and "pattern" not in schema:
        schema["pattern"] = pattern
        schema["x-image-reference"] = True  # an input image: the catalogue lists these fields, examples fill them
        schema["x-mock-pattern"] = IMAGE_REF_NOTE
        schema["x-mock-pattern-message"] = (
            IMAGE_REF_MESSAGE_BARE if pattern == IMAGE_REF_PATTERN_BARE else IMAGE_REF_MESSAGE
        )
    for value in schema.values():
        _pattern_uri_strings(value, pattern)


def prose_facts(model_id: str, props: dict[str, Any]) -> None:
    """Limits the provider states in a field's description rather than in its schema."""
    for name, extra in PROSE_FACTS.get(model_id, {}).items():
        if name in props:
            props[name].update(copy.deepcopy(extra))


def developer(source_file: str) -> str:
    """The developer as the provider files the model: `.../image-models/Black-Forest-Labs/x.json`."""
    parts = source_file.split("/")
    folder = parts[-2] if len(parts) >= 2 else ""
    return " ".join(word[:1].upper() + word[1:] for word in folder.split("-") if word) or "AI/ML API"


def dalle_rules(model_id: str, props: dict[str, Any]) -> None:
    """The seed page's facts: nullable size/style/response_format; quality tolerated on dall-e-2."""
    for field in NULLABLE_DALLE_FIELDS:
        if field in props:
            prop = props[field]
            prop["type"] = ["string", "null"]
            prop["enum"] = [*prop["enum"], None]
            prop["description"] = "`null` means the default."
    if model_id == "dall-e-2":
        props["quality"] = copy.deepcopy(DALLE2_TOLERATED_QUALITY)


def model_schema(model_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    request = upgrade(entry["request"])
    props: dict[str, Any] = request["properties"]
    props["model"] = {"type": "string", "const": model_id}
    counts_are_integers(props)
    bound_sides(props)
    image_references(props)
    prose_facts(model_id, props)
    fix_defaults(props)
    status = int(entry["success_status"][0])
    if model_id.startswith("dall-e-"):
        dalle_rules(model_id, props)
        status = DALLE_SUCCESS_STATUS
    schema: dict[str, Any] = {
        "title": model_id,
        "type": "object",
        "required": request.get("required", ["model"]),
        "properties": dict(sorted(props.items())),
    }
    if "additionalProperties" in request:
        schema["additionalProperties"] = request["additionalProperties"]
    schema["x-model-id"] = model_id
    schema["x-success-status"] = status
    schema["x-source"] = entry.get("source_file", "")
    schema["x-developer"] = developer(entry.get("source_file", ""))
    return schema


# -- success responses, per model (from the template's `x-response-facts`) -------------------------------
#
# Each served field carries `x-mock-fill`: what the mock puts there (`aiml_mock/answers.py` reads it), so the
# contract says both what a model answers and how the mock makes it. `x-docs-conflict` lists where a model's
# page and its spec disagree: the mock sends the union, which the spec's schema (no required fields, no
# additionalProperties: false) accepts.

_NULLABLE_STRING = {"type": ["string", "null"]}
_MEDIA = {"type": "string", "pattern": "^image/(png|jpeg|webp|tiff)$"}
# item fields: (schema, fill)
ITEM_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "url": ({"type": ["string", "null"], "format": "uri",
             "description": "Signed and expiring (60 minutes on the real API)."}, "url"),
    "b64_json": ({"type": ["string", "null"], "contentEncoding": "base64"}, "b64_json"),
    "revised_prompt": (_NULLABLE_STRING, "revised_prompt"),
    "width": ({"type": "integer", "minimum": 1, "description": "The served image's width in pixels."}, "width"),
    "height": ({"type": "integer", "minimum": 1, "description": "The served image's height in pixels."}, "height"),
    "content_type": (_MEDIA, "content_type"),
    "mime_type": (_MEDIA, "content_type"),
    "file_name": ({"type": "string", "minLength": 1}, "file_name"),
    "file_size": ({"type": ["integer", "null"], "minimum": 0,
                   "x-mock-note": "null: a url answer renders nothing until the URL is fetched"}, "null"),
    "prompt": ({"type": "string"}, "prompt"),
    "size": ({"type": "string", "pattern": "^[0-9]+x[0-9]+$"}, "size"),
    "request_id": ({"type": "string", "minLength": 1}, "request_id"),
    "content_violation": ({"type": "boolean"}, "false"),
}
USAGE_FIELDS = ("credits_used", "usd_spent", "tokens_used")
OPENAI_USAGE_NOTE = (
    "OpenAI's Usage: output tokens per quality and size as OpenAI documents them (contracts/prices.yaml), "
    "input tokens estimated from the prompt (a token per 4 characters)"
)


def _item_schema(fields: list[str], kind: str) -> dict[str, Any]:
    """An `images` or `data` item: the example's fields (`?`: shown as null), with url or b64_json."""
    names = [field.rstrip("?") for field in fields]
    shown_null = {field.rstrip("?") for field in fields if field.endswith("?")}
    props: dict[str, Any] = {}
    for name in dict.fromkeys([*names, "url", "b64_json"]):
        props[name] = {"$ref": f"#/components/schemas/ImageField.{name}"}
        if name in shown_null:  # url/b64_json: null when the other is delivered; others: null when unknown
            props[name]["x-mock-shown-null"] = True
    required = [name for name in names if name not in ("url", "b64_json")]
    item: dict[str, Any] = {"type": "object"}
    if required:
        item["required"] = required
    item["properties"] = props
    item["anyOf"] = [{"$ref": "#/components/schemas/DeliveredAsUrl"}, {"$ref": "#/components/schemas/DeliveredAsB64"}]
    item["x-item-kind"] = kind
    return item


def _images_array(fields: list[str], kind: str) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "items": _item_schema(fields, kind), "x-mock-fill": kind}


def _meta_schema(usage: list[str]) -> dict[str, Any]:
    """A reference to the shared `meta` schema with these usage fields (made by `shared_response_parts`)."""
    names = [name for name in USAGE_FIELDS if name in ("credits_used", *usage)]
    return {"$ref": f"#/components/schemas/Meta.{'.'.join(names)}"}


def shared_response_parts() -> dict[str, Any]:
    """The components the response schemas refer to: one per item field, one per `meta.usage` field set."""
    parts: dict[str, Any] = {f"ImageField.{name}": {**schema, "x-mock-fill": fill}
                             for name, (schema, fill) in ITEM_FIELDS.items()}
    for extra in ((), ("usd_spent",), ("tokens_used",), ("usd_spent", "tokens_used")):
        names = ["credits_used", *extra]
        parts[f"Meta.{'.'.join(names)}"] = _meta_parts(names)
    return parts


def _meta_parts(usage: list[str]) -> dict[str, Any]:
    props = {name: {"type": "number", "minimum": 0} for name in USAGE_FIELDS if name in ("credits_used", *usage)}
    props["credits_used"]["description"] = "What the request cost, in credits ($1 = 2,000,000 credits)."
    if "usd_spent" in props:
        props["usd_spent"]["description"] = "The same cost in US dollars."
    if "tokens_used" in props:
        props["tokens_used"]["x-mock-note"] = "the page's example names the credits tokens_used; the mock sends both"
    usage_schema = {"type": "object", "required": list(props), "properties": props}
    return {"type": "object", "required": ["usage"], "properties": {"usage": usage_schema}, "x-mock-fill": "meta"}


def _openai_usage(extra: list[str]) -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    props: dict[str, Any] = {
        "input_tokens": count,
        "input_tokens_details": {"type": "object", "required": ["image_tokens", "text_tokens"],
                                 "properties": {"image_tokens": count, "text_tokens": count}},
        "output_tokens": count,
        "total_tokens": count,
    }
    props.update({name: count for name in extra if name not in props})
    return {"type": "object", "required": list(props), "properties": props, "x-mock-fill": "openai_usage",
            "x-mock-note": OPENAI_USAGE_NOTE}


def _top_field(name: str, value: Any, request_props: dict[str, Any]) -> dict[str, Any]:
    """The schema of one top-level example field, with how the mock fills it."""
    if name == "created":
        milliseconds = isinstance(value, int) and value > 10**11
        return {"type": "integer", "minimum": 0, "x-mock-fill": "created_ms" if milliseconds else "created",
                "description": "Unix milliseconds, as this model's example shows." if milliseconds else "Unix seconds."}
    if name == "seed":
        return {"type": "integer", "minimum": 0, "x-mock-fill": "seed",
                "x-mock-note": "the request's seed, else one derived from the prompt (the same request, the same seed)"}
    if name == "timings":
        props = {key: {"type": "number", "minimum": 0} for key in value}
        return {"type": "object", "required": list(props), "properties": props, "x-mock-fill": "timings"}
    if name == "has_nsfw_concepts":
        return {"type": "array", "items": {"type": "boolean"}, "x-mock-fill": "nsfw"}
    if name == "prompt":
        return {"type": "string", "x-mock-fill": "prompt"}
    if name == "num_images":
        return {"type": "integer", "minimum": 1, "x-mock-fill": "count"}
    if name == "model":
        return {"type": "string", "minLength": 1, "x-mock-fill": "model"}
    if name == "id":
        return {"type": "string", "minLength": 1, "x-mock-fill": "generation_id"}
    if name in ("description", "object"):
        literal = "" if name == "description" else value
        return {"type": "string", "x-mock-fill": "literal", "x-mock-value": literal}
    if name == "usage" and isinstance(value, dict):
        return _openai_usage(list(value))
    if name in ("background", "output_format", "quality", "size") and name in request_props:
        return {"type": "string", "minLength": 1, "x-mock-fill": "echo",
                "x-mock-note": "the request's value (its default when absent); background auto answers opaque"}
    if value is None:
        return {"type": "null", "x-mock-fill": "literal", "x-mock-value": None}
    raise ValueError(f"no rule for the example field {name!r} = {value!r}: add one to generate.py")


def response_schema(model_id: str, fact: dict[str, Any], prefix: str, request_props: dict[str, Any]
                    ) -> dict[str, Any]:
    """A model's success body: its page's example fields, plus the `data` and `meta.usage` its spec documents."""
    example: dict[str, Any] = dict(fact.get("example") or {})
    spec_usage: list[str] = list(fact["spec_usage"])
    props: dict[str, Any] = {}
    conflicts: list[str] = []
    for name, value in example.items():
        if name in ("images", "data"):
            props[name] = _images_array(value, name)
        elif name == "meta":
            props[name] = _meta_schema([*spec_usage, *value])
            if set(value) - set(spec_usage):
                conflicts.append(f"the example's meta.usage has {', '.join(sorted(set(value) - set(spec_usage)))}, "
                                 f"the spec {', '.join(spec_usage)}: the mock sends both")
        else:
            props[name] = _top_field(name, value, request_props)
    if not example:
        conflicts.append("the page shows no example response: the shape is the spec's (data and meta.usage)")
    if "data" not in props:
        props["data"] = _images_array(["url"], "data")
        if example:
            conflicts.append("the spec documents data, which the page's example lacks: the mock sends it too")
    if "meta" not in props:
        props["meta"] = _meta_schema(spec_usage)
        if example:
            conflicts.append("the spec documents meta.usage, which the page's example lacks: the mock sends it too")
    extras = [name for name in example if name not in ("data", "meta")]
    if extras:
        conflicts.append(f"the example sends {', '.join(extras)}, which the spec's schema does not list: the mock "
                         "sends them")
    schema: dict[str, Any] = {
        "title": f"{model_id} response",
        "type": "object",
        "required": list(props),
        "properties": props,
        "x-model-id": model_id,
        "x-source-schema": prefix + fact["spec"],
    }
    if fact.get("page"):
        schema["x-source-example"] = prefix + fact["page"]
    if conflicts:
        schema["x-docs-conflict"] = conflicts
    return schema


def build(models: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    extra = doc.pop("x-extra-models")["models"]
    facts = doc.pop("x-response-facts")
    models = {**extra, **models}
    schemas = doc["components"]["schemas"]
    mapping: dict[str, str] = {}
    responses: dict[str, str] = {}
    for model_id in sorted(models):
        name = component_name(model_id)
        schemas[name] = model_schema(model_id, models[model_id])
        mapping[model_id] = f"#/components/schemas/{name}"
        fact = facts["models"][model_id]
        schemas[name]["x-success-status"] = DALLE_SUCCESS_STATUS if model_id.startswith("dall-e-") else fact["status"]
        if fact["status"] != int(models[model_id]["success_status"][0]):
            schemas[name]["x-success-status-note"] = (
                f"{models[model_id]['source_file']} says {models[model_id]['success_status'][0]}; the spec the "
                f"model's page links ({fact['spec']}) says {fact['status']}, which the mock follows"
            )
        schemas[f"{name}.response"] = response_schema(model_id, fact, facts["source-prefix"],
                                                                  schemas[name]["properties"])
        responses[model_id] = f"#/components/schemas/{name}.response"
    schemas.update(shared_response_parts())
    schemas["ImagesResponse"] = {
        "description": "One success body per model (`x-model-responses` says which), from `x-response-facts`.",
        "anyOf": [{"$ref": ref} for ref in responses.values()],
        "x-model-responses": responses,
    }
    schemas["ImageRequest"] = {
        "description": "One request schema per model, chosen by `model`.",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "model", "mapping": mapping},
    }
    return doc


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    models = json.loads(Path(argv[1]).read_text(encoding="utf-8"))["models"]
    header = "# Generated by contracts/generate.py from contracts/aimlapi.template.yaml and the provider's schemas.\n"
    header += "# Edit the template or the script, then run it again; do not edit this file by hand.\n"
    body = yaml.safe_dump(build(models), sort_keys=False, allow_unicode=True, width=120)
    OUTPUT.write_text(header + body, encoding="utf-8")
    served = len(yaml.safe_load(body)["components"]["schemas"]["ImageRequest"]["oneOf"])
    print(f"wrote {OUTPUT.relative_to(HERE.parent)} ({served} models)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
