"""The validating proxy and the cassette front: what answers API requests when `upstream` or `replay` is set.

`Front` sits before the mock's own handlers (`MockApp` asks it first; `/health`, `/openapi.json` and the
admin API stay the mock's). For an API request it answers, in this order: from the cassette (`replay`,
unless `record_mode` is `all`); through the upstream (`upstream`, with `record_mode` once or all, or no
cassette at all), recording the exchange; else the miss (`replay_miss`: the error naming the closest
recording, or the mock's own answer). Forwarded exchanges are checked both ways against the contract,
never changed: the count goes in `x-mock-violations`, the verdicts in the journal. The spend guard
(`budget_usd`, `max_requests`) answers locally, without forwarding, once the next request would pass it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from aiml_mock.core._extras import require
from aiml_mock.core.auth import redact
from aiml_mock.core.cassette import (
    Cassette,
    Recording,
    bearer_secrets,
    extract_images,
    image_urls,
    normalise_body,
    redact_fields,
    redact_headers,
    store_event_stream,
)
from aiml_mock.core.contract import IMAGE_PATH, Violation
from aiml_mock.core.errors import ApiError, StoreUnavailable, out_of_credits_error, upstream_error
from aiml_mock.core.journal import Entry, RedactedHeaders, elide_images, estimate_size
from aiml_mock.core.ledger import TEST_HEADER
from aiml_mock.core.pricing import Cost
from aiml_mock.core.settings import DEFAULT_UPSTREAM
from aiml_mock.core.validation import validate_request
from aiml_mock.web.replay import CASSETTE_ROUTE, miss_error, replay_answer, replay_events, serve_file
from aiml_mock.web.responses import error_response, new_request_id

if TYPE_CHECKING:
    import httpx

    from aiml_mock.web.state import MockState

VIOLATIONS_HEADER = "x-mock-violations"
KEEPALIVE_EXPIRY = 4.0  # seconds an idle upstream connection is kept: under uvicorn's 5 s keep-alive timeout
CONNECT_TIMEOUT = 15.0
FORWARD_BODY_MAX = 64 * 1024 * 1024  # uploads (image edits) and b64 answers are larger than the mock's own cap
_OWN = ("/health", "/openapi.json")
_NOT_FORWARDED = frozenset({b"host", b"content-length", b"connection", b"transfer-encoding", b"accept-encoding",
                            b"keep-alive", b"te", b"upgrade", b"x-mock-test"})
_NOT_RETURNED = frozenset({"content-length", "connection", "transfer-encoding", "content-encoding", "keep-alive"})


class Front:
    """Answers API requests from the cassette or the upstream (see the module's docstring)."""

    def __init__(self, state: MockState) -> None:
        settings = state.settings
        self.settings = settings
        self.cassette = Cassette(settings.replay, settings.replay_ignore, settings.redact_headers) \
            if settings.replay else None
        upstream = settings.upstream or (DEFAULT_UPSTREAM if settings.record_mode != "none" else None)
        self.upstream = upstream.rstrip("/") if upstream else None
        self.forwards = self.upstream is not None and (self.cassette is None or settings.record_mode != "none")
        self.clock: Callable[[], float] = time.time  # signs and checks replayed image URLs: tests move it on
        self.forwarded = 0
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if self.forwards:
            require("httpx", feature="aiml-mock proxy (forwarding to --upstream)", extra="proxy")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request and return True, or return False for the mock to answer it."""
        path: str = scope["path"]
        if path in _OWN or path.startswith("/__mock"):
            return False
        if path.startswith(CASSETTE_ROUTE):
            if self.cassette is None:
                return False
            await serve_file(self.cassette, self.clock, scope, receive, send)
            return True
        if not self.forwards and not path.startswith("/v1/"):
            return False  # replay only: the mock's own image URLs and routes
        state: MockState = scope["app"].state.mock
        started = time.perf_counter()
        try:
            raw = await _read_all(receive)
        except ApiError as error:
            await error_response(error, Request(scope, receive))(scope, receive, send)
            return True
        except _Gone:
            return True
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        lowered = {name.lower(): value for name, value in reversed(headers)}
        content_type = lowered.get("content-type", "")
        body = redact_fields(normalise_body(content_type, raw))
        method, query = scope["method"], scope["query_string"].decode("latin-1")
        settings = self.settings
        if self.cassette is not None and settings.record_mode != "all":
            found = self.cassette.find(method, path, query, body)
            if isinstance(found, Recording):
                await self._replay(scope, receive, send, found, state, started, raw, lowered)
                return True
            if not self.forwards:
                if settings.replay_miss == "mock":
                    await scope["app"].serve_mock(scope, _replayed_body(raw, receive), send)
                    return True
                miss = miss_error(found.message(method, path, self.cassette.root))
                await self._local(scope, receive, send, miss, state, started, raw, lowered)
                return True
        await self._forward(scope, receive, send, state, started, raw, headers, lowered)
        return True

    # -- replay --

    async def _replay(self, scope: Scope, receive: Receive, send: Send, recording: Recording, state: MockState,
                      started: float, raw: bytes, lowered: dict[str, str]) -> None:
        assert self.cassette is not None
        status, recorded, content = replay_answer(recording, self.cassette, _base_url(scope, lowered, state),
                                                  state.signer, self.clock())
        headers = dict(own_cors(list(recorded.items())))
        violations = self._request_violations(scope, raw, lowered, state)
        events = replay_events(recording, self.cassette)
        if events is not None:
            await self._replay_events(scope, send, status, headers, events)
            await self._journal(state, scope, lowered, raw, status, None, violations, started, None, None)
            await send({"type": "http.response.body", "body": b""})
            return
        delay = _latency(self.settings.replay_latency, recording.response.get("latency_ms", 0.0))
        if delay:
            await asyncio.sleep(delay)
        parsed = _json_or_none(content, headers.get("content-type", ""))
        await self._journal(state, scope, lowered, raw, status, parsed, violations, started, None, None)
        await Response(content, status, headers)(scope, receive, send)

    async def _replay_events(self, scope: Scope, send: Send, status: int, headers: dict[str, str],
                             events: list[tuple[bytes, float]]) -> None:
        """A recorded event stream, event by event (with `--replay-latency`, each when it had arrived, scaled:
        the time to the first partial image as recorded); the end is the caller's, after its journal entry."""
        await send({"type": "http.response.start", "status": status,
                    "headers": [(name.lower().encode("latin-1"), value.encode("latin-1"))
                                for name, value in headers.items()]})
        begun = time.perf_counter()
        for frame, at_ms in events:
            wait = _latency(self.settings.replay_latency, at_ms) - (time.perf_counter() - begun)
            if wait > 0:
                await asyncio.sleep(wait)
            await send({"type": "http.response.body", "body": frame, "more_body": True})

    async def _local(self, scope: Scope, receive: Receive, send: Send, error: ApiError, state: MockState,
                     started: float, raw: bytes, lowered: dict[str, str]) -> None:
        """An answer made here (a cassette miss, the spend guard), journaled like the others."""
        response = error_response(error, Request(scope, receive), new_request_id(), started)
        violations = self._request_violations(scope, raw, lowered, state)
        parsed = _json_or_none(bytes(response.body), "application/json")
        await self._journal(state, scope, lowered, raw, error.status, parsed, violations, started, None, None)
        await response(scope, receive, send)

    # -- forwarding --

    def _upstream_client(self) -> httpx.AsyncClient:
        """The Front's one client to the upstream (making one costs ~30 ms), made in the loop that serves: its pool
        keeps up to `upstream_keepalive` idle connections for the next requests, each closed after
        `KEEPALIVE_EXPIRY` idle seconds, before uvicorn (a common upstream) would close it under a request.
        No cap on connections in use: a proxy queueing requests would add latency the upstream does not have."""
        import httpx

        if self._client is None:
            timeout = self.settings.upstream_timeout
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)), follow_redirects=False,
                verify=_tls(), limits=httpx.Limits(max_connections=None,
                                                   max_keepalive_connections=self.settings.upstream_keepalive,
                                                   keepalive_expiry=KEEPALIVE_EXPIRY))
            self._loop = asyncio.get_running_loop()
        return self._client

    async def aclose(self) -> None:
        """Close the connections to the upstream (the app's lifespan, at shutdown); a next request opens anew."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """`aclose` from another thread (a `MockServer.configured` block ending), on the loop the client serves in;
        nothing to do when that loop has ended (its connections ended with it)."""
        loop = self._loop
        if self._client is None or loop is None or loop.is_closed() or not loop.is_running():
            self._client = None
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(self.aclose())
        else:
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(10)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, state: MockState, started: float,
                       raw: bytes, headers: list[tuple[str, str]], lowered: dict[str, str]) -> None:
        import httpx

        client = self._upstream_client()
        path, method = scope["path"], scope["method"]
        request_json = _json_or_none(raw, lowered.get("content-type", ""))
        refusal, reserved = await self._reserve(state, path, method, request_json)
        if refusal is not None:
            await self._local(scope, receive, send, refusal, state, started, raw, lowered)
            return
        violations = self._request_violations(scope, raw, lowered, state)
        assert self.upstream is not None
        url = self.upstream + _joined(self.upstream, path)
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        outgoing = [(name, value) for name, value in scope["headers"] if name.lower() not in _NOT_FORWARDED]
        outgoing.append((b"accept-encoding", b"identity"))
        self.forwarded += 1
        sent = time.perf_counter()
        try:
            upstream = await client.send(client.build_request(method, url, headers=outgoing, content=raw), stream=True)
        except httpx.HTTPError as error:
            if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
                self.forwarded -= 1  # nothing reached the upstream: not spent (a request sent may have been billed)
                await _settle(state, reserved, None, None)
            await self._local(scope, receive, send, self._away(error), state, started, raw, lowered)
            return
        try:
            media = upstream.headers.get("content-type", "")
            returned = own_cors([(name, value) for name, value in upstream.headers.multi_items()
                                 if name.lower() not in _NOT_RETURNED])
            if _is_json(media):
                try:
                    content = await upstream.aread()
                except httpx.HTTPError as error:  # the upstream broke off (or went silent) inside its answer
                    await self._local(scope, receive, send, self._away(error), state, started, raw, lowered)
                    return
                latency = time.perf_counter() - sent
                answer = _json_or_none(content, media)
                model = request_json.get("model") if isinstance(request_json, dict) else None
                response_violations = _prefixed(state.contract.validate_response(
                    method, path, upstream.status_code, dict(upstream.headers), answer,
                    model if isinstance(model, str) else None))
                total = (*violations, *response_violations)
                returned.append((VIOLATIONS_HEADER, str(len(total))))
                if self.cassette is not None:
                    await self._record(client, scope, headers, lowered, raw, upstream, content, answer, latency, total)
                cost = self._book(state, lowered, request_json, answer, upstream.status_code)
                await _settle(state, reserved, upstream.status_code, cost, (lowered, request_json))
                await self._journal(state, scope, lowered, raw, upstream.status_code, answer, total, started, cost,
                                    None)
                await Response(content, upstream.status_code, dict(returned))(scope, receive, send)
                return
            await self._stream(client, scope, send, state, started, raw, headers, lowered, upstream, returned,
                               violations, sent)
            await _settle(state, reserved, upstream.status_code, None)
        finally:
            await upstream.aclose()

    async def _stream(self, client: httpx.AsyncClient, scope: Scope, send: Send, state: MockState, started: float,
                      raw: bytes, headers: list[tuple[str, str]], lowered: dict[str, str], upstream: httpx.Response,
                      returned: list[tuple[str, str]], violations: tuple[Violation, ...], sent: float) -> None:
        """A non-JSON answer (images, event streams), passed through as it comes; its verdict follows in the
        journal. An upstream breaking off mid-answer is journaled, then the client's connection is closed under
        it (raised on): a clean end would tell the client it had it all."""
        import httpx

        returned.append((VIOLATIONS_HEADER, str(len(violations))))
        await send({"type": "http.response.start", "status": upstream.status_code,
                    "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in returned]})
        chunks: list[bytes] = []
        arrivals: list[tuple[int, float]] = []  # for the record: bytes so far and when, after each chunk
        received = 0
        try:
            async for chunk in upstream.aiter_raw():
                if self.cassette is not None:
                    chunks.append(chunk)
                    received += len(chunk)
                    arrivals.append((received, time.perf_counter() - sent))
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as error:
            await self._journal(state, scope, lowered, raw, upstream.status_code, None, violations, started, None,
                                f"upstream broke off: {_reason(error)}")
            raise
        latency = time.perf_counter() - sent
        response_violations = _prefixed(state.contract.validate_response(
            scope["method"], scope["path"], upstream.status_code, dict(upstream.headers), None))
        total = (*violations, *response_violations)
        if self.cassette is not None:
            await self._record(client, scope, headers, lowered, raw, upstream, b"".join(chunks), None, latency, total,
                               arrivals)
        await self._journal(state, scope, lowered, raw, upstream.status_code, None, total, started, None, None)
        # the answer completes after its journal entry and recording: a client reading the journal right
        # after its call finds the exchange there, as with the mock's own answers
        await send({"type": "http.response.body", "body": b""})

    def _away(self, error: Exception) -> ApiError:
        """The local answer to an upstream that could not be reached or did not answer in time."""
        import httpx

        assert self.upstream is not None
        return upstream_error(self.upstream, _reason(error), timed_out=isinstance(error, httpx.TimeoutException))

    def _request_violations(self, scope: Scope, raw: bytes, lowered: dict[str, str], state: MockState
                            ) -> tuple[Violation, ...]:
        """What the client broke: the contract's rules for a generation's JSON body."""
        if scope["path"] != IMAGE_PATH or scope["method"] != "POST":
            return ()
        body = _json_or_none(raw, lowered.get("content-type", ""))
        if body is None:
            return (Violation("$", "json", None, "the body is not JSON"),)
        return tuple(state.contract.check_request(body))

    # -- spend guard --

    def _guard(self, state: MockState, path: str, method: str, body: Any) -> ApiError | None:
        """The local refusal once the next request would pass the budget or the request cap, else None."""
        settings = self.settings
        if settings.max_requests is not None and self.forwarded >= settings.max_requests:
            return _guard_error(state, f"--max-requests {settings.max_requests} reached")
        if settings.budget_usd is None or path != IMAGE_PATH or method != "POST":
            return None
        estimate = _estimate(state, body)
        spent = state.ledger.spent()[1]
        if spent + estimate.usd > settings.budget_usd + 1e-12:
            return _guard_error(state, f"the next request (about ${estimate.usd:.4f}) would pass --budget-usd "
                                f"{settings.budget_usd} (${spent:.4f} spent)")
        return None

    async def _reserve(self, state: MockState, path: str, method: str, body: Any
                       ) -> tuple[ApiError | None, Cost | None]:
        """`_guard`, or with `--state` the request and its estimate reserved against every proxy replica's
        (`RedisState.reserve_forward`): the refusal, or the reservation to settle once answered. While the store
        is away, each replica guards what it forwards itself."""
        if state.shared is None or (self.settings.max_requests is None and self.settings.budget_usd is None):
            return self._guard(state, path, method, body), None
        generation = path == IMAGE_PATH and method == "POST"
        estimate = _estimate(state, body) if generation else Cost(0, 0.0, 0)
        budget = self.settings.budget_usd if generation else None
        try:
            verdict, _, spent = await state.shared.reserve_forward(
                self.settings.max_requests, None if budget is None else round(budget * state.prices.credits_per_usd),
                estimate.credits)
        except StoreUnavailable:
            return self._guard(state, path, method, body), None
        if verdict == "requests":
            return _guard_error(state, f"--max-requests {self.settings.max_requests} reached (by all replicas)"), None
        if verdict == "budget":
            return _guard_error(state, f"the next request (about ${estimate.usd:.4f}) would pass --budget-usd {budget} "
                                f"(${spent / state.prices.credits_per_usd:.4f} spent by all replicas)"), None
        return None, estimate

    def _book(self, state: MockState, lowered: dict[str, str], request: Any, answer: Any, status: int) -> Cost | None:
        """What the upstream billed (its `meta.usage`, else the price table) in the ledger, for a success."""
        if status // 100 != 2 or not isinstance(request, dict) or not isinstance(request.get("model"), str):
            return None
        usage = answer.get("meta", {}).get("usage") if isinstance(answer, dict) and isinstance(
            answer.get("meta"), dict) else None
        images = len(answer["data"]) if isinstance(answer, dict) and isinstance(answer.get("data"), list) else 0
        per_usd = state.prices.credits_per_usd
        if isinstance(usage, dict) and isinstance(usage.get("usd_spent"), int | float):
            cost = Cost(round(usage["usd_spent"] * per_usd), float(usage["usd_spent"]), images)
        elif isinstance(usage, dict) and isinstance(usage.get("credits_used"), int | float):
            cost = Cost(int(usage["credits_used"]), usage["credits_used"] / per_usd, images)
        else:
            cost = _estimate(state, request)
        state.ledger.charge(_key(lowered) or "", request["model"], cost, lowered.get(TEST_HEADER.lower()))
        return cost

    # -- the record --

    async def _record(self, client: httpx.AsyncClient, scope: Scope, headers: list[tuple[str, str]],
                      lowered: dict[str, str], raw: bytes,
                      upstream: httpx.Response, content: bytes, answer: Any, latency: float,
                      violations: tuple[Violation, ...], arrivals: Sequence[tuple[int, float]] = ()) -> None:
        import httpx

        cassette = self.cassette
        assert cassette is not None
        extra = self.settings.redact_headers
        request = {"method": scope["method"], "path": scope["path"], "query": scope["query_string"].decode("latin-1"),
                   "headers": redact_headers(headers, extra),
                   "body": redact_fields(normalise_body(lowered.get("content-type", ""), raw, cassette))}
        response: dict[str, Any] = {"status": upstream.status_code,
                                    "headers": redact_headers(upstream.headers.multi_items(), extra),
                                    "latency_ms": round(latency * 1000, 3)}
        if answer is not None:
            body = redact_fields(orjson.loads(orjson.dumps(answer)))
            images = extract_images(body, cassette)
            for name, index, url in image_urls(body):  # downloaded once, now, while the provider's URL is valid
                try:
                    image = await client.get(url)
                    image.raise_for_status()
                except httpx.HTTPError as error:
                    images.append({"list": name, "index": index, "field": "url", "url": url, "error": repr(error)})
                    continue
                images.append({"list": name, "index": index, "field": "url", "url": url,
                               "file": cassette.store_file(image.content),
                               "content_type": image.headers.get("content-type")})
            response["body"], response["images"] = body, images
        elif content:
            response.update(_stored_body(content, upstream.headers.get("content-type", ""), arrivals, cassette))
        test = lowered.get(TEST_HEADER.lower()) or self._state_test(scope)
        secrets = bearer_secrets(headers, extra)
        cassette.record(test, request, response, secrets, [violation.to_dict() for violation in violations],
                        replace=self.settings.record_mode == "all")

    def _state_test(self, scope: Scope) -> str | None:
        test: str | None = scope["app"].state.mock.ledger.test  # the test the pytest plugin's handle runs
        return test

    # -- the journal --

    async def _journal(self, state: MockState, scope: Scope, lowered: dict[str, str], raw: bytes, status: int,
                       answer: Any, violations: tuple[Violation, ...], started: float, cost: Cost | None,
                       fault: str | None) -> None:
        journal = state.journal
        if not journal.capacity:
            return
        request_json = _json_or_none(raw, lowered.get("content-type", ""))
        model = request_json.get("model") if isinstance(request_json, dict) else None
        response = elide_images(answer)[0] if isinstance(answer, dict) else answer
        key = _key(lowered)
        duration = (time.perf_counter() - started) * 1000
        entry = Entry(
            journal.next_id(), time.time() - duration / 1000, scope["method"], scope["path"],
            scope["query_string"].decode("latin-1"), RedactedHeaders(scope["headers"]), request_json, status,
            response, violations, model if isinstance(model, str) else None, redact(key) if key else None, duration,
            fault, cost)
        if state.shared is None:
            journal.record(entry)
        else:  # in the store before the answer completes, as the mock's own entries (`RedisState.record`)
            await state.shared.record((entry, estimate_size(entry)))


def _guard_error(state: MockState, why: str) -> ApiError:
    error = out_of_credits_error(state.contract.error_style)
    error.message = error.openai_message = f"aiml-mock proxy: {why}; nothing was forwarded"
    return error


async def _settle(state: MockState, reserved: Cost | None, status: int | None, cost: Cost | None,
                  booked: tuple[dict[str, str], Any] | None = None) -> None:
    """With `--state`: what `Front._book` booked (`cost`, for the request `booked`) in the shared ledger too, and
    the reservation (`Front._reserve`) settled: released when nothing was forwarded (`status` None) or the
    upstream refused; else what the upstream billed, with the estimate kept for a success it did not bill."""
    shared = state.shared
    if shared is None:
        return
    with contextlib.suppress(StoreUnavailable):
        if cost is not None and booked is not None:
            lowered, request = booked
            await shared.charge(_key(lowered) or "", request["model"], cost, lowered.get(TEST_HEADER.lower()))
        if reserved is not None:
            spent = 0 if status is None or status // 100 != 2 else reserved.credits if cost is None else cost.credits
            await shared.settle_forward(reserved.credits, spent, forwarded=status is not None)


class _Gone(Exception):
    """The client left before its body was in."""


async def _read_all(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > FORWARD_BODY_MAX:
            raise ApiError(413, f"Request body is too large: more than {FORWARD_BODY_MAX} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replayed_body(raw: bytes, receive: Receive) -> Receive:
    """A `receive` giving the body already read once, then the client's own messages (its disconnect)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return again


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every forwarded request: making one (loading the CA bundle) costs ~10-200 ms."""
    return ssl.create_default_context()


def own_cors(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """An upstream's (or a recording's) headers without its CORS answer, which the mock's own CORS layer gives
    instead: its `Access-Control-*` headers out, `Origin` out of its `Vary`. Two `Access-Control-Allow-Origin`
    headers are refused by browsers; the page talks to the proxy, whose policy is the one that applies."""
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered.startswith("access-control-"):
            continue
        if lowered == "vary":
            value = ", ".join(item.strip() for item in value.split(",") if item.strip().lower() not in ("origin", ""))
            if not value:
                continue
        kept.append((name, value))
    return kept


def _stored_body(content: bytes, media: str, arrivals: Sequence[tuple[int, float]], cassette: Cassette
                 ) -> dict[str, Any]:
    """A non-JSON answer's body as the cassette keeps it: an event stream event by event (its images as files),
    other UTF-8 text as text, anything else as a stored file."""
    if media.split(";")[0].strip().lower() == "text/event-stream":
        stored = store_event_stream(content, arrivals, cassette)
        if stored is not None:
            return stored
    elif media.startswith("text/"):
        try:
            return {"body_text": content.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"body_file": cassette.store_file(content)}


def _reason(error: Exception) -> str:
    """An httpx error in a line: its kind and what it says (`ConnectError: [Errno 111] Connection refused`)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _is_json(media: str) -> bool:
    base = media.split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _json_or_none(raw: bytes, media: str) -> Any:
    if not raw or not _is_json(media):
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _prefixed(violations: list[Violation]) -> tuple[Violation, ...]:
    """Response violations, told apart from the request's in the journal: `response.` before their paths."""
    return tuple(Violation(f"response.{v.path.removeprefix('$.').removeprefix('$')}".rstrip("."), v.rule, v.value,
                           v.message, v.expected) for v in violations)


def _key(lowered: dict[str, str]) -> str | None:
    scheme, _, token = lowered.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _estimate(state: MockState, body: Any) -> Cost:
    """What the price table says a generation costs (nothing for a body the API would refuse)."""
    try:
        request = validate_request(body, state.contract)
    except ApiError:
        return Cost(0, 0.0, 0)
    return state.prices.cost(request.model, request.params, request.count, request.prompt)


def _joined(upstream: str, path: str) -> str:
    """The path on the upstream: an upstream given with `/v1` does not get a second one."""
    prefix = urlsplit(upstream).path.rstrip("/")
    return path[len(prefix):] if prefix and path.startswith(prefix + "/") else path


def _base_url(scope: Scope, lowered: dict[str, str], state: MockState) -> str:
    if state.settings.public_url:
        return state.settings.public_url.rstrip("/")
    return f"{scope.get('scheme', 'http')}://{lowered.get('host', f'{state.settings.host}:{state.settings.port}')}"


def _latency(setting: str, recorded_ms: float) -> float:
    if setting == "none":
        return 0.0
    scale = 1.0 if setting == "recorded" else float(setting)
    return max(0.0, float(recorded_ms)) * scale / 1000
