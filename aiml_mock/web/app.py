"""The ASGI app: thin HTTP handlers over the pure core (auth -> validate -> build -> respond).

`create_app(settings)` returns a Starlette app. Every answer, errors from any route included, carries
`x-request-id` and OpenAI's informational headers; every error body is in the configured dialect.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from aiml_mock import __version__
from aiml_mock.core.auth import check_bearer
from aiml_mock.core.contract import IMAGE_PATH, Violation
from aiml_mock.core.errors import ApiError, out_of_credits_error
from aiml_mock.core.faults import FAULT_HEADER, LATENCY_HEADER, Fault
from aiml_mock.core.generation import (
    CONTENT_TYPES,
    image_bytes,
    image_specs,
    openai_usage,
    plan_for,
    resolved_settings,
    success_body,
)
from aiml_mock.core.images import RENDERER, ImageCache
from aiml_mock.core.ledger import TEST_HEADER
from aiml_mock.core.pricing import Cost
from aiml_mock.core.registry import etag, listing_requires_key, model_list, not_modified
from aiml_mock.core.settings import Settings
from aiml_mock.core.streaming import StreamPlan
from aiml_mock.core.urls import spec_from_name
from aiml_mock.core.validation import ImageRequest, check_content_type, parse_json, validate_request
from aiml_mock.web._edit_routes import EDIT_PREFIX, RENDERED_MAX, create_edit, create_variation, rendered_image
from aiml_mock.web._route_steps import (
    answer_fault,
    keep_images,
    mark_downloaded,
    pick_fault,
    shared_admit,
    shared_charge,
    shared_fault,
    strikes_mid_stream,
)
from aiml_mock.web.admin import admin_routes
from aiml_mock.web.cors import VARY_ORIGIN, CORSMiddleware, VaryOrigin
from aiml_mock.web.recording import ADMIN_PREFIX, RecordingMiddleware, exchange_of, open_exchange, route_violation
from aiml_mock.web.responses import (
    JSONAnswer,
    Truncated,
    Unanswered,
    api_headers,
    error_response,
    event_stream,
    json_response,
    malformed,
    new_request_id,
)
from aiml_mock.web.state import FRONT_PENDING, AppState, MockState, build_state, state_of
from aiml_mock.web.transport import INLINE_BODY_MAX, SEND_WHOLE_KEY, attach, hold, in_task, transport_of

BIG = 2048 * 2048  # pixels from which a JPEG, WebP or TIFF render takes milliseconds (4096x4096 JPEG ~13 ms)


def renders_slowly(fmt: str, width: int, height: int) -> bool:
    """Whether a first render belongs off the event loop: PNGs of any size take under a millisecond, other
    formats from 2048x2048 take several. The plain renderer (Pillow's private API unavailable) draws whole
    images (10-40 ms at 1024x1024, up to seconds at 8192x8192), so all of them."""
    return RENDERER == "plain" or (fmt != "png" and width * height >= BIG)
EXPOSED_HEADERS = [
    "x-request-id", "openai-processing-ms", "openai-version", "retry-after", "retry-after-ms",
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-should-retry",
    "x-mock-violations", "x-mock-replayed",  # the proxy's verdict and the replayed recording, for a browser too
]
CORS_OPTIONS: dict[str, Any] = {"allow_origins": ["*"], "allow_methods": ["*"], "allow_headers": ["*"],
                                "expose_headers": EXPOSED_HEADERS, "private_prefix": ADMIN_PREFIX}


def header_map(scope: Scope) -> dict[bytes, bytes]:
    """The request's raw headers by (lower-case) name, the first of repeated ones winning, as Starlette's
    `Headers.get` does: one dict for the handful a generation reads, where each `Headers.get` scans them all."""
    return dict(reversed(list(scope["headers"])))


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


def base_url_for(scope: Scope, headers: dict[bytes, bytes], settings: Settings) -> str:
    """Where image URLs point: `--public-url`, else the host the client used to reach us."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = _text(headers.get(b"host")) or f"{settings.host}:{settings.port}"
    return f"{scope.get('scheme', 'http')}://{host}"


async def read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes with 413 without reading the rest."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request body is too large: {declared.decode()} bytes, at most {limit} are accepted")
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body") and len(message["body"]) <= limit:
        body: bytes = message["body"]
        return body  # the whole body in one message: the common case
    return await _read_rest(receive, message, limit)


