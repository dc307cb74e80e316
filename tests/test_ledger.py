"""The ledger: spend per key, model and test; budgets refuse the request that would pass them."""

from __future__ import annotations

from aiml_mock.core.ledger import Ledger
from aiml_mock.core.pricing import Cost

FOUR_CENTS = Cost(80_000, 0.04, 1)


def test_spend_is_booked_per_key_model_and_test() -> None:
    ledger = Ledger()
    ledger.test = "tests/test_app.py::test_one"
    assert ledger.charge("sk-live-aaaaaaaaaaaa", "dall-e-3", FOUR_CENTS)
    assert ledger.charge("sk-live-aaaaaaaaaaaa", "flux-pro", Cost(240_000, 0.12, 2), test="header-test")
    assert ledger.charge("sk-other-bbbbbbbbbbb", "dall-e-3", FOUR_CENTS)
    usage = ledger.usage()
    assert usage["total"] == {"credits": 400_000, "usd": 0.2, "images": 4, "requests": 3}
    assert usage["by_model"]["dall-e-3"] == {"credits": 160_000, "usd": 0.08, "images": 2, "requests": 2}
    assert usage["by_test"] == {"tests/test_app.py::test_one": {"credits": 160_000, "usd": 0.08, "images": 2,
                                                                "requests": 2},
                                "header-test": {"credits": 240_000, "usd": 0.12, "images": 2, "requests": 1}}
    assert sorted(value["credits"] for value in usage["by_key"].values()) == [80_000, 320_000]
    assert not any("aaaaaaaaaaaa" in key for key in usage["by_key"])  # keys are shown redacted
    assert ledger.spent("sk-live-aaaaaaaaaaaa") == (320_000, 0.16)


def test_a_budget_refuses_the_request_that_would_pass_it_and_books_nothing_for_it() -> None:
    ledger = Ledger(budget_usd=0.10)
    assert ledger.charge("k", "dall-e-3", FOUR_CENTS) and ledger.charge("k", "dall-e-3", FOUR_CENTS)
    assert not ledger.charge("k", "dall-e-3", FOUR_CENTS)  # $0.12 > $0.10
    assert ledger.charge("k", "dall-e-2", Cost(40_000, 0.02, 1))  # exactly $0.10: within it
    assert ledger.charge("another key", "dall-e-3", FOUR_CENTS)  # the budget is per key
    assert ledger.spent("k") == (200_000, 0.1)
    assert ledger.usage()["total"]["requests"] == 4


def test_clear_forgets_the_spend() -> None:
    ledger = Ledger(budget_usd=0.05)
    ledger.charge("k", "dall-e-3", FOUR_CENTS)
    ledger.clear()
    assert ledger.usage()["total"] == {"credits": 0, "usd": 0.0, "images": 0, "requests": 0}
    assert ledger.charge("k", "dall-e-3", FOUR_CENTS)
