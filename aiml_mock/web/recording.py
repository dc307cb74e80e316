"""Recording: a pure-ASGI middleware that puts every exchange in the journal (admin routes excepted).

The middleware watches the response go out (status, size; small JSON bodies are kept); handlers that know
more note it on the request's `Exchange` (`exchange_of(scope)`): the request body, the model, the key,
the payload, the contract verdict, the fault injected. The entry is built once, when the answer is
sent: one `struct.pack` and one `b"".join` put what it holds as bytes (the request line, the scrubbed
headers, the body as received, the answer as sent, the redacted key) in one blob, so the journal keeps
a few objects per entry, not dozens (`journal.RawEntry`); nothing is serialised on the way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiml_mock.core.auth import redact
from aiml_mock.core.contract import Contract, Violation
from aiml_mock.core.errors import ApiError
from aiml_mock.core.journal import (
    BODY_CAP,
    ENTRY_OVERHEAD,
    MODEL_CAP,
    RAW_HEAD,
    RAW_JSON,
    RAW_NO_KEY,
    RAW_RESPONSE,
    RAW_RESPONSE_OVER,
    TEXT_CAP,
    Journal,
    RawEntry,
    cap_json,
    cap_text,
    cap_violations,
    elide_images,
    kept_size,
    scrub_headers,
    scrub_query,
)
from aiml_mock.core.pricing import Cost
from aiml_mock.core.validation import ImageRequest

EXCHANGE = "aiml_mock.exchange"
ADMIN_PREFIX = "/__mock"


class Exchange:
    """One request on its way through: what a handler learnt about it, and what went out, for its entry.

    Defaults live on the class, so making one per request sets only what differs.
    """

    json: Any = None  # the parsed body, when it is over the journal's cap (shortened); else `raw` is kept
    raw: bytes | None = None
    parsed = False
    request_bytes = 0
    model: str | None = None
    key: str | None = None
    violations: tuple[Violation, ...] | None = None
    response: Any = None
    elided = -1  # -1: no payload noted; else the b64_json characters left out of it
    fault: str | None = None
    cost: Cost | None = None
    status: int | None = None  # set when no response (0) or the client left first (499)
    start: Message | None = None
    first: bytes | None = None
    sent = 0
    json_body = False  # the answer is known to be JSON (else its content-type says)
    pending: Awaitable[None] | None = None  # the journal's write, when it is kept elsewhere (`--state`)
    images: bytes | None = None  # with `--state`: the answer's images, written with the entry

    def __init__(self, entry_id: int = 0, scope: Scope | None = None, journal: Journal | None = None) -> None:
        self.id = entry_id
        self._scope = scope
        self._journal = journal
        self._started = time.perf_counter()

    def note_body(self, body: Any, raw: bytes) -> None:
        """The request body, parsed (`parse_json`) from `raw`: the journal keeps `raw` and parses it again when
        read; a body over the journal's cap is kept as the parsed value, shortened."""
        size = len(raw)
        if size <= BODY_CAP:
            self.raw = raw
        else:
            self.json = cap_json(body, size)
        self.parsed = True
        self.request_bytes = size

    def note_request(self, request: ImageRequest) -> None:
        self.model = request.model  # the contract's own id: a shared string
        violations = request.violations
        self.violations = violations if not violations else cap_violations(violations, self.request_bytes)

    def note_payload(self, payload: Any, request: ImageRequest, cost: Cost | None = None) -> None:
        """A success payload and what it cost; a `b64_json` one with its images elided (other answers are kept
        as the bytes sent)."""
        self.cost = cost
        if request.response_format == "b64_json":
            self.response, self.elided = elide_images(payload)

    def note_error(self, error: ApiError, body: Any, contract: Contract) -> None:
        """The client's verdict for a refused request, unless the handler already has it."""
        if self.violations is None:
            verdict = request_verdict(error, body if self.parsed else _UNREAD, contract)
            self.violations = cap_violations(verdict, self.request_bytes)
            if self.model is None and self.parsed and isinstance(body, dict) and isinstance(body.get("model"), str):
                self.model = cap_text(body["model"], MODEL_CAP)  # a client's id: a 1 MB one is kept shortened

    def watch(self, send: Send) -> Send:
        """`send`, noting what goes out and recording the entry as the last body message leaves."""
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                self.sent += len(body)
                if self.first is None:
                    self.first = body
                if not message.get("more_body", False):
                    self.finish()
                    if self.pending is not None:
                        await self.pending
            elif message["type"] == "http.response.start":
                self.start = message
            await send(message)

        return watched

    def sending(self, start: Message, body: bytes, *, json: bool = False) -> None:
        """A whole answer, sent as `start` (already out) and one body message (next): recorded now, as `watch`
        records it, for callers that send without the wrapper (`json`: the caller knows the body is JSON)."""
        self.start, self.first, self.sent, self.json_body = start, body, len(body), json
        self.finish()

    def failed(self) -> None:
        """The app raised: a 500 unless something was already answered (or status 0/499 set)."""
        if self.status is None and self.start is None:
            self.status = 500

    def finish(self) -> None:
        """Record the entry now (once): before the client can see the answer is complete, so a client that
        reads the journal right after its call finds it there."""
        journal, scope = self._journal, self._scope
        if journal is None or scope is None:
            return
        self._journal = self._scope = None  # no scope <-> exchange cycle left for the garbage collector
        if self.images is None:
            self.pending = journal.record_raw(self._raw_entry(scope))
        else:
            self.pending = journal.record_with_images(self._raw_entry(scope), self.images)

    def _raw_entry(self, scope: Scope) -> RawEntry:
        start, first, sent = self.start, self.first, self.sent
        status = self.status if self.status is not None else start["status"] if start else 0
        flags, over, response, kept = 0, 0, b"", None
        if self.elided >= 0:
            kept = self.response
        elif start is not None and first is not None and len(first) == sent and (self.json_body or _is_json(start)):
            if sent <= BODY_CAP:
                flags, response = RAW_RESPONSE, first  # parsed when read
            else:
                flags, over = RAW_RESPONSE_OVER, sent
        body = self.raw
        if body is None:
            body = b""
        else:
            flags |= RAW_JSON
        key: str | None
        if self.key:
            key, authorization = redacted_key(self.key)
            headers = scrub_headers(scope["headers"], authorization)
        else:
            key, headers = _key_from(scope["headers"]), scrub_headers(scope["headers"])
        if key is None:
            flags |= RAW_NO_KEY
            key = ""
        method, path, query = scope["method"], scope["path"], scrub_query(scope["query_string"])
        if len(method) + len(path) + len(key) > TEXT_CAP:  # each is within the cap when all are (nearly always)
            method, path, key = cap_text(method), cap_text(path), cap_text(key)
        text = f"{method}{path}{key}"
        try:
            encoded = text.encode()
        except UnicodeEncodeError:  # a lone surrogate (a server that decodes paths with surrogateescape): kept
            encoded = text.encode("utf-8", "surrogatepass")
        duration = time.perf_counter() - self._started
        head = RAW_HEAD.pack(self.id, time.time() - duration, duration * 1000, status, flags, over, len(method),
                             len(path), len(query), len(headers), len(body), len(response))
        blob = b"".join((head, query, headers, body, response, encoded))
        violations, model, json_side = self.violations or (), self.model, self.json
        size = ENTRY_OVERHEAD + len(blob) + (kept_size(kept) if kept is not None else 0)
        if violations or json_side is not None:  # only a refused, odd or over-the-cap request keeps objects
            size += kept_size(violations) + kept_size(json_side) + (len(model) if model else 0)
        return blob, size, violations, model, self.fault, json_side, kept, self.cost


