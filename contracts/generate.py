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


def build(models: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    schemas = doc["components"]["schemas"]
    mapping: dict[str, str] = {}
    for model_id in sorted(models):
        name = component_name(model_id)
        schemas[name] = model_schema(model_id, models[model_id])
        mapping[model_id] = f"#/components/schemas/{name}"
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
    print(f"wrote {OUTPUT.relative_to(HERE.parent)} ({len(models)} models)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
