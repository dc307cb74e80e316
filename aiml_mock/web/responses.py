"""Every answer the mock sends, in one module: request ids, `JSONAnswer` and the JSON and error answers built on it
(used by the API handlers and the admin API alike), and the transport faults, done for real.

An ASGI app cannot close its connection, and uvicorn answers 500 when an app returns without responding. So both
of the server's protocols (`--protocol stock|fast`) make the connection's transport reachable from each request's
scope (`transport.transport_of`). With it:

- `Dropped` closes the connection before any response (clients see "server disconnected");
- `Stalled` holds the answer (bounded) and ends as soon as the client gives up; after the bound it
  answers the provider's 504 "Generation timeout";
- `Truncated` sends the headers and half of the body, then closes (content-length promised more);
- `malformed()` is a complete response whose JSON body is cut short.

In-process (Starlette's `TestClient`, `httpx.ASGITransport`) there is no connection: `Dropped` raises
`ConnectionDropped` into the client instead, and `Truncated` ends the body early.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import os
import random
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from aiml_mock.core._unicode import writable
from aiml_mock.core.errors import ApiError, error_body, moderation_blocked_error, stream_error
from aiml_mock.core.faults import Fault
from aiml_mock.core.streaming import Frame, StreamPlan, error_frame, malformed_frame
from aiml_mock.web._draining import Draining, shutting_down
from aiml_mock.web.recording import exchange_of
from aiml_mock.web.state import MockState
from aiml_mock.web.transport import ConnectionDropped, in_task, transport_of

OPENAI_VERSION = "2020-10-01"
LINGER = 5.0  # seconds a closed connection may take to be reported lost before the handler returns anyway


_log = logging.getLogger("aiml_mock")
_ids = random.Random()  # request ids must be unique, not secret: a seeded PRNG costs a third of `secrets`
os.register_at_fork(after_in_child=_ids.seed)  # a forked worker must not repeat its parent's ids
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def new_request_id() -> str:
    """21 URL-safe characters, the shape of the provider's ids (`hRNOI9BMsuLeZ76UNdGhS`)."""
    return binascii.b2a_base64(_ids.randbytes(16), newline=False).translate(_URLSAFE)[:21].decode("ascii")


