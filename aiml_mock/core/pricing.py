"""What a request would cost on the real API: `contracts/prices.yaml`, loaded once, as credits and dollars.

Pure: a model id, the request's parameters (defaults filled in) and its image count in, a `Cost` out. The
table is data with a source per model (`basis`: a list price, a page's example, or the spec's placeholder);
nothing about prices is written here. $1 is 2,000,000 credits, as the provider documents.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import yaml

from aiml_mock.core.contract import contracts_dir

PRICES_FILE = "prices.yaml"
_KNOWN_MAX = 4096  # answers kept: distinct (model, count, price fields) seen; past it, start over
INPUT_CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English text; the mock's estimate of a prompt's tokens


class Cost(NamedTuple):
    """One request's cost: credits (whole), the same in dollars, the images billed, and OpenAI's token counts
    for models billed by tokens (None for the others)."""

    credits: int
    usd: float
    images: int
    output_tokens: int | None = None
    input_tokens: int | None = None


FREE = Cost(0, 0.0, 0)


class PriceTable:
    """Per-model prices read from the table; `cost()` answers from a small cache (the url hot path asks)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.credits_per_usd = int(data["credits-per-usd"])
        self.placeholder = int(data["placeholder-credits"])
        self.models: Mapping[str, Mapping[str, Any]] = data["models"]
        self._units: dict[tuple[Any, ...], tuple[int, int | None]] = {}
        self._costs: dict[tuple[int, int], Cost] = {}
        self._by: dict[str, tuple[str, ...]] = {}
        self._known: dict[tuple[Any, ...], Cost] = {}  # (model, count, the price fields' values) -> the answer

    def entry(self, model: str) -> Mapping[str, Any]:
        """The table's entry for a model (a placeholder entry for one the table lacks)."""
        return self.models.get(model) or {"basis": "placeholder", "source": "not in contracts/prices.yaml"}

    def cost(self, model: str, params: Mapping[str, Any], images: int, prompt: str = "") -> Cost:
        """What `images` images of this request cost. On every answer's path: one lookup of the model's price
        fields, one of the answer for those fields' values and the count (`_priced`, the plain way, on a miss)."""
        by = self._by.get(model)
        if by is None:
            by = self._by[model] = tuple(self.entry(model).get("by", ()))
        if not by:
            key: tuple[Any, ...] = (model, images)
        elif len(by) == 1:
            key = (model, images, params.get(by[0]))
        elif len(by) == 2:
            key = (model, images, params.get(by[0]), params.get(by[1]))
        else:
            key = (model, images, *[params.get(name) for name in by])
        known = self._known.get(key)
        if known is not None:
            return known
        cost = self._priced(model, params, images, prompt)
        if cost.input_tokens is None:  # priced by the image alone: the same answer for every prompt
            if len(self._known) >= _KNOWN_MAX:
                self._known.clear()
            self._known[key] = cost
        return cost

    def _priced(self, model: str, params: Mapping[str, Any], images: int, prompt: str = "") -> Cost:
        """`cost()` without its cache of answers."""
        by = self._by.get(model)
        if by is None:
            by = self._by[model] = tuple(self.entry(model).get("by", ()))
        key = (model, *[params.get(name) for name in by])
        unit = self._units.get(key)
        if unit is None:
            unit = self._units[key] = self._unit(self.entry(model), key[1:])
        credits, tokens = unit
        if tokens is None:  # one shared Cost per price and count: a journal entry keeps a reference, not a copy
            shared = self._costs.get((credits, images))
            if shared is None:
                total = credits * images
                shared = self._costs[(credits, images)] = Cost(total, total / self.credits_per_usd, images)
            return shared
        prompt_tokens = max(1, -(-len(prompt) // INPUT_CHARS_PER_TOKEN))
        return Cost(credits * images, credits * images / self.credits_per_usd, images, tokens * images, prompt_tokens)

    def _unit(self, entry: Mapping[str, Any], choice: tuple[Any, ...]) -> tuple[int, int | None]:
        """One image's credits, and its output tokens where the table has them."""
        if "usd" in entry:
            credits = round(_lookup(entry["usd"], choice, 0.0) * self.credits_per_usd)
        else:
            credits = int(entry.get("credits", self.placeholder))
        tokens = entry.get("output_tokens")
        if tokens is None:
            return credits, None
        return credits, int(_lookup(tokens, choice, 0))

    def usd(self, credits: float) -> float:
        return credits / self.credits_per_usd


def _lookup(table: Any, choice: tuple[Any, ...], fallback: Any) -> Any:
    """`table[choice[0]][choice[1]]...`; a value the table lacks takes its first entry's price (never free)."""
    node = table
    for value in choice:
        if not isinstance(node, Mapping):
            break
        node = node.get(value, next(iter(node.values()), fallback))
    while isinstance(node, Mapping):
        node = next(iter(node.values()), fallback)
    return node


@functools.lru_cache(maxsize=1)
def load_prices() -> PriceTable:
    """The price table shipped with the contract (read once)."""
    text = (contracts_dir() / PRICES_FILE).read_text(encoding="utf-8")
    return PriceTable(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # noqa: S506
