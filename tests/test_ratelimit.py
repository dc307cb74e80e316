"""Rate limiting per API key: a true sliding window, the headers clients read, the real 429."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from aiml_mock.core.errors import ApiError
from aiml_mock.core.ratelimit import RateLimit, RateLimiter, parse_rate_limit
from tests.conftest import AUTH, PROMPT

GENERATE = "/v1/images/generations"
BODY = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(text: str, clock: Clock, **options: int) -> RateLimiter:
    return RateLimiter(parse_rate_limit(text), clock=clock, **options)


@pytest.mark.parametrize(
    ("text", "limit", "window"),
    [("5/min", 5, 60), ("10/s", 10, 1), ("100/hour", 100, 3600), ("1000/day", 1000, 86400), ("5/10s", 5, 10),
     (" 3 / 2m ", 3, 120)],
)
def test_rate_limits_read_requests_per_period(text: str, limit: int, window: float) -> None:
    rate = parse_rate_limit(text)
    assert (rate.limit, rate.window) == (limit, window)


@pytest.mark.parametrize("text", ["lots", "5", "5/fortnight", "0/min", "-1/min"])
def test_bad_rate_limits_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit|positive"):
        parse_rate_limit(text)


def test_admitted_requests_get_the_headers_clients_read() -> None:
    clock = Clock()
    rate = limiter("3/min", clock)
    assert rate.admit("k") == {"x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "2",
                               "x-ratelimit-reset-requests": "1m0s"}
    clock.now += 15
    assert rate.admit("k")["x-ratelimit-remaining-requests"] == "1"


def test_over_the_limit_is_the_real_429_with_the_wait() -> None:
    clock = Clock()
    rate = limiter("2/10s", clock)
    rate.admit("k")
    clock.now += 4
    rate.admit("k")
    clock.now += 1
    with pytest.raises(ApiError) as caught:
        rate.admit("k")
    error = caught.value
    assert error.status == 429 and error.code == "rate_limit_exceeded" and error.type == "requests"
    # the first request leaves the window 5 s from now
    assert error.headers["retry-after-ms"] == "5000" and error.headers["retry-after"] == "5"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert "Limit 2" in (error.openai_message or "")


def test_the_window_slides_rather_than_resetting_on_the_clock() -> None:
    clock = Clock()
    rate = limiter("2/10s", clock)
    rate.admit("k")  # t=0
    clock.now += 1
    rate.admit("k")  # t=1
    clock.now += 9  # t=10: the first has left the window, the second has not
    rate.admit("k")
    clock.now += 0.5  # t=10.5: a fixed window would have reset; the sliding one still holds t=1 and t=10
    with pytest.raises(ApiError) as caught:
        rate.admit("k")
    assert caught.value.headers["retry-after-ms"] == "500"
    clock.now += 0.5  # t=11: t=1 has left
    assert rate.admit("k")["x-ratelimit-remaining-requests"] == "0"


def test_refused_requests_do_not_use_up_the_allowance() -> None:
    clock = Clock()
    rate = limiter("1/10s", clock)
    rate.admit("k")
    for _ in range(5):
        with pytest.raises(ApiError):
            rate.admit("k")
    clock.now += 10
    rate.admit("k")


def test_each_key_has_its_own_window() -> None:
    rate = limiter("1/min", Clock())
    rate.admit("a")
    rate.admit("b")
    with pytest.raises(ApiError):
        rate.admit("a")


def test_memory_is_bounded_by_the_number_of_keys() -> None:
    rate = limiter("5/min", Clock(), max_keys=3)
    for index in range(100):
        rate.admit(f"key-{index}")
    assert len(rate) == 3


def test_reset_gives_back_the_full_allowance() -> None:
    rate = limiter("1/min", Clock())
    rate.admit("k")
    rate.reset()
    assert rate.admit("k")["x-ratelimit-remaining-requests"] == "0"


def test_a_rate_limit_prints_as_given() -> None:
    assert str(parse_rate_limit("5/min")) == "5/min" and str(RateLimit(2, 90.0)) == "2/1m30s"


# -- the app ---------------------------------------------------------------------------------------


def test_every_generation_answer_carries_the_headers_while_configured(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit="3/min")
    ok = client.post(GENERATE, json=BODY, headers=AUTH)
    bad = client.post(GENERATE, json={"model": "dall-e-2"}, headers=AUTH)
    assert ok.status_code == 201 and ok.headers["x-ratelimit-remaining-requests"] == "2"
    assert bad.status_code == 400 and bad.headers["x-ratelimit-remaining-requests"] == "1"
    assert ok.headers["x-ratelimit-limit-requests"] == "3"


def test_no_rate_limit_headers_without_a_rate_limit(make_client: Callable[..., TestClient]) -> None:
    assert "x-ratelimit-limit-requests" not in make_client().post(GENERATE, json=BODY, headers=AUTH).headers


def test_the_app_answers_429_over_the_limit_per_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit="2/min", error_style="openai")
    assert [client.post(GENERATE, json=BODY, headers=AUTH).status_code for _ in range(3)] == [201, 201, 429]
    refused = client.post(GENERATE, json=BODY, headers=AUTH)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded" and refused.json()["error"]["type"] == "requests"
    assert 0 < int(refused.headers["retry-after-ms"]) <= 60_000 and refused.headers["retry-after"]
    other = client.post(GENERATE, json=BODY, headers={"Authorization": "Bearer sk-other"})
    assert other.status_code == 201


def test_the_429_in_the_aimlapi_dialect(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit="1/min")
    client.post(GENERATE, json=BODY, headers=AUTH)
    refused = client.post(GENERATE, json=BODY, headers=AUTH)
    assert refused.status_code == 429 and refused.json()["message"] == "Too Many Requests"


def test_resetting_the_state_restores_the_allowance(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit="1/min")
    client.post(GENERATE, json=BODY, headers=AUTH)
    client.app.state.mock.reset()  # type: ignore[attr-defined]
    assert client.post(GENERATE, json=BODY, headers=AUTH).status_code == 201
