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
    """Width/height without a documented maximum get the mock's cap, so nobody can ask for a 10^9 px image."""
    if isinstance(schema, dict):
        props = schema.get("properties", {})
        for side in ("width", "height"):
            if side in props and "maximum" not in props[side]:
                props[side]["maximum"] = MOCK_MAX_SIDE
                props[side]["x-mock-limit"] = "the provider documents no maximum; the mock caps each side"
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
