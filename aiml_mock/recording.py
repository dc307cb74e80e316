"""Recording: a pure-ASGI middleware that puts every exchange in the journal (admin routes excepted).

The middleware watches the response go out (status, size; small JSON bodies are kept); handlers that know
more note it on the request's `Exchange` (`exchange_of(scope)`): the parsed request, the model, the key,
the payload, the contract verdict, the fault injected. The entry is built once, when the answer is
sent, from references: nothing is copied or serialised on the way.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiml_mock.auth import redact
from aiml_mock.contract import Contract, Violation
from aiml_mock.errors import ApiError
from aiml_mock.journal import (
    BODY_CAP,
    ENTRY_OVERHEAD,
    Entry,
    Journal,
    RedactedHeaders,
    cap_json,
    cap_violations,
    elide_images,
    parse_captured,
)
from aiml_mock.validation import ImageRequest

EXCHANGE = "aiml_mock.exchange"
ADMIN_PREFIX = "/__mock"


class Exchange:
    """One request on its way through: what a handler learnt about it, and what went out, for its entry."""

    __slots__ = ("id", "json", "parsed", "request_bytes", "model", "key", "violations", "response", "elided",
                 "fault", "status", "_scope", "_journal", "_started", "_wall", "start", "first", "sent")

    def __init__(self, entry_id: int = 0, scope: Scope | None = None, journal: Journal | None = None) -> None:
        self.id = entry_id
        self.json: Any = None
        self.parsed = False
        self.request_bytes = 0
        self.model: str | None = None
        self.key: str | None = None
        self.violations: tuple[Violation, ...] | None = None
        self.response: Any = None
        self.elided = -1  # -1: no payload noted; else the b64_json characters left out of it
        self.fault: str | None = None
        self.status: int | None = None  # set when no response (0) or the client left first (499)
        self._scope = scope
        self._journal = journal
        self._started, self._wall = time.perf_counter(), time.time()
        self.start: Message | None = None
        self.first: bytes | None = None
        self.sent = 0

    def note_body(self, body: Any, size: int) -> None:
        """The parsed request body (kept by reference; shortened beyond the journal's cap)."""
        self.json = cap_json(body, size)
        self.parsed = True
        self.request_bytes = size

    def note_request(self, request: ImageRequest) -> None:
        self.model = request.model
        violations = request.violations
        self.violations = violations if not violations else cap_violations(violations, self.request_bytes)

    def note_payload(self, payload: Any, request: ImageRequest) -> None:
        """The success payload sent (by reference), `b64_json` elided."""
        if request.response_format == "b64_json":
            self.response, self.elided = elide_images(payload)
        else:
            self.response, self.elided = payload, 0

    def note_error(self, error: ApiError, body: Any, contract: Contract) -> None:
        """The client's verdict for a refused request, unless the handler already has it."""
        if self.violations is None:
            verdict = request_verdict(error, body if self.parsed else _UNREAD, contract)
            self.violations = cap_violations(verdict, self.request_bytes)
            if self.model is None and self.parsed and isinstance(body, dict) and isinstance(body.get("model"), str):
                self.model = body["model"]

    def finish(self) -> None:
        """Record the entry now (once): before the client can see the answer is complete, so a client that
        reads the journal right after its call finds it there."""
        journal, scope = self._journal, self._scope
        if journal is None or scope is None:
            return
        self._journal = None
        journal.record(*self._entry(scope))

    def _entry(self, scope: Scope) -> tuple[Entry, int]:
        start, first, sent = self.start, self.first, self.sent
        status = self.status if self.status is not None else start["status"] if start else 0
        if self.elided >= 0:
            response, response_bytes = self.response, sent - self.elided
        elif start is not None and first is not None and len(first) == sent and _is_json(start):
            response, response_bytes = parse_captured(first), min(sent, BODY_CAP)
        else:
            response, response_bytes = None, 0
        key = redact(self.key) if self.key else _key_from(scope["headers"])
        entry = Entry(
            id=self.id, time=self._wall, method=scope["method"], path=scope["path"],
            query=scope["query_string"].decode("latin-1"), headers=RedactedHeaders(scope["headers"]),
            json=self.json, status=status, response=response, violations=self.violations or (),
            model=self.model, key=key, duration_ms=(time.perf_counter() - self._started) * 1000, fault=self.fault,
        )
        return entry, ENTRY_OVERHEAD + min(self.request_bytes, BODY_CAP) + response_bytes


_UNREAD = object()


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
        journal: Journal = scope["app"].state.mock.journal
        if not journal.capacity:
            await self.app(scope, receive, send)
            return
        exchange = scope[EXCHANGE] = Exchange(journal.next_id(), scope, journal)

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                exchange.sent += len(body)
                if exchange.first is None:
                    exchange.first = body
                if not message.get("more_body", False):
                    exchange.finish()
            elif message["type"] == "http.response.start":
                exchange.start = message
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except BaseException:
            if exchange.status is None and exchange.start is None:
                exchange.status = 500
            raise
        finally:
            exchange.finish()


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", ()):
        if name == b"content-type":
            return b"json" in value
    return False
