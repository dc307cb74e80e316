"""The steps generations, edits and variations share between validation and the answer: the rate limit, the
fault, the charge, the images kept; in this process, or with `--state` in the shared store, failing open.

Each route calls the in-process step as `local(...) if state.shared is None else await shared_step(...)`: the
in-memory path stays free of awaits (generations' fast path), and every route goes through the same code.
While the store is away a shared step lets the request through (no limit, no scripted rule, nothing booked);
the journal marks the gap (`RedisState.unrecorded`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from aiml_mock.core.errors import ApiError, StoreUnavailable
from aiml_mock.core.faults import Fault
from aiml_mock.core.pricing import Cost
from aiml_mock.core.ratelimit import RateLimiter
from aiml_mock.core.validation import ImageRequest
from aiml_mock.web._draining import shutting_down
from aiml_mock.web.recording import Exchange
from aiml_mock.web.responses import Dropped, Stalled, Unanswered, draining_over, error_response, pause
from aiml_mock.web.state import MockState

if TYPE_CHECKING:
    from aiml_mock.web.redis_state import RedisState


# -- the rate limit ----------------------------------------------------------------------------------


async def shared_admit(shared: RedisState, limiter: RateLimiter, key: str) -> dict[str, str] | None:
    """`RateLimiter.admit` over every replica's requests (no limit while the store is away)."""
    try:
        return await shared.admit(limiter, key)
    except StoreUnavailable:
        return None


# -- the fault ---------------------------------------------------------------------------------------


def pick_fault(state: MockState, exchange: Exchange, request: ImageRequest, key: str, fault_header: str | None,
               latency_header: str | None) -> Fault | None:
    """The fault (or latency) this request gets, from the configured rules or its own headers (honoured only
    with `--fault-headers`); noted on its journal entry."""
    honoured = state.settings.fault_headers
    fault = state.faults.pick(request, key, fault_header if honoured else None, latency_header if honoured else None)
    if fault is not None:
        exchange.fault = fault.label
    return fault


async def shared_fault(state: MockState, shared: RedisState, exchange: Exchange, request: ImageRequest, key: str,
                       fault_header: str | None, latency_header: str | None) -> Fault | None:
    """`pick_fault` with the scripted rules (and their `times`) taken from the store; none apply while it is away."""
    honoured = state.settings.fault_headers
    fault_header, latency_header = (fault_header, latency_header) if honoured else (None, None)
    try:
        fault = await shared.pick(state.faults, request, key, fault_header, latency_header)
    except StoreUnavailable:
        fault = state.faults.pick(request, key, fault_header, latency_header, shared=True)
    if fault is not None:
        exchange.fault = fault.label
    return fault


async def answer_fault(request: Request, fault: Fault, state: MockState, request_id: str, started: float
                       ) -> Response | None:
    """Wait the fault's delay, then: raise its HTTP error, or answer drop/stall; None to answer normally."""
    scope, receive = request.scope, request.receive
    if await pause(scope, receive, fault.delay):
        return Unanswered()  # the client left during the delay
    if draining_over(scope):
        raise shutting_down()  # SIGTERM: the delay outlasted the shutdown grace
    if fault.kind == "drop":
        return Dropped()
    if fault.kind == "stall":
        return Stalled(fault.stall, lambda: error_response(ApiError(504), request, request_id, started))
    if fault.kind in ("error", "content_policy"):
        raise fault.error(state.faults.limit)
    return None


def strikes_mid_stream(fault: Fault) -> bool:
    """Whether a fault acts inside a streamed answer (its latency spread between frames, `drop@1`, `malformed`,
    `truncate`) rather than before it (a plain `drop`, `stall` or HTTP error)."""
    return fault.kind in ("delay", "malformed", "truncate") or fault.after is not None


# -- the charge --------------------------------------------------------------------------------------


async def shared_charge(state: MockState, shared: RedisState, key: str, model: str, cost: Cost, test: str | None
                        ) -> bool:
    """`Ledger.charge` against every replica's spend (answered, not booked, while the store is away)."""
    try:
        return await shared.charge(key, model, cost, test or state.ledger.test)
    except StoreUnavailable:
        return True


# -- the images --------------------------------------------------------------------------------------


def keep_images(state: MockState, exchange: Exchange, request: ImageRequest, data: Sequence[Any], now: float
                ) -> None:
    """A success's images in the registry (`GET /__mock/images`): this process's, or with `--state` the store's,
    written with the request's journal entry."""
    if state.shared is None:
        state.images.register(request, data, created=now, ttl=state.signer.ttl, entry_id=exchange.id)
    else:
        exchange.images = state.shared.image_batch(request, data, created=now, ttl=state.signer.ttl)


async def mark_downloaded(state: MockState, name: str, now: float) -> None:
    """Count a fetch of an image URL (in the store with `--state`; not counted while it is away)."""
    if state.shared is None:
        state.images.mark_downloaded(name, now)
    else:
        with contextlib.suppress(StoreUnavailable):
            await state.shared.mark_downloaded(name, now)
