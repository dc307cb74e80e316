"""The running mock's state: one `MockState` per app, on `app.state.mock`, and `build_state(settings)` making it.

Its own module so that the API handlers (`app`), the admin API (`admin`) and the server (`server`) all read it
without importing one another.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import State
from starlette.requests import Request

from aiml_mock.core.contract import Contract, load_contract
from aiml_mock.core.faults import ContentPolicy, Faults, parse_latency
from aiml_mock.core.images import ImageCache
from aiml_mock.core.journal import ImageRegistry, Journal
from aiml_mock.core.ledger import Ledger
from aiml_mock.core.pricing import PriceTable, load_prices
from aiml_mock.core.ratelimit import RateLimiter, parse_rate_limit
from aiml_mock.core.settings import Settings
from aiml_mock.core.urls import UrlSigner
from aiml_mock.web._draining import Draining

FRONT_PENDING = "pending"  # `MockState.front` for the app to make (the state does not import the proxy)

if TYPE_CHECKING:
    from aiml_mock.web.redis_state import RedisState


@dataclass
class MockState:
    """Everything a running mock holds; the only mutable state, kept on `app.state.mock`."""

    settings: Settings
    contract: Contract
    cache: ImageCache
    signer: UrlSigner
    started: float = field(default_factory=time.time)
    journal: Journal = field(default_factory=Journal)
    images: ImageRegistry = field(default_factory=ImageRegistry)
    faults: Faults = field(default_factory=Faults)
    limiter: RateLimiter | None = None
    policy: ContentPolicy = field(default_factory=ContentPolicy)
    prices: PriceTable = field(default_factory=load_prices)
    ledger: Ledger = field(default_factory=Ledger)
    front: Any = None  # proxy.Front (made by the app, first FRONT_PENDING) when the settings replay or forward
    shared: RedisState | None = None  # `--state`: what replicas share lives there (redis_state.py)
    draining: Draining = field(default_factory=Draining)  # the server's shutdown, for requests still waiting

    def reset(self) -> None:
        """Per-test state cleared: the journal and the ledger, the images, fault rules (random faults restart),
        rate windows."""
        self.journal.clear()
        self.ledger.clear()
        self.images.clear()
        self.faults.reset()
        if self.limiter is not None:
            self.limiter.reset()


def build_state(settings: Settings) -> MockState:
    contract = load_contract(settings.profile, settings.effective_error_style, settings.success_status)
    given = settings.signing_key or settings.url_secret
    secret = given.encode() if given else secrets.token_bytes(32)
    rate = parse_rate_limit(settings.rate_limit) if settings.rate_limit else None
    state = MockState(
        settings=settings,
        contract=contract,
        cache=ImageCache(max_bytes=settings.image_cache_bytes),
        signer=UrlSigner(secret, settings.image_ttl),
        journal=Journal(settings.journal_size, settings.journal_bytes),
        images=ImageRegistry(settings.journal_size, settings.images_bytes),
        faults=Faults(rate=settings.fault_rate, kinds=settings.fault_kinds, seed=settings.seed,
                      latency=parse_latency(settings.latency), retry_after=settings.fault_retry_after,
                      stall=settings.stall_seconds, limit=rate.limit if rate else 5),
        limiter=RateLimiter(rate) if rate else None,
        policy=ContentPolicy(settings.content_policy_terms),
        # the proxy's budget is what it forwards in all (proxy.Front), not a mock key's balance
        ledger=Ledger(None if settings.upstream else settings.budget_usd, load_prices().credits_per_usd),
    )
    if settings.replay or settings.upstream:
        state.front = FRONT_PENDING
    if settings.state:
        share(state, settings.state)
    return state


def share(state: MockState, url: str) -> None:
    """Move what replicas share to the store at `url`. The fault registry counts as configured, so that every
    generation asks the store for its rule (and takes the task path: Redis is awaited)."""
    from aiml_mock.web.redis_state import RedisState, SharedJournal

    settings = state.settings
    state.shared = RedisState(url, journal_size=settings.journal_size, journal_bytes=settings.journal_bytes,
                              budget_credits=state.ledger.budget_credits, latency=state.faults.latency)
    state.journal = SharedJournal(state.shared, settings.journal_size, settings.journal_bytes)
    state.faults.configured = True


class AppState(State):
    """`app.state` with `mock` a plain attribute: read on every request without `State.__getattr__`."""

    mock: MockState

    def __setattr__(self, key: Any, value: Any) -> None:
        if key == "mock":
            object.__setattr__(self, key, value)
        else:
            super().__setattr__(key, value)


def state_of(request: Request) -> MockState:
    """The mock's state, from a request to its app."""
    state: MockState = request.app.state.mock
    return state
