"""Per-key rate limiting (`--rate-limit 5/min`): a true sliding window, answered as the real API answers.

Every admitted request gets the headers clients read (`x-ratelimit-limit-requests`,
`x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`); a request over the limit gets the real
429 with `retry-after` / `retry-after-ms` saying when the oldest request in the window leaves it. Pure:
the clock is injectable; memory is bounded (at most `max_keys` keys, each at most `limit` timestamps).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from aiml_mock.core.errors import ApiError
from aiml_mock.core.faults import format_duration, retry_headers

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$", re.IGNORECASE)
_PERIODS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}
_NAMES: dict[float, str] = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`limit` requests per `window` seconds, e.g. `RateLimit(5, 60.0)` for `5/min`."""

    limit: int
    window: float
    text: str = ""

    @property
    def period_name(self) -> str:
        return _NAMES.get(self.window) or format_duration(self.window)

    def __str__(self) -> str:
        return self.text or f"{self.limit}/{format_duration(self.window)}"


def parse_rate_limit(text: str) -> RateLimit:
    """`5/min`, `10/s`, `100/hour`, `1000/day`, `5/10s`; `ValueError` naming the accepted forms otherwise."""
    match = _RATE.match(text)
    period = _PERIODS.get(match.group(3).lower()) if match else None
    if match is None or period is None:
        raise ValueError(f"{text!r} is not a rate limit: use REQUESTS/PERIOD, e.g. 5/min, 10/s, 100/hour or 5/10s")
    limit, window = int(match.group(1)), float(match.group(2) or 1) * period
    if limit < 1 or window <= 0:
        raise ValueError(f"{text!r}: the limit and the period must be positive")
    return RateLimit(limit, window, text.strip())


class RateLimiter:
    """A sliding-window log per API key: a request is admitted when fewer than `limit` fall in the window."""

    def __init__(self, rate: RateLimit, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: str) -> dict[str, str]:
        """Count a request: the `x-ratelimit-*` headers for its answer, or `ApiError(429)` when over the limit."""
        now = self._clock()
        limit, window = self.rate.limit, self.rate.window
        with self._lock:
            stamps = self._window_of(key)
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                wait = stamps[0] + window - now
                raise self.exceeded(wait, stamps[-1] + window - now)
            stamps.append(now)
            remaining = limit - len(stamps)
            reset = stamps[-1] + window - now
        return self.headers(remaining, reset)

    def _window_of(self, key: str) -> deque[float]:
        stamps = self._windows.get(key)
        if stamps is None:
            stamps = self._windows[key] = deque(maxlen=self.rate.limit)
            if len(self._windows) > self.max_keys:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(key)
        return stamps

    def headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.rate.limit),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": format_duration(reset),
        }

    def exceeded(self, wait: float, reset: float) -> ApiError:
        wait = max(wait, 0.001)
        headers = {**self.headers(0, reset), **retry_headers(wait)}
        limit = self.rate.limit
        return ApiError(
            429,
            "Too Many Requests",
            code="rate_limit_exceeded",
            type="requests",
            openai_message=(
                f"Rate limit reached for images per {self.rate.period_name}: Limit {limit}, Used {limit}, "
                f"Requested 1. Please try again in {format_duration(wait)}."
            ),
            headers=headers,
        )

    def reset(self) -> None:
        """Every window emptied (a fresh test starts with the full allowance)."""
        with self._lock:
            self._windows.clear()

    def __len__(self) -> int:
        return len(self._windows)
