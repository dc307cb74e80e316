"""Image edits and variations: a parsed form checked against the contract, its uploads decoded, the answer drawn
from them. Pure (no HTTP): `uploads.read_form` gives the form, `app` answers.

The form's schema is the model's (`ImageEditRequest` / `ImageVariationRequest` in contracts/openai.yaml, by
`x-model-schemas`); form fields arrive as strings and are read as the schema types them. Upload rules are the
schema's `x-mock-uploads` (how many images, bytes, formats, square) and `x-mock-mask` (PNG with alpha, the first
image's dimensions). Every upload is decoded with Pillow; a refusal is OpenAI's error, built in `errors`.

The answer visibly derives from the input: the first image fitted to the requested size, the mask's transparent
area hatched in magenta, the placeholder caption over it (public Pillow API; a slow path, run off the loop).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from aiml_mock.core.contract import Contract, Violation, _collect, _deref, _validator
from aiml_mock.core.dimensions import parse_size, size_rule_problem
from aiml_mock.core.errors import (
    image_upload_error,
    unknown_model_error,
    unsupported_operation_error,
    validation_error,
)
from aiml_mock.core.forms import Form, Upload

EDIT, VARIATION = "ImageEditRequest", "ImageVariationRequest"
PIL_FORMATS = {"PNG": "png", "WEBP": "webp", "JPEG": "jpeg", "MPO": "jpeg"}
MASK_COLOUR = (255, 0, 255)
_INTEGER = re.compile(r"^-?\d{1,18}$")


@dataclass(frozen=True)
class FormRules:
    """One model's form: its validator (files left out), properties, defaults, upload rules and success status."""

    model: str
    validator: Any
    schema: Mapping[str, Any]
    properties: Mapping[str, Any]
    defaults: Mapping[str, Any]
    uploads: Mapping[str, Any]
    mask: Mapping[str, Any] | None
    delivery: str | None
    streams: str | None
    success_status: int = 200


_RULES: dict[tuple[int, str, str], FormRules] = {}


def form_rules(contract: Contract, operation: str, model: str) -> FormRules | None:
    """The model's form rules for an operation (`EDIT`, `VARIATION`), or None when the model has none there."""
    key = (id(contract), operation, model)
    found = _RULES.get(key)
    if found is None:
        ref = contract.document["components"]["schemas"][operation]["x-model-schemas"].get(model)
        if ref is None:
            return None
        schema = _deref({"$ref": ref}, contract.document)
        props = {name: prop for name, prop in schema["properties"].items() if name not in ("image", "mask")}
        fields = {**schema, "properties": props, "required": [n for n in schema.get("required", ()) if n in props]}
        if "x-mock-rules" in schema:  # rules across fields (transparent needs png/webp), as the generations' allOf
            fields["allOf"] = [schema["x-mock-rules"]]
        found = _RULES[key] = FormRules(
            model, _validator(fields), fields, props,
            {name: prop["default"] for name, prop in props.items() if isinstance(prop, Mapping) and "default" in prop},
            schema["x-mock-uploads"], schema.get("x-mock-mask"), schema.get("x-mock-delivery"),
            schema.get("x-mock-streams"), int(schema.get("x-success-status", 200)))
    return found


def default_model(contract: Contract, operation: str) -> str:
    return str(contract.document["components"]["schemas"][operation]["x-default-model"])


def rules_for(contract: Contract, operation: str, form: Form) -> FormRules:
    """The form's model's rules, or the 400 naming an unknown model (or one that cannot do this operation)."""
    model = form.fields.get("model") or default_model(contract, operation)
    rules = form_rules(contract, operation, model)
    if rules is None:
        served = sorted(contract.document["components"]["schemas"][operation]["x-model-schemas"])
        what = "edits" if operation == EDIT else "variations"
        message = f"The model {model!r} does not support image {what}: use one of {', '.join(served)}"
        elsewhere = contract.document["components"]["schemas"][operation].get("x-mock-elsewhere")
        if elsewhere and model in contract.models:
            message += f" ({elsewhere})"
        raise unknown_model_error(message, model) if model not in contract.models else unsupported_operation_error(
            message)
    return rules