async def _read_rest(receive: Receive, message: Message, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"Request body is too large: more than {limit} bytes, at most {limit} are accepted")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


class Endpoint:
    """An ASGI endpoint for a handler `(scope, receive) -> Response`: Starlette routes to it as it is, without
    the `Request` and the exception-handling wrapper around `send` it builds for a plain function."""

    def __init__(self, handler: Callable[[Scope, Receive], Awaitable[Response]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(scope, receive)
        await response(scope, receive, send)


_JSON = b"application/json"
_AUTHORIZATION, _CONTENT_TYPE, _CONTENT_LENGTH = b"authorization", b"content-type", b"content-length"


async def create_image(scope: Scope, receive: Receive, headers: dict[bytes, bytes] | None = None) -> Response:
    """`POST /v1/images/generations`: auth, body, validation, faults, then the success body.

    `headers`: the request's `header_map`, when the caller has made it already.
    """
    started = time.perf_counter()
    request_id = new_request_id()
    state: MockState = scope["app"].state.mock
    settings = state.settings
    if headers is None:
        headers = header_map(scope)
    exchange = exchange_of(scope)
    limits: dict[str, str] | None = None
    fault: Fault | None = None
    body: Any = None
    try:
        key = exchange.key = check_bearer(_text(headers.get(_AUTHORIZATION)), settings.api_keys)
        shared = state.shared
        if state.limiter is not None:
            limits = state.limiter.admit(key) if shared is None else await shared_admit(shared, state.limiter, key)
        content_type = headers.get(_CONTENT_TYPE)
        if content_type != _JSON:
            check_content_type(_text(content_type))
        try:
            raw = await read_body(receive, headers.get(_CONTENT_LENGTH), settings.max_body_bytes)
            hold(scope)
        except ClientDisconnect:  # gone before its body was in: nothing to answer, journaled as 499
            return Unanswered()
        body = parse_json(raw)
        exchange.note_body(body, raw)
        image_request = validate_request(body, state.contract, strict=settings.strict)
        exchange.note_request(image_request)
        state.policy.check(image_request.prompt)
        streamed = image_request.params.get("stream") is True
        if state.faults.active or (settings.fault_headers and (_FAULT_HEADER in headers or _LATENCY_HEADER in headers)):
            fault_header, latency_header = _text(headers.get(_FAULT_HEADER)), _text(headers.get(_LATENCY_HEADER))
            fault = (pick_fault(state, exchange, image_request, key, fault_header, latency_header) if shared is None
                     else await shared_fault(state, shared, exchange, image_request, key, fault_header, latency_header))
            if fault is not None and not (streamed and strikes_mid_stream(fault)):
                await in_task()  # the delay and the stall wait with asyncio's timeouts
                early = await answer_fault(Request(scope, receive), fault, state, request_id, started)
                if early is not None:
                    return early
        cost = state.prices.cost(image_request.model, image_request.params, image_request.count, image_request.prompt)
        test = _text(headers.get(_TEST_HEADER))
        if not (state.ledger.charge(key, image_request.model, cost, test) if shared is None
                else await shared_charge(state, shared, key, image_request.model, cost, test)):
            raise out_of_credits_error(state.contract.error_style)
        now = time.time()
        if streamed:
            exchange.cost = cost
            events = generation_stream(image_request, seed=settings.seed, now=now, cache=state.cache, cost=cost)
            return event_stream(events, fault, state, request_id, started, limits)
        base_url = base_url_for(scope, headers, settings)
        plan = plan_for(state.contract, image_request.model)
        if image_request.response_format == "b64_json" and (renders_slowly(
                image_request.fmt, image_request.width, image_request.height)
                or image_request.params.get("background") == "transparent"):  # Pillow encodes RGBA: tens of ms
            build = functools.partial(success_body, image_request, seed=settings.seed, now=now, cache=state.cache,
                                      signer=state.signer, base_url=base_url, plan=plan, cost=cost)
            await in_task()  # anyio's threads need the running task
            payload = await anyio.to_thread.run_sync(build)
        else:
            payload = success_body(image_request, seed=settings.seed, now=now, cache=state.cache,
                                   signer=state.signer, base_url=base_url, plan=plan, cost=cost)
    except ApiError as error:
        exchange.note_error(error, body, state.contract)
        if limits:
            error.headers.update(limits)
        return error_response(error, Request(scope, receive), request_id, started)
    exchange.note_payload(payload, image_request, cost)
    keep_images(state, exchange, image_request, payload["data"], now)
    response = JSONAnswer(orjson.dumps(payload), state.contract.success_status(image_request.model), request_id,
                          started, limits)
    if fault is not None and fault.kind in ("truncate", "malformed"):
        return Truncated(response) if fault.kind == "truncate" else malformed(response)
    return response


_FAULT_HEADER, _LATENCY_HEADER = FAULT_HEADER.lower().encode(), LATENCY_HEADER.lower().encode()
_TEST_HEADER = TEST_HEADER.lower().encode()


def generation_stream(request: ImageRequest, *, seed: int, now: float, cache: ImageCache, cost: Cost) -> StreamPlan:
    """A streamed generation's events, each image rendered (through the cache) when its first frame is due."""
    specs = image_specs(request, seed)
    return StreamPlan("image_generation", len(specs), int(request.get("partial_images", 0)),
                      lambda index: image_bytes(specs[index], cache), fmt=request.fmt,
                      settings=resolved_settings(request), created=int(now), usage=openai_usage(cost))


async def get_image(request: Request) -> Response:
    started = time.perf_counter()
    request_id = new_request_id()
    state = state_of(request)
    name = request.path_params["image_file"]
    if name.startswith(EDIT_PREFIX):
        return await uploaded_image(request, name, state, request_id, started)
    try:
        spec = spec_from_name(name)
        state.signer.verify(name, request.query_params.get("se"), request.query_params.get("sig"), time.time())
        if spec.transparent or renders_slowly(spec.fmt, spec.width, spec.height):
            content = await anyio.to_thread.run_sync(image_bytes, spec, state.cache)
        else:
            content = image_bytes(spec, state.cache)
        await mark_downloaded(state, name, time.time())
        exchange_of(request.scope).model = spec.model
    except ApiError as error:
        return error_response(error, request, request_id, started)
    headers = api_headers(request_id, started, {"cache-control": "private, max-age=3600"})
    return Response(content, 200, headers, CONTENT_TYPES[spec.fmt])


async def uploaded_image(request: Request, name: str, state: MockState, request_id: str, started: float
                         ) -> Response:
    """An image drawn from an upload (a dall-e-2 edit or variation answered with a `url`), while it is kept
    (with `--state`, by any replica)."""
    try:
        state.signer.verify(name, request.query_params.get("se"), request.query_params.get("sig"), time.time())
        found = await rendered_image(state, name)
        if found is None:
            raise ApiError(404, f"Image {name!r} is no longer kept (the mock keeps the last {RENDERED_MAX})")
        await mark_downloaded(state, name, time.time())
    except ApiError as error:
        return error_response(error, request, request_id, started)
    return Response(found[0], 200, api_headers(request_id, started, {"cache-control": "private, max-age=3600"}),
                    found[1])


async def list_models(request: Request) -> Response:
    started = time.perf_counter()
    request_id = new_request_id()
    state = state_of(request)
    try:
        if listing_requires_key(state.contract):  # the AI/ML API lists models without a key; OpenAI does not
            check_bearer(request.headers.get("authorization"), state.settings.api_keys)
    except ApiError as error:
        return error_response(error, request, request_id, started)
    body = orjson.dumps(model_list(state.contract, request.query_params.multi_items(), int(state.started)))
    tag = etag(body)
    headers = api_headers(request_id, started, {"etag": tag})
    if not_modified(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, 200, headers, "application/json")


async def health(request: Request) -> Response:
    state = state_of(request)
    body: dict[str, Any] = {"status": "ok", "version": __version__, "profile": state.settings.profile}
    if state.shared is not None:  # answering either way (a store away is failed open), but say how it stands
        body["state"] = {"url": state.shared.shown_url, "reachable": await state.shared.reachable()}
    return json_response(200, body)


async def openapi(request: Request) -> Response:
    """The contract this server answers by, with its error dialect and success status applied."""
    state = state_of(request)
    return Response(state.contract.to_json(), 200, api_headers(new_request_id(), time.perf_counter()),
                    "application/json")


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method) in the API's error shape."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        message = f"Cannot {request.method} {request.url.path}"
    elif status == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    if status in (404, 405):
        exchange_of(request.scope).violations = route_violation(request.method, request.url.path)
    return error_response(ApiError(status, message, headers=dict(exc.headers or {})), request)


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug of ours still answers in the API's shape, never with a traceback."""
    return error_response(ApiError(500), request)


_FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto")
_FORWARDED_SEEN = "aiml_mock.forwarded"
_FRONT_SEEN = "aiml_mock.front"
_FRONT_KEY, _FRONT_HANDLED, _UNWRAPPED_SEND = "aiml_mock.front_app", "aiml_mock.front_handled", "aiml_mock.send"


async def answer_front(scope: Scope, receive: Receive, send: Send) -> None:
    """The front (`MockApp._front`'s) as the ASGI app inside the front's CORS layer: whether it answered, noted."""
    scope[_FRONT_HANDLED] = await scope[_FRONT_KEY](scope, receive, send)
_HEADERS = "aiml_mock.headers"  # the request's `header_map`, when `runs_inline` has made it
_VARY_ORIGIN_LINE = VARY_ORIGIN[0] + b": " + VARY_ORIGIN[1] + b"\r\n"


class MockApp(Starlette):
    """The mock's Starlette app. A generation request without an `Origin` (SDKs, curl, load tests: nearly every
    request the mock gets) skips the middleware stack and the router for `serve_generation`, which does what
    those layers do for it; everything else takes the stack.

    `X-Forwarded-*` from a trusted proxy is honoured by uvicorn's own middleware, which the app applies to the
    requests that carry such headers (`honour_forwarded_headers`) instead of uvicorn wrapping every request.
    """

    forwarded: ASGIApp | None = None
    front_cors: ASGIApp = CORSMiddleware(answer_front, **CORS_OPTIONS)  # stateless: one for every app

    def honour_forwarded_headers(self, trusted_hosts: list[str] | str) -> None:
        """What uvicorn's `proxy_headers=True` does (set the scheme and client from `X-Forwarded-Proto` and
        `X-Forwarded-For` sent by these hosts), for a server run with `proxy_headers=False`."""
        app: Any = self  # uvicorn types ASGI apps with its own scope types, Starlette with plain mappings
        middleware: Any = ProxyHeadersMiddleware(app, trusted_hosts)
        self.forwarded = middleware

    def runs_inline(self, scope: Scope) -> bool:
        """Whether uvicorn's protocol may run this request inline (`_protocol`'s docstring): a generation taking
        the fast path, with a small declared body, that no configured fault or fault header will make wait."""
        if scope["path"] != IMAGE_PATH or scope["method"] != "POST" or scope.get("root_path"):
            return False
        if self.state.mock.front is not None:  # replay and forwarding wait for files and the network
            return False
        headers = scope[_HEADERS] = header_map(scope)
        declared = headers.get(_CONTENT_LENGTH)
        if declared is None or not declared.isdigit() or int(declared) > INLINE_BODY_MAX or b"origin" in headers:
            return False
        if self.forwarded is not None and (_FORWARDED[0] in headers or _FORWARDED[1] in headers):
            return False
        state: MockState = self.state.mock
        if state.faults.active:
            return False
        return not state.settings.fault_headers or (_FAULT_HEADER not in headers and _LATENCY_HEADER not in headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.state.mock.front  # proxy.Front: replay and forwarding, before the mock's own answers
        if front is not None and scope["type"] == "http" and not scope.get(_FRONT_SEEN):
            if front is FRONT_PENDING:
                front = make_front(self.state.mock)
            scope["app"] = self
            if await self._front(front, scope, receive, send):
                return
        if scope["type"] == "http":
            attach(scope)  # under `stock`: the connection's transport, found before a proxy's headers apply
            hold(scope, unless_body=True)  # the headers are in; a body is timed until its handler has read it
            if header_bytes(scope["headers"]) > self.state.mock.settings.max_header_bytes:
                scope["app"] = self
                await headers_too_large(scope, receive, send)
                return
            if scope["path"] == IMAGE_PATH and scope["method"] == "POST":
                headers = scope.get(_HEADERS) or header_map(scope)
                if self.forwarded is not None and (_FORWARDED[0] in headers or _FORWARDED[1] in headers):
                    if await self._forward(scope, receive, send):
                        return
                if b"origin" not in headers and not scope.get("root_path"):
                    scope["app"] = self
                    await serve_generation(scope, receive, send, headers)
                    return
        if self.forwarded is not None and scope["type"] in ("http", "websocket") and any(
                name in _FORWARDED for name, _ in scope["headers"]):
            if await self._forward(scope, receive, send):
                return
        if scope["type"] == "http" and transport_of(scope) is not None:
            await self.on_connection(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _front(self, front: Any, scope: Scope, receive: Receive, send: Send) -> bool:
        """The front's answer under the same CORS layer as the mock's own answers (a browser's preflight answered
        here, not forwarded; none of it on the admin API); False when the front leaves the request to the mock."""
        scope[_FRONT_KEY], scope[_UNWRAPPED_SEND] = front, send
        try:
            await self.front_cors(scope, receive, send)
            handled: bool = scope.pop(_FRONT_HANDLED, True)  # a preflight never reaches the front
            return handled
        finally:
            scope.pop(_FRONT_KEY, None)
            scope.pop(_UNWRAPPED_SEND, None)

    async def serve_mock(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The mock's own answer, for a request the front passes on (`--replay-miss mock`): sent as the mock's
        answers are, through its own CORS layer, not the front's too."""
        scope[_FRONT_SEEN] = True
        await self(scope, receive, scope.get(_UNWRAPPED_SEND, send))

    async def on_connection(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The stack, for a request on a real connection. A bug of ours has been answered with the 500 in the
        dialect by then (`server_error`, from Starlette's `ServerErrorMiddleware`, which re-raises it for the
        server to log): here its traceback is logged once and the connection kept, where uvicorn would log it and
        close the connection under the client's next request. Half an answer sent, the exception goes on: uvicorn
        closes the connection, the only honest end of it. In-process, every exception goes on to the test client."""
        watched = _Watched(send)
        try:
            await super().__call__(scope, receive, watched)
        except Exception as error:
            if not watched.complete:
                raise
            log_bug(error)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Through uvicorn's proxy-headers middleware, which calls this app again; False when it already has."""
        if scope.get(_FORWARDED_SEEN):
            return False
        scope[_FORWARDED_SEEN] = True
        assert self.forwarded is not None
        await self.forwarded(scope, receive, send)
        return True


def header_bytes(headers: list[tuple[bytes, bytes]]) -> int:
    """The bytes of a request's header names and values (a loop: on the hot path, no generator made)."""
    size = 0
    for name, value in headers:
        size += len(name) + len(value)
    return size


async def headers_too_large(scope: Scope, receive: Receive, send: Send) -> None:
    """431 in the API's shape, then the connection closes: headers past `max_header_bytes` are not read further
    into anything, and the journal keeps them shortened (`journal.scrub_headers`)."""
    state: MockState = scope["app"].state.mock
    limit, size = state.settings.max_header_bytes, header_bytes(scope["headers"])
    message = f"Request headers are too large: {size} bytes, at most {limit} are accepted"
    exchange = None if scope["path"].startswith(ADMIN_PREFIX) else open_exchange(scope)
    if exchange is not None:
        exchange.violations = (Violation("headers", "maxBytes", size, message),)
    error = ApiError(431, message, openai_message=message + ".", headers={"connection": "close"})
    response = error_response(error, Request(scope, receive))
    await response(scope, receive, exchange.watch(send) if exchange is not None else send)


async def serve_generation(scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes] | None = None
                           ) -> None:
    """`create_image` without the stack around it, doing inline what its layers do: the journal entry (as
    `RecordingMiddleware`), `Vary: Origin` (as the CORS layer, for a request without Origin) and, for a bug,
    the 500 in the dialect (as Starlette's `ServerErrorMiddleware`), then what `MockApp.on_connection` does.

    Those layers wrapped each message in three more coroutines: a quarter of a `url` answer's cost.
    tests/test_fast_path.py holds both paths to the same answers and journal entries.
    """
    exchange = open_exchange(scope)
    started = complete = False
    watched: _Watched | None = None
    try:
        response = await create_image(scope, receive, headers)
        if type(response) is JSONAnswer:  # the common case, sent without wrappers
            body = bytes(response.body)
            status = response.status_code
            if exchange is not None:
                exchange.sending({"type": "http.response.start", "status": status}, body, json=True)
                if exchange.pending is not None:
                    await exchange.pending
            started = True
            extensions = scope.get("extensions")
            whole = extensions.get(SEND_WHOLE_KEY) if extensions else None
            closing = response.extra is not None and "connection" in response.extra  # uvicorn must see it
            if whole is None or closing or not whole(status, response.head(_VARY_ORIGIN_LINE), body):
                await send({"type": "http.response.start", "status": status,
                            "headers": [*response.raw_headers, VARY_ORIGIN]})
                await send({"type": "http.response.body", "body": body})
            complete = True
        else:  # faults: stalled, dropped, truncated... answers
            watched = _Watched(send)
            await response(scope, receive, VaryOrigin(exchange.watch(watched) if exchange else watched))
    except Exception as error:
        if exchange is not None:
            exchange.failed()
            exchange.finish()
        if watched is not None:
            started, complete = watched.started, watched.complete
        if not started:
            await error_response(ApiError(500), Request(scope, receive))(scope, receive, send)
            complete = True
        if not (complete and transport_of(scope) is not None):
            raise
        log_bug(error)
    except BaseException:
        if exchange is not None:
            exchange.failed()
        raise
    finally:
        if exchange is not None:
            exchange.finish()


class _Watched:
    """An ASGI `send`, noting how far the answer has gone: whether a bug can still be answered, or was."""

    __slots__ = ("complete", "send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = self.complete = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self.send(message)


def log_bug(error: Exception) -> None:
    """A bug's traceback, in the server's log as uvicorn words it (the one time it is logged)."""
    logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=error)


def create_app(settings: Settings | None = None) -> Starlette:
    """The mock as an ASGI app, e.g. for `httpx.ASGITransport(app=create_app())` or uvicorn."""
    settings = settings or Settings()
    routes = [
        Route("/v1/images/generations", Endpoint(create_image), methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/images/{image_file:str}", get_image, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    routes.append(Route("/v1/images/edits", create_edit, methods=["POST"]))  # aimlapi: gpt-image-1/-2 only
    if settings.profile == "openai":
        routes.append(Route("/v1/images/variations", create_variation, methods=["POST"]))
    if settings.admin:
        routes += admin_routes()
    middleware = [
        Middleware(RecordingMiddleware),
        Middleware(CORSMiddleware, **CORS_OPTIONS),
    ]
    app = MockApp(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_exception, Exception: server_error},
        lifespan=lifespan,
    )
    app.state = AppState()
    app.state.mock = build_state(settings)
    make_front(app.state.mock)  # at start-up: a cassette that cannot load or a missing extra says so now
    return app


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """At shutdown, after the last request: the proxy's connections to its upstream closed."""
    yield
    front = app.state.mock.front
    if front is not None and front is not FRONT_PENDING:
        await front.aclose()


def make_front(state: MockState) -> Any:
    """The state's `proxy.Front` (replay, forwarding), made once; a missing extra raises `MissingExtra` here."""
    if state.front is FRONT_PENDING:
        from aiml_mock.web.proxy import Front

        state.front = Front(state)
    return state.front


def create_app_from_env() -> Starlette:
    """For uvicorn's worker processes (`--workers N`): settings from `AIML_MOCK_*` variables."""
    app = create_app(Settings.from_env())
    settle_heap()
    return app


def settle_heap() -> None:
    """For a server process, once its app is built: take what start-up made (modules, the contract documents,
    validators) out of the cyclic garbage collector's sight. Tracked, they made every full collection walk
    ~35k objects (~25 ms on a 2-core VM): a pause for every request in flight, every few thousand requests."""
    gc.collect()
    gc.freeze()
