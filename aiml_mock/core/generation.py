"""Build a success body for a validated request: one `data` item per image, `url` or `b64_json`.

Pure given its inputs (the clock is passed in). A `url` answer renders nothing: the image is rendered when
the URL is fetched, from the spec its name carries. `b64_json` renders through the shared, bounded cache,
so `url` and `b64_json` of the same image share one render.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
from collections.abc import Mapping
from typing import Any

from PIL import Image

from aiml_mock.core.behaviours import caption_label, revised_prompt
from aiml_mock.core.contract import Contract, well_formed
from aiml_mock.core.images import ImageCache, ImageSpec
from aiml_mock.core.pricing import FREE, Cost
from aiml_mock.core.urls import UrlSigner, file_names
from aiml_mock.core.validation import ImageRequest

DRAWN_PROMPT_CHARS = 300
NATIVE_FORMATS = ("png", "jpeg", "webp")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "tiff": "image/tiff"}
_DIGEST = hashlib.blake2b(digest_size=8)
AUTO_QUALITY = "medium"  # what a GPT image model's `quality: auto` answers (and is priced as)


def prompt_digest(request: ImageRequest, seed: int) -> bytes:
    """What picks an image's colour: the whole prompt, the model and the seed."""
    hasher = _DIGEST.copy()  # a copy of an empty hash: a third of the cost of a new one, the same digest
    hasher.update(f"{seed}\x00{request.model}\x00{request.prompt}".encode(errors="replace"))
    return hasher.digest()


def image_specs(request: ImageRequest, seed: int) -> list[ImageSpec]:
    """The images a request asks for (what a `b64_json` answer renders and a `url` answer's names carry)."""
    digest, label, text = prompt_digest(request, seed), caption_label(request), request.prompt[:DRAWN_PROMPT_CHARS]
    transparent = request.params.get("background") == "transparent"  # gpt-image's; the renderers keep jpeg opaque
    return [
        ImageSpec(text, digest, request.model, request.width, request.height, label, request.fmt,  # type: ignore[arg-type]
                  index, transparent)
        for index in range(request.count)
    ]


def image_names(request: ImageRequest, seed: int) -> list[str]:
    """The file names of `image_specs(request, seed)`, made without the specs: a `url` answer renders nothing."""
    return file_names(request.prompt[:DRAWN_PROMPT_CHARS], prompt_digest(request, seed), request.model,
                      request.width, request.height, caption_label(request), request.fmt, range(request.count),
                      transparent=request.params.get("background") == "transparent")


@functools.lru_cache(maxsize=16)
def _convert(png: bytes, fmt: str) -> bytes:
    """Formats the fast renderer does not write (TIFF for the upscalers) are converted by Pillow."""
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).save(out, format=fmt.upper())
    return out.getvalue()


def image_bytes(spec: ImageSpec, cache: ImageCache) -> bytes:
    if spec.fmt in NATIVE_FORMATS:
        return cache.get(spec)
    return _convert(cache.get(_as_png(spec)), spec.fmt)


def _as_png(spec: ImageSpec) -> ImageSpec:
    return ImageSpec(spec.text, spec.prompt_digest, spec.model, spec.width, spec.height, spec.label, "png", spec.index,
                     spec.transparent)


def image_b64(spec: ImageSpec, cache: ImageCache) -> str:
    if spec.fmt in NATIVE_FORMATS:
        return cache.get_b64(spec)
    return base64.b64encode(image_bytes(spec, cache)).decode("ascii")


# -- the success body, in the shape the model's response schema gives (`x-mock-fill` says what goes where) -------

ItemPlan = tuple[tuple[str, str, bool], ...]  # (field, fill, shown as null when it has no value)
Plan = tuple[tuple[str, str, Any], ...]  # (field, fill, an item plan, usage fields or a literal)


def response_plan(schema: Mapping[str, Any], request_fields: Mapping[str, Any]) -> Plan:
    """What to put in each field of a model's success body, read once from its (dereferenced) response schema
    (`request_fields`: the model's request properties; a field it does not define never changes its answer)."""
    plan: list[tuple[str, str, Any]] = []
    for name, prop in schema.get("properties", {}).items():
        fill = prop.get("x-mock-fill", "literal")
        if fill in ("images", "data"):
            items = prop["items"]["properties"]
            extra: Any = tuple((field, sub["x-mock-fill"], bool(sub.get("x-mock-shown-null")))
                               for field, sub in items.items())
        elif fill == "meta":
            extra = tuple(prop["properties"]["usage"]["properties"])
        elif fill in ("openai_usage", "timings"):
            extra = tuple(prop.get("properties", ()))
        elif fill == "seed":
            extra = "seed" in request_fields  # echoed only where the model takes a seed
        else:
            extra = prop.get("x-mock-value")
        plan.append((name, fill, extra))
    return tuple(plan)


def _items(plan: ItemPlan, request: ImageRequest, delivered: list[str], names: list[str], revised: str | None,
           b64: bool) -> list[dict[str, Any]]:
    """One `images` or `data` item per image, with the plan's fields."""
    out: list[dict[str, Any]] = []
    for index, value in enumerate(delivered):
        item: dict[str, Any] = {}
        for field, fill, shown_null in plan:
            if fill == "url":
                if not b64:
                    item[field] = value
                elif shown_null:
                    item[field] = None
            elif fill == "b64_json":
                if b64:
                    item[field] = value
                elif shown_null:
                    item[field] = None
            elif fill == "revised_prompt":
                item[field] = revised if revised is not None else None if shown_null else ""
            else:
                item[field] = _item_value(fill, request, names[index])
        out.append(item)
    return out


