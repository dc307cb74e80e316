"""Stopping with requests in flight: what a SIGTERM does to a delayed or stalled answer.

When the server begins to shut down (`Draining.begin`), requests still waiting (an added latency, a stall)
get up to `grace` seconds to finish as they would have; then their waits end and each is answered 503 in the
API's error shape with `connection: close` (`shutting_down`). The server's own graceful-shutdown timeout is
set past the grace, so it never has to cancel a request (uvicorn's plain-text 500 and a traceback each).
"""

from __future__ import annotations

import asyncio

from aiml_mock.core.errors import ApiError


class Draining:
    """Whether the server is shutting down, as an event that waits can race (made in the server's loop)."""

    __slots__ = ("_event", "_timer")

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None

    def begin(self, grace: float) -> None:
        """The server stops taking requests: waits in flight end `grace` seconds from now."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(max(grace, 0.0), self.event().set)

    def event(self) -> asyncio.Event:
        """The event set when waits must end (for the running loop: a new server makes a new one)."""
        event = self._event
        if event is None:
            event = self._event = asyncio.Event()
        return event

    @property
    def over(self) -> bool:
        """Whether the grace has run out: a wait that ends now must answer `shutting_down()`."""
        return self._event is not None and self._event.is_set()

    def reset(self) -> None:
        """For a server starting (again) with this state: not shutting down, no event of an old loop."""
        if self._timer is not None:
            self._timer.cancel()
        self._event = self._timer = None


def shutting_down() -> ApiError:
    """The answer to a request the server could not finish before it stopped: 503, and the connection closes."""
    message = "The mock server is shutting down and did not finish this request; retry against a running server"
    return ApiError(503, message, openai_message=message + ".", headers={"connection": "close"})
