"""CORS for browser clients, at almost no cost to every other client.

Starlette's `CORSMiddleware` reads each request's headers through a `Headers` view and rewrites each
response's headers through `MutableHeaders`, if only to add `Vary: Origin` when no `Origin` was sent. That
was a tenth of a generation's cost. This subclass answers requests that carry an `Origin` (preflights
included) exactly as Starlette does; for the others (SDKs, curl, test suites: most requests) it appends the
same `Vary: Origin` to the raw header list.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.middleware import cors
from starlette.types import ASGIApp, Message, Receive, Scope, Send

VARY_ORIGIN = (b"vary", b"Origin")  # what a response to a request without Origin gets


def sent_origin(scope: Scope) -> bool:
    """Whether the request carries an `Origin` header (a browser's cross-origin request)."""
    for name, _ in scope["headers"]:
        if name == b"origin":
            return True
    return False


class CORSMiddleware(cors.CORSMiddleware):
    """`starlette.middleware.cors.CORSMiddleware`, with a fast path for requests without `Origin`, and none of it
    for paths under `private_prefix` (the admin API: no page of another origin may read it, preflights get no
    allowance, so a cross-site script cannot send it JSON either)."""

    def __init__(self, app: ASGIApp, allow_origins: Sequence[str] = (), allow_methods: Sequence[str] = ("GET",),
                 allow_headers: Sequence[str] = (), expose_headers: Sequence[str] = (),
                 private_prefix: str | None = None) -> None:
        super().__init__(app, allow_origins=allow_origins, allow_methods=allow_methods, allow_headers=allow_headers,
                         expose_headers=expose_headers)
        self.private_prefix = private_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.private_prefix and scope["path"].startswith(self.private_prefix):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and not sent_origin(scope):
            await self.app(scope, receive, VaryOrigin(send))
            return
        await super().__call__(scope, receive, send)


class VaryOrigin:
    """`send`, adding `Vary: Origin` to the response start (merged with a `Vary` the app set, as Starlette does)."""

    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers")
            if not isinstance(headers, list):  # ASGI allows any iterable
                headers = message["headers"] = list(headers or ())
            if any(name.lower() == b"vary" for name, _ in headers):
                mutable = MutableHeaders(scope=message)
                mutable["Vary"] = ", ".join([*mutable.getlist("Vary"), "Origin"])
            else:
                headers.append(VARY_ORIGIN)
        await self.send(message)