def _item_value(fill: str, request: ImageRequest, name: str) -> Any:
    if fill == "width":
        return request.width
    if fill == "height":
        return request.height
    if fill == "content_type":
        return CONTENT_TYPES[request.fmt]
    if fill == "file_name":
        return name
    if fill == "prompt":
        return well_formed(request.prompt)  # a lone surrogate (valid JSON) cannot be written back as UTF-8
    if fill == "size":
        return f"{request.width}x{request.height}"
    if fill == "request_id":
        return f"rsid-{hashlib.blake2b(name.encode(), digest_size=16).hexdigest()}"
    if fill == "false":
        return False
    return None  # "null": what the mock cannot know without rendering (file_size of a url answer)


def _value(fill: str, extra: Any, request: ImageRequest, seed: int, now: float, cost: Cost) -> Any:
    """A top-level field other than the images."""
    if fill == "meta":
        return _meta(cost, extra)
    if fill == "created":
        return int(now)
    if fill == "created_ms":
        return int(now * 1000)
    if fill == "seed":
        chosen = request.params.get("seed") if extra else None
        if type(chosen) is int and chosen >= 0:
            return chosen
        return int.from_bytes(prompt_digest(request, seed)[:4], "big")
    if fill == "timings":
        timings: dict[str, float] = {}
        for name in extra:
            timings[name] = 0.0  # the mock's generation time, next to nothing
        return timings
    if fill == "nsfw":
        return [False] * request.count
    if fill == "prompt":
        return well_formed(request.prompt)  # a lone surrogate (valid JSON) cannot be written back as UTF-8
    if fill == "count":
        return request.count
    if fill == "model":
        return request.model
    if fill == "generation_id":
        return f"gen-{int(now)}-{prompt_digest(request, seed).hex()[:12]}"
    if fill == "echo":
        return None  # set by `_echo`, which knows the field's name
    if fill == "openai_usage":
        return _openai_usage(extra, cost)
    return extra  # "literal"


def openai_usage(cost: Cost) -> dict[str, Any]:
    """OpenAI's `Usage` for a cost (a streamed answer's completed event carries it)."""
    return _openai_usage((), cost)


def resolved_settings(request: ImageRequest) -> dict[str, Any]:
    """The `size`, `quality`, `background` and `output_format` a GPT image answer reports, `auto` resolved."""
    return {name: _echo(name, request) for name in ("size", "quality", "background", "output_format")}


@functools.lru_cache(maxsize=256)
def _meta(cost: Cost, names: tuple[str, ...]) -> dict[str, Any]:
    """`meta: {usage: {...}}` for a cost: a few distinct prices, so one shared (never mutated) dict each."""
    usage: dict[str, Any] = {}
    for name in names:
        usage[name] = round(cost.usd, 7) if name == "usd_spent" else cost.credits
    return {"usage": usage}


def _openai_usage(names: tuple[str, ...], cost: Cost) -> dict[str, Any]:
    """OpenAI's `usage`: output tokens from the price table, input tokens estimated from the prompt."""
    text, out = cost.input_tokens or 0, cost.output_tokens or 0
    usage: dict[str, Any] = {"input_tokens": text, "input_tokens_details": {"image_tokens": 0, "text_tokens": text},
                             "output_tokens": out, "total_tokens": text + out}
    aliases = {"prompt_tokens": text, "completion_tokens": out}
    for name in names:
        if name not in usage:
            usage[name] = aliases.get(name, 0)
    return usage


def _echo(name: str, request: ImageRequest) -> Any:
    """A request field answered back (gpt-image's `background`, `output_format`, `quality`, `size`)."""
    value = request.params.get(name)
    if name == "background":
        return "opaque" if value in (None, "auto") else value
    if name == "size":
        return value if isinstance(value, str) and value != "auto" else f"{request.width}x{request.height}"
    if name == "output_format":
        return request.fmt
    if name == "quality" and value == "auto":
        return AUTO_QUALITY
    return value if value is not None else ""


def success_body(
    request: ImageRequest, *, seed: int, now: float, cache: ImageCache, signer: UrlSigner, base_url: str,
    plan: Plan, cost: Cost = FREE,
) -> dict[str, Any]:
    """The model's documented success body: `plan` (`response_plan` of its response schema) says which fields.

    `url` answers sign one URL per image (rendering nothing); `b64_json` answers render through the cache.
    """
    revised = revised_prompt(request, seed)
    names = image_names(request, seed)
    b64 = request.response_format == "b64_json"
    delivered: list[str] = []
    if b64:
        for spec in image_specs(request, seed):
            delivered.append(image_b64(spec, cache))
    else:
        prefix = f"{base_url}/images/"
        for name in names:  # loops: 3.11 makes a function object per comprehension run
            delivered.append(f"{prefix}{name}?{signer.query(name, now)}")
    return planned_body(plan, request, delivered, names, revised, seed=seed, now=now, cost=cost)


def planned_body(plan: Plan, request: ImageRequest, delivered: list[str], names: list[str], revised: str | None, *,
                 seed: int, now: float, cost: Cost) -> dict[str, Any]:
    """The plan's body around images already delivered (URLs or base64): generations' and AI/ML API edits'."""
    b64 = request.response_format == "b64_json"
    body: dict[str, Any] = {}
    for name, fill, extra in plan:
        if fill == "data" or fill == "images":
            body[name] = _items(extra, request, delivered, names, revised, b64)
        elif fill == "echo":
            body[name] = _echo(name, request)
        else:
            body[name] = _value(fill, extra, request, seed, now, cost)
    return body



def plan_for(contract: Contract, model: str) -> Plan:
    """The model's plan, made from the contract's response schema once and kept on the contract."""
    plan = contract.response_plans.get(model)
    if plan is None:
        plan = contract.response_plans[model] = response_plan(contract.response_schema(model),
                                                              contract.models[model].properties)
    return plan
