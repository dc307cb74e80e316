"""What a model does that its request schema cannot say: the one place for per-model quirks.

Everything else about a model (fields, limits, defaults, success status) is read from the contract, and
what a field means for every model that has it (sizes, counts, `output_format`, `response_format`,
`convert_base64_to_url`) is in `dimensions`. Deliberately not here: gpt-image's base64-only output. That is
OpenAI's behaviour; the AI/ML API documents `response_format` url/b64_json (default url) for gpt-image and
answers with a CDN URL, so the mock follows the schema (docs/models.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from aiml_mock.core.prompts import revise_prompt
from aiml_mock.core.validation import ImageRequest


def _dalle3_revised_prompt(request: ImageRequest, seed: int) -> str:
    """DALL·E 3 always rewrites the prompt and returns the result; it cannot be turned off."""
    return revise_prompt(
        request.prompt, style=str(request.get("style", "vivid")), quality=str(request.get("quality", "standard")),
        seed=seed,
    )


REVISED_PROMPTS: Mapping[str, Callable[[ImageRequest, int], str]] = {"dall-e-3": _dalle3_revised_prompt}


def revised_prompt(request: ImageRequest, seed: int) -> str | None:
    """The revised prompt a model returns with each image, or None for models that return none."""
    maker = REVISED_PROMPTS.get(request.model)
    return maker(request, seed) if maker else None


def caption_label(request: ImageRequest) -> str:
    """The short settings line drawn on a placeholder: quality and style where the model has them."""
    quality, style = request.params.get("quality"), request.params.get("style")
    return _label(quality if isinstance(quality, str) else None, style if isinstance(style, str) else None)


@functools.lru_cache(maxsize=256)
def _label(quality: str | None, style: str | None) -> str:
    return " · ".join(value for value in (quality, style) if value is not None)