_UNREAD = object()
_REDACTED_MAX = 256
_redacted: dict[str, tuple[str, bytes]] = {}


def redacted_key(key: str) -> tuple[str, bytes]:
    """A key as the journal keeps it (`auth.redact`) and its Authorization header's redacted value, made once per
    key: a suite uses a handful of keys, and each answer's entry needs both. A few hundred kept at most (the
    ledger keeps the keys themselves already)."""
    found = _redacted.get(key)
    if found is None:
        if len(_redacted) >= _REDACTED_MAX:  # many keys (a fuzzer): start over rather than grow
            _redacted.clear()
        shown = redact(key)
        found = _redacted[key] = (shown, f"Bearer {shown}".encode())
    return found


def open_exchange(scope: Scope) -> Exchange | None:
    """A new exchange for this request, in its scope, or None when the journal is off."""
    journal: Journal = scope["app"].state.mock.journal
    if not journal.capacity:
        return None
    exchange = scope[EXCHANGE] = Exchange(journal.next_id(), scope, journal)
    return exchange


def exchange_of(scope: Scope) -> Exchange:
    """The request's exchange; a throwaway one when nothing records (journal off, app used bare)."""
    exchange: Exchange | None = scope.get(EXCHANGE)
    if exchange is None:
        exchange = scope[EXCHANGE] = Exchange()
    return exchange


def request_verdict(error: ApiError, body: Any, contract: Contract) -> tuple[Violation, ...]:
    """What a refused request broke: the contract's rules for a parsed body, else the step that failed."""
    if body is not _UNREAD:
        return tuple(contract.check_request(body))
    if error.status == 401 and error.code != "invalid_api_key":  # a wrong key is not a contract matter
        malformed = "malformed" in (error.openai_message or "")
        message = "the Authorization header is not 'Bearer <key>'" if malformed else "no Authorization header"
        return (Violation("headers.authorization", "format" if malformed else "required", None, message),)
    where = {400: ("$", "json"), 413: ("$", "maxBytes"), 415: ("headers.content-type", "content")}.get(error.status)
    if where is None:
        return ()
    return (Violation(where[0], where[1], None, error.message),)


def route_violation(method: str, path: str) -> tuple[Violation, ...]:
    """A request to a route or method the contract does not have."""
    return (Violation("$", "path", f"{method} {path}", f"{method} {path} is not in the contract"),)


def _key_from(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return redact(token) if scheme.lower() == "bearer" and token else None
    return None


class RecordingMiddleware:
    """Records each HTTP exchange in `app.state.mock.journal`, as its answer completes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        exchange = open_exchange(scope)
        if exchange is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, exchange.watch(send))
        except BaseException:
            exchange.failed()
            raise
        finally:
            exchange.finish()


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", ()):
        if name == b"content-type":
            return b"json" in value
    return False
