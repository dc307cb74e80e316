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


def test_without_a_budget_the_tallied_spend_reads_as_spend_booked_one_by_one() -> None:
    """Without a budget `charge` only counts (by key, model, test and price) and the totals are summed when read;
    with one, every request is booked at once. The same requests read the same either way, before and after more
    distinct counts than are kept unfolded (unique keys)."""
    tallied, booked = Ledger(), Ledger(budget_usd=1e9)
    requests = [(f"sk-key-{n % 7:012d}", ("dall-e-3", "flux-pro", "dall-e-2")[n % 3], Cost(40_000 * (n % 5 + 1),
                 0.02 * (n % 5 + 1), n % 4 + 1), None if n % 2 else f"test-{n % 11}") for n in range(3000)]
    for ledger in (tallied, booked):
        ledger.test = "the-handle's-test"
        for number, (key, model, cost, test) in enumerate(requests):
            assert ledger.charge(key if number < 2000 else f"sk-unique-{number:08d}", model, cost, test)
    expected, got = booked.usage(), tallied.usage()
    assert expected.pop("budget_usd") == 1e9 and got.pop("budget_usd") is None
    assert got == expected
    assert tallied.spent("sk-key-000000000003") == booked.spent("sk-key-000000000003")
    tallied.clear()
    assert tallied.usage()["total"]["requests"] == 0