def typed_fields(fields: Mapping[str, str], properties: Mapping[str, Any]) -> dict[str, Any]:
    """Form strings read as the schema types them: `"2"` an integer, `"true"` a boolean; others stay strings
    (so the validator names what is wrong with them)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        prop = properties.get(name)
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        if kind == "integer" and _INTEGER.match(value.strip()):
            out[name] = int(value)
        elif kind == "boolean" and value.strip().lower() in ("true", "false"):
            out[name] = value.strip().lower() == "true"
        else:
            out[name] = value
    return out


def check_fields(rules: FormRules, form: Form, *, strict: bool = False) -> dict[str, Any]:
    """The form's fields, typed and checked; defaults filled in. A 400 in the dialect's wording otherwise.

    An open form (the AI/ML API's) ignores a field it does not define, as its generations do; `strict` refuses it.
    """
    body = typed_fields(form.fields, rules.properties)
    if not rules.validator.is_valid(body):
        raise validation_error(_collect(rules.validator, rules.schema, body), rules.model)
    unknown = [name for name in body if name not in rules.properties]
    if strict and unknown:
        raise validation_error([Violation(f"$.{name}", "additionalProperties", name, "unknown field")
                                for name in unknown], rules.model)
    body = {name: value for name, value in body.items() if name in rules.properties}
    params = {**rules.defaults, **body, "model": rules.model}
    rule = rules.properties.get("size", {}).get("x-mock-size-rule")
    if rule is not None and (problem := size_rule_problem(str(params.get("size")), rule)) is not None:
        raise validation_error([Violation("$.size", "x-mock-size-rule", params.get("size"), problem, rule)],
                               rules.model)
    return params


@dataclass(frozen=True)
class Decoded:
    """An upload, decoded: its Pillow image (loaded), format and size."""

    image: Image.Image
    fmt: str
    size: int


def decode(upload: Upload, label: str, formats: list[str], max_bytes: int) -> Decoded:
    """Decode one upload, or the documented 400: too large, not an image, or not one of `formats`."""
    limit_mb = max_bytes // (1024 * 1024)
    if upload.over or upload.size > max_bytes:
        raise image_upload_error("image_too_large", f"Invalid {label}: uploaded images must be less than {limit_mb} MB "
                                 f"(got {upload.size} bytes).", param=label.split()[0])
    try:
        with Image.open(io.BytesIO(upload.read())) as opened:
            fmt = PIL_FORMATS.get(opened.format or "", (opened.format or "unknown").lower())
            opened.load()
            image = opened.copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise image_upload_error("invalid_image_file", f"Invalid {label}: the file is not an image that decodes. "
                                 "Supported formats are " + ", ".join(formats) + ".", param=label.split()[0]) from None
    if fmt not in formats:
        raise image_upload_error("invalid_image_format", f"Invalid {label}: format must be in {formats}, got {fmt}.",
                                 param=label.split()[0])
    return Decoded(image, fmt, upload.size)


def check_uploads(rules: FormRules, form: Form) -> tuple[list[Decoded], Decoded | None]:
    """The images (in order) and the mask, decoded and checked against the model's upload rules."""
    images = [upload for upload in form.files if upload.name in ("image", "image[]")]
    masks = [upload for upload in form.files if upload.name == "mask"]
    limits = rules.uploads
    if not images:
        raise validation_error([Violation("$.image", "required", None, "required field missing", "image")], rules.model)
    if len(images) > int(limits["max_images"]):
        raise image_upload_error("too_many_images", f"Too many images: {rules.model} takes at most "
                                 f"{limits['max_images']}, got {len(images)}.", param="image")
    decoded = [decode(upload, f"image {index + 1}" if len(images) > 1 else "image", list(limits["formats"]),
                      int(limits["max_bytes"])) for index, upload in enumerate(images)]
    if limits.get("square") and decoded[0].image.width != decoded[0].image.height:
        width, height = decoded[0].image.size
        raise image_upload_error("invalid_image_dimensions", f"Invalid image: {rules.model} needs a square image, "
                                 f"got {width}x{height}.", param="image")
    mask = None
    if masks:
        if rules.mask is None:
            raise validation_error([Violation("$.mask", "additionalProperties", "mask", "unknown field")], rules.model)
        mask = decode(masks[0], "mask", list(rules.mask["formats"]), int(rules.mask["max_bytes"]))
        if rules.mask.get("alpha") and not _has_alpha(mask.image):
            raise image_upload_error("invalid_image_format", "Invalid mask image: format must be in ['RGBA', 'LA'] "
                                     f"(a PNG with an alpha channel), got {mask.image.mode}.", param="mask")
        if rules.mask.get("same_size") and mask.image.size != decoded[0].image.size:
            raise image_upload_error("invalid_image_dimensions", "Invalid mask image: the mask must have the first "
                                     f"image's dimensions {decoded[0].image.width}x{decoded[0].image.height}, got "
                                     f"{mask.image.width}x{mask.image.height}.", param="mask")
    return decoded, mask


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info)


def output_size(params: Mapping[str, Any], first: Image.Image) -> tuple[int, int]:
    """The answer's pixel size: the requested one; `auto` the standard size nearest the input's shape."""
    parsed = parse_size(str(params.get("size", "")))
    if parsed is not None:
        return parsed
    width, height = first.size
    if width > height * 1.2:
        return 1536, 1024
    if height > width * 1.2:
        return 1024, 1536
    return 1024, 1024


def render(first: Image.Image, mask: Image.Image | None, size: tuple[int, int], fmt: str, caption: str,
           transparent: bool = False) -> bytes:
    """The first image fitted (cover-cropped) to `size`, the mask's transparent area hatched, the caption on a
    band at the bottom; encoded as `fmt`."""
    picture = ImageOps.fit(first.convert("RGBA"), size, Image.Resampling.BILINEAR)
    if mask is not None:
        alpha = ImageOps.fit(mask.convert("RGBA"), size, Image.Resampling.NEAREST).getchannel("A")
        hole = alpha.point(lambda value: 255 if value == 0 else 0)
        hatch = Image.new("L", size, 0)
        draw = ImageDraw.Draw(hatch)
        step = max(8, min(size) // 32)
        for offset in range(-size[1], size[0], step * 2):
            draw.line([(offset, 0), (offset + size[1], size[1])], fill=255, width=step)
        overlay = Image.new("RGBA", size, (*MASK_COLOUR, 255))
        picture = Image.composite(overlay, picture, Image.composite(hatch, Image.new("L", size, 0), hole))
    band = max(16, size[1] // 12)
    draw = ImageDraw.Draw(picture)
    draw.rectangle([(0, size[1] - band), (size[0], size[1])], fill=(0, 0, 0, 190))
    draw.text((band // 3, size[1] - band + band // 5), caption, fill=(255, 255, 255, 255), font=_font(band * 3 // 5))
    out = io.BytesIO()
    if fmt == "jpeg" or not transparent:
        picture = picture.convert("RGB")
    picture.save(out, format=fmt.upper(), **({"quality": 85} if fmt in ("jpeg", "webp") else {}))
    return out.getvalue()


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: the fixed bitmap font
        return ImageFont.load_default()


def caption(kind: str, model: str, prompt: str) -> str:
    text = f"aiml-mock {kind} · {model}" + (f" · {prompt}" if prompt else "")
    return text if len(text) <= 90 else text[:87] + "..."