class JSONAnswer(Response):
    """A JSON response whose head is built directly: Starlette's `init_headers` (encoding a dict, checking for
    content-length and content-type) costs more than the rest of a small answer's framing. `head()` gives the
    header lines as one bytes object for `send_whole`; `raw_headers`, for every other way out, is made when
    first read."""

    media_type = "application/json"
    _raw: list[tuple[bytes, bytes]] | None = None

    def __init__(self, content: bytes, status: int, request_id: str, started: float,
                 extra: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.body = content
        self.background = None
        self.request_id = request_id
        self.elapsed = max(0, int((time.perf_counter() - started) * 1000))
        self.extra = extra

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        if self._raw is None:
            self._raw = [
                (b"content-length", b"%d" % len(self.body)), (b"content-type", b"application/json"),
                (b"x-request-id", self.request_id.encode("latin-1")), (b"openai-version", _OPENAI_VERSION),
                (b"openai-processing-ms", b"%d" % self.elapsed),
            ]
            if self.extra:
                self._raw += [(name.lower().encode("latin-1"), value.encode("latin-1"))
                              for name, value in self.extra.items()]
        return self._raw

    @raw_headers.setter
    def raw_headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        self._raw = headers

    def head(self, last: bytes) -> bytes:
        """The header lines (`name: value\r\n` each) as `raw_headers` has them, then `last`."""
        if self._raw is not None or self.extra:
            return b"".join([name + b": " + value + b"\r\n" for name, value in self.raw_headers]) + last
        return _HEAD % (len(self.body), self.request_id.encode("latin-1"), self.elapsed, last)


_HEAD = (b"content-length: %d\r\ncontent-type: application/json\r\nx-request-id: %s\r\n"
         b"openai-version: " + OPENAI_VERSION.encode() + b"\r\nopenai-processing-ms: %d\r\n%s")
_OPENAI_VERSION = OPENAI_VERSION.encode()


def api_headers(request_id: str, started: float, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers every API answer carries (request id, OpenAI's version and processing time), then `extra`."""
    headers = {
        "x-request-id": request_id,
        "openai-version": OPENAI_VERSION,
        "openai-processing-ms": str(max(0, int((time.perf_counter() - started) * 1000))),
    }
    if extra:
        headers.update(extra)
    return headers


def json_response(status: int, payload: Any, request_id: str | None = None, started: float | None = None,
                  headers: dict[str, str] | None = None) -> Response:
    """`payload` as a JSON answer with the API's headers (a new request id unless given). What JSON cannot write
    as it is (a lone surrogate a client sent, nesting past orjson's 255 levels) is written as `writable` shows it:
    an answer about what the mock stored never fails for what a client sent."""
    try:
        body = orjson.dumps(payload)
    except TypeError:
        body = orjson.dumps(writable(payload), default=str)
    return JSONAnswer(body, status, request_id or new_request_id(), started or time.perf_counter(), headers)


def error_response(error: ApiError, request: Request, request_id: str | None = None, started: float | None = None
                   ) -> Response:
    """An `ApiError` rendered in the configured dialect, with its headers (retry-after, allow...)."""
    request_id = request_id or new_request_id()
    state: MockState | None = getattr(request.app.state, "mock", None)
    style = state.contract.error_style if state else "aimlapi"
    body = error_body(error, style, request_id, request.url.path)
    return json_response(error.status, body, request_id, started or time.perf_counter(), error.headers)


async def wait_for_disconnect(receive: Receive, timeout: float, draining: Draining | None = None) -> bool:
    """Whether the client disconnected within `timeout` seconds (the request body must be read already). The
    wait also ends, answering False, once `draining` says the server's shutdown grace is over."""
    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    if draining is None:
        try:
            await asyncio.wait_for(gone(), timeout)
        except TimeoutError:
            return False
        return True
    if draining.over:
        return False
    left = asyncio.ensure_future(gone())
    stopping = asyncio.ensure_future(draining.event().wait())
    try:
        await asyncio.wait((left, stopping), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        left.cancel()
        stopping.cancel()
    return left.done() and not left.cancelled() and left.exception() is None


def _draining(scope: Scope) -> Draining | None:
    app = scope.get("app")
    state: MockState | None = getattr(getattr(app, "state", None), "mock", None)
    return state.draining if state is not None else None


async def pause(scope: Scope, receive: Receive, seconds: float) -> bool:
    """Added latency that stops early if the client leaves; True when it did (then nothing is answered). When the
    server's shutdown grace runs out meanwhile it stops too: the caller answers `shutting_down()` (`draining`)."""
    if seconds <= 0:
        return False
    if await wait_for_disconnect(receive, seconds, _draining(scope)):
        exchange_of(scope).status = 499
        return True
    return False


def draining_over(scope: Scope) -> bool:
    """Whether the server's shutdown grace has run out: a request still waiting is answered 503 now."""
    draining = _draining(scope)
    return draining is not None and draining.over


async def _close(scope: Scope, receive: Receive, transport: asyncio.Transport) -> None:
    exchange_of(scope).finish()  # journaled before the client can see the connection close
    transport.close()
    await wait_for_disconnect(receive, LINGER)  # uvicorn then knows: no 500 is sent, nothing is logged


class Unanswered(Response):
    """Nothing is sent: the client has already gone (recorded as 499)."""

    def __init__(self) -> None:
        super().__init__(b"", 499)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange_of(scope).status = 499


class Dropped(Response):
    """No response at all: the connection is closed as soon as the request has been read."""

    def __init__(self) -> None:
        super().__init__(b"", 500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = exchange_of(scope)
        exchange.status = 0
        transport = transport_of(scope)
        if transport is None:
            exchange.finish()
            raise ConnectionDropped("aiml-mock dropped the connection (fault 'drop'); in-process there is no "
                                    "socket to close, so the error is raised instead")
        await _close(scope, receive, transport)


class Stalled(Response):
    """No answer for up to `seconds`: ends (unanswered) when the client disconnects, else answers `then()`."""

    def __init__(self, seconds: float, then: Callable[[], Response]) -> None:
        super().__init__(b"", 504)
        self.seconds = seconds
        self.then = then

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await pause(scope, receive, self.seconds):
            return
        if draining_over(scope):
            await error_response(shutting_down(), Request(scope, receive))(scope, receive, send)
            return
        await self.then()(scope, receive, send)


class Truncated(Response):
    """A response cut off mid-body: the headers promise the whole body, half of it arrives, then the close."""

    def __init__(self, response: Response) -> None:
        super().__init__(b"", response.status_code)
        self.response = response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.response.body)
        await send({"type": "http.response.start", "status": self.response.status_code,
                    "headers": self.response.raw_headers})
        transport = transport_of(scope)
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": transport is not None})
        if transport is not None:
            await _close(scope, receive, transport)


def malformed(response: Response) -> Response:
    """The same response, complete, but with its JSON body cut short: what a broken gateway passes on."""
    body = bytes(response.body)
    headers: MutableMapping[str, str] = dict(response.headers)
    headers.pop("content-length", None)
    return Response(body[: len(body) // 2], response.status_code, dict(headers), response.media_type)


class EventStream(Response):
    """A `text/event-stream` answer (a streamed image), each frame encoded when it is due and sent as soon as it is.

    The head goes out at once; then, for each of the plan's frames: `gap` seconds of wait (the latency spread
    between frames) while the frame is encoded in a worker thread, then the frame. So the first partial image
    reaches the client as soon as it is encoded, not once the whole answer is, and a client that disconnects
    stops the encoding: the frame in progress is abandoned and no later one is started. A frame that fails to
    encode (a mock bug) is answered as an `error` frame ending the stream, and logged.

    `cut`: a fault that strikes after `after` frames: `drop` closes the connection, `truncate` sends half the next
    frame then closes, `malformed` sends a frame whose JSON is cut short (then ends the stream), `error` sends an
    `error` frame (then ends it). The journal entry's `response` is the stream's record, written when the stream
    ends: the event types sent, how many were `planned`, the bytes, whether the stream was sent whole and whether
    the client was still there at its end (`client_read_to_end`; a client that stops reading is seen once the
    connection closes).
    """

    media_type = "text/event-stream"

    def __init__(self, plan: StreamPlan, request_id: str, started: float, *, gap: float = 0.0,
                 cut: tuple[int, str, Frame | None] | None = None, extra: dict[str, str] | None = None) -> None:
        super().__init__(b"", 200)
        self.plan = plan
        self.gap = gap
        self.cut = cut
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
            (b"x-request-id", request_id.encode("latin-1")), (b"openai-version", _OPENAI_VERSION),
            (b"openai-processing-ms", b"%d" % max(0, int((time.perf_counter() - started) * 1000))),
            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (extra or {}).items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await in_task()  # the gaps wait with asyncio's timeouts, the frames are encoded in anyio's threads
        exchange = exchange_of(scope)
        record: dict[str, Any] = {"events": [], "planned": len(self.plan), "bytes": 0, "completed": False,
                                  "client_read_to_end": False}
        exchange.response, exchange.elided = {"stream": record}, 0
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        gone = asyncio.ensure_future(_disconnected(receive))
        strike, kind = (self.cut[0], self.cut[1]) if self.cut is not None else (-1, "")
        encoding: asyncio.Future[Frame] | None = None
        try:
            for index in range(len(self.plan)):
                if index != strike or kind == "truncate":
                    encoding = asyncio.ensure_future(anyio.to_thread.run_sync(
                        self.plan.frame, index, abandon_on_cancel=True))
                if index != strike and self.gap and await _settled(gone, self.gap):
                    break  # the client left during the gap
                event = await self._encoded(encoding, gone) if encoding is not None else None
                encoding = None
                if index == strike:
                    gone.cancel()  # `_close` waits for the disconnect itself
                    await self._strike(scope, receive, send, record, event)
                    return
                if event is None or _closing(scope):
                    break  # the client has gone
                await self._send(send, exchange, record, event)
                if event.type == "error":
                    break  # the frame could not be encoded: its error frame ends the stream
            else:
                record["completed"] = True
                record["client_read_to_end"] = not _closing(scope) and not gone.done()
            await send({"type": "http.response.body", "body": b""})
        finally:
            gone.cancel()
            if encoding is not None:
                encoding.cancel()  # nobody will read it: the thread's result is dropped

    async def _encoded(self, encoding: asyncio.Future[Frame], gone: asyncio.Future[None]) -> Frame | None:
        """The frame being encoded, or None if the client left first (its encoding is then abandoned)."""
        await asyncio.wait((encoding, gone), return_when=asyncio.FIRST_COMPLETED)
        if not encoding.done():
            encoding.cancel()
            return None
        try:
            return encoding.result()
        except Exception as error:  # a mock bug: said in the stream the way OpenAI says a failure, and logged
            _log.error("aiml-mock could not encode a streamed frame", exc_info=error)
            return error_frame(stream_error(ApiError(500)))

    async def _send(self, send: Send, exchange: Any, record: dict[str, Any], event: Frame, *, more: bool = True
                    ) -> None:
        record["events"].append(event.type)
        record["bytes"] += len(event.data)
        exchange.elided = record["bytes"]  # the journal keeps the record, not the images
        await send({"type": "http.response.body", "body": event.data, "more_body": more})

    async def _strike(self, scope: Scope, receive: Receive, send: Send, record: dict[str, Any], event: Frame | None
                      ) -> None:
        assert self.cut is not None
        _, kind, replacement = self.cut
        exchange = exchange_of(scope)
        exchange.elided = record["bytes"]
        record["fault"] = kind
        transport = transport_of(scope)
        if kind == "truncate" and event is not None:
            half = Frame(event.type, event.data[: len(event.data) // 2])
            await self._send(send, exchange, record, half, more=transport is not None)
        if kind in ("drop", "truncate"):
            if transport is None:
                raise ConnectionDropped(f"aiml-mock cut the stream (fault {kind!r}); in-process there is no socket")
            await _close(scope, receive, transport)
            return
        assert replacement is not None  # malformed, error: the frame that replaces this one, then the end
        await self._send(send, exchange, record, replacement)
        await send({"type": "http.response.body", "body": b""})


async def _disconnected(receive: Receive) -> None:
    """Returns once the client has disconnected (the request's body is read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _settled(gone: asyncio.Future[None], seconds: float) -> bool:
    """Wait up to `seconds`; True (at once) when `gone` is done: the client left."""
    await asyncio.wait((gone,), timeout=seconds)
    return gone.done()


def _closing(scope: Scope) -> bool:
    transport = transport_of(scope)
    return transport is not None and transport.is_closing()


def event_stream(plan: StreamPlan, fault: Fault | None, state: MockState, request_id: str, started: float,
                 limits: dict[str, str] | None) -> Response:
    """The streamed answer, with the fault (if any) placed among its frames and its latency between them."""
    gap, cut = 0.0, None
    if fault is not None:
        gap = fault.delay / len(plan)
        if fault.kind != "delay":
            last = len(plan) - 1
            at = min(fault.after, last) if fault.after is not None else 0 if fault.kind == "malformed" else last
            replacement: Frame | None = None
            if fault.kind == "malformed":
                replacement = malformed_frame(plan.types[at])
            elif fault.kind in ("error", "content_policy"):
                error = fault.error(state.faults.limit) if fault.kind == "error" else moderation_blocked_error()
                replacement = error_frame(stream_error(error))
            cut = (at, fault.kind if fault.kind != "content_policy" else "error", replacement)
    return EventStream(plan, request_id, started, gap=gap, cut=cut, extra=limits)
