"""The ledger: what the answered requests would have cost on the real API, per API key, per model and per test.

Pure and thread-safe. `charge()` books a request's `Cost` unless it would take its key past the budget
(`--budget-usd`, per key), in which case it books nothing and returns False: the caller answers with the
provider's out-of-credits error. `usage()` is `GET /__mock/usage`; `clear()` goes with the journal's.
Keys are kept as given (a budget is per key) and shown redacted.
"""

from __future__ import annotations

import threading
from typing import Any

from aiml_mock.core.auth import redact
from aiml_mock.core.pricing import Cost

TEST_HEADER = "X-Mock-Test"  # a request's test (the pytest plugin's SDK clients send the test's node id)
_Totals = list[float]  # [credits, images, requests]
_TALLIES_MAX = 1024  # distinct (key, model, test, price) counts kept before they are folded into the totals


class Ledger:
    """Spend booked per key, model and test; a budget per key in dollars (None: no budget)."""

    def __init__(self, budget_usd: float | None = None, credits_per_usd: int = 2_000_000) -> None:
        self.credits_per_usd = credits_per_usd
        self.budget_usd = budget_usd
        self.budget_credits = None if budget_usd is None else round(budget_usd * credits_per_usd)
        self.test: str | None = None  # the test being run (set by the pytest plugin's handle), for `by_test`
        self._lock = threading.Lock()
        self._total: _Totals = [0, 0, 0]
        self._keys: dict[str, _Totals] = {}
        self._models: dict[str, _Totals] = {}
        self._tests: dict[str, _Totals] = {}
        self._tallies: dict[tuple[str, str, str | None, int, int], int] = {}  # not yet in the totals: `charge`

    def allows(self, key: str, cost: Cost) -> bool:
        """Whether `key` may spend `cost` within its budget (always, without one)."""
        if self.budget_credits is None:
            return True
        spent = self._keys.get(key)  # with a budget, nothing is left tallied (`charge`)
        return (spent[0] if spent else 0) + cost.credits <= self.budget_credits

    def charge(self, key: str, model: str, cost: Cost, test: str | None = None) -> bool:
        """Book a request's cost; False (and nothing booked) when it would pass the key's budget.

        On every answer's path. Without a budget nothing needs the totals now: the request is one count in
        `_tallies` (by key, model, test and price), folded into the totals when they are read (`_book`, the
        plain way, does the same sums)."""
        test = test or self.test
        if self.budget_credits is None:
            tally = (key, model, test, cost.credits, cost.images)
            with self._lock:
                tallies = self._tallies
                tallies[tally] = tallies.get(tally, 0) + 1
                if len(tallies) > _TALLIES_MAX:
                    self._fold()
            return True
        with self._lock:
            self._fold()
            spent = self._keys.get(key)
            if spent is not None and spent[0] + cost.credits > self.budget_credits:
                return False
            self._book(key, model, test, cost.credits, cost.images, 1)
        return True

    def _book(self, key: str, model: str, test: str | None, credits: int, images: int, requests: int) -> None:
        """Add `requests` requests of this price to the totals (the lock held)."""
        groups = [(self._keys, key), (self._models, model)]
        if test is not None:
            groups.append((self._tests, test))
        for totals in [self._total, *[group.setdefault(name, [0, 0, 0]) for group, name in groups]]:
            totals[0] += credits * requests
            totals[1] += images * requests
            totals[2] += requests

    def _fold(self) -> None:
        """Book the tallied requests (the lock held)."""
        if self._tallies:
            tallies, self._tallies = self._tallies, {}
            for (key, model, test, credits, images), requests in tallies.items():
                self._book(key, model, test, credits, images, requests)

    def spent(self, key: str | None = None) -> tuple[int, float]:
        """(credits, dollars) booked in all, or by one key."""
        with self._lock:
            self._fold()
            totals = self._total if key is None else self._keys.get(key, [0, 0, 0])
            return int(totals[0]), totals[0] / self.credits_per_usd

    def usage(self) -> dict[str, Any]:
        """`{"total": {credits, usd, images, requests}, "by_key": {...}, "by_model": {...}, "by_test": {...},
        "budget_usd": ...}`; keys redacted."""
        with self._lock:
            self._fold()
            return {
                "total": self._shown(self._total),
                "by_key": {redact(key): self._shown(totals) for key, totals in self._keys.items()},
                "by_model": {model: self._shown(totals) for model, totals in self._models.items()},
                "by_test": {test: self._shown(totals) for test, totals in self._tests.items()},
                "budget_usd": self.budget_usd,
                "credits_per_usd": self.credits_per_usd,
            }

    def clear(self) -> None:
        with self._lock:
            self._tallies = {}
            self._total = [0, 0, 0]
            self._keys.clear()
            self._models.clear()
            self._tests.clear()

    def _shown(self, totals: _Totals) -> dict[str, Any]:
        credits = int(totals[0])
        return {"credits": credits, "usd": round(credits / self.credits_per_usd, 6), "images": int(totals[1]),
                "requests": int(totals[2])}

