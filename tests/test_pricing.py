"""The price table: every model priced from `contracts/prices.yaml`, each figure with where it comes from."""

from __future__ import annotations

import pytest

from aiml_mock import load_contract
from aiml_mock.core.pricing import load_prices
from aiml_mock.core.validation import validate_request

PRICES = load_prices()
CONTRACT = load_contract()


def cost_of(**body: object) -> tuple[int, float, int | None]:
    request = validate_request({"prompt": "a fox", **body}, CONTRACT)
    cost = PRICES.cost(request.model, request.params, request.count, request.prompt)
    return cost.credits, cost.usd, cost.output_tokens


def test_every_served_model_has_a_price_with_its_basis_and_source() -> None:
    assert set(PRICES.models) == set(CONTRACT.models) | set(load_contract("openai").models)  # both profiles
    for model_id, entry in PRICES.models.items():
        assert entry["basis"] in ("list-price", "example", "placeholder"), model_id
        assert entry["source"], model_id
        assert ("usd" in entry) == (entry["basis"] == "list-price"), model_id
        assert ("credits" in entry) == (entry["basis"] == "example"), model_id


def test_a_dollar_is_two_million_credits() -> None:
    assert PRICES.credits_per_usd == 2_000_000
    assert cost_of(model="dall-e-3") == (80_000, 0.04, None)


@pytest.mark.parametrize(("body", "usd"), [
    ({"model": "dall-e-3", "quality": "hd", "size": "1024x1792"}, 0.12),
    ({"model": "dall-e-3", "size": "1792x1024"}, 0.08),
    ({"model": "dall-e-2", "size": "256x256", "n": 3}, 0.048),
    ({"model": "openai/gpt-image-1", "quality": "low"}, 0.011),
    ({"model": "openai/gpt-image-1", "quality": "high", "size": "1536x1024"}, 0.25),
])
def test_list_prices_follow_quality_size_and_count(body: dict[str, object], usd: float) -> None:
    assert cost_of(**body)[1] == pytest.approx(usd)


def test_example_and_placeholder_prices() -> None:
    assert cost_of(model="alibaba/qwen-image", num_images=2)[0] == 2 * 91_000  # its page's example, per image
    assert cost_of(model="flux-pro")[0] == PRICES.placeholder == 120_000  # no figure documented anywhere


@pytest.mark.parametrize(("quality", "size", "tokens"), [
    ("low", "1024x1024", 272), ("medium", "1024x1024", 1056), ("high", "1024x1024", 4160),
    ("low", "1536x1024", 408), ("medium", "1024x1536", 1584), ("high", "1024x1536", 6240),
])
def test_gpt_image_output_tokens_as_openai_documents_them(quality: str, size: str, tokens: int) -> None:
    for model in ("openai/gpt-image-1", "openai/gpt-image-1-5"):
        assert cost_of(model=model, quality=quality, size=size)[2] == tokens


def test_the_cached_answer_is_the_plain_computation_for_every_model_and_price_field() -> None:
    """`cost()` answers from a cache keyed by the model, the count and the price fields' values: for every model
    and every value its price fields take in the table, it gives what `_priced` (the plain way) gives, also for a
    second prompt of another length (token-priced models estimate the prompt's tokens)."""
    checked = 0
    for model, entry in PRICES.models.items():
        fields = list(entry.get("by", ()))
        choices: list[dict[str, object]] = [{}]
        table = entry.get("usd")
        for field in fields:  # the values the table lists at each level (its first branch below that)
            values = list(table) if isinstance(table, dict) else [None]
            choices = [{**choice, field: value} for choice in choices for value in values]
            table = next(iter(table.values())) if isinstance(table, dict) and table else None
        for params in choices:
            for images in (1, 3):
                for prompt in ("a fox", "a fox " * 40):
                    cached = PRICES.cost(model, {**params, "prompt": prompt}, images, prompt)
                    again = PRICES.cost(model, {**params, "prompt": prompt}, images, prompt)
                    plain = PRICES._priced(model, {**params, "prompt": prompt}, images, prompt)
                    assert cached == again == plain, (model, params, images)
                    checked += 1
    assert checked > 4 * len(PRICES.models)
