"""The connection as the app sees it: what the server's protocol offers in each request's scope.

Both protocols (`aiml_mock.hosting._protocol`: `stock`, uvicorn's own with one public-API extension, and `fast`, the
mock's) make the connection's transport reachable from the request, so the transport faults
(`responses.Dropped`, `Truncated`, `Stalled`) act on the connection for real:

- `fast` puts it in `scope["extensions"][TRANSPORT_KEY]` as it builds the scope;
- `stock` registers each connection's transport under its two addresses when the connection is made
  (`register`, from asyncio's `connection_made`), and the app looks it up by the scope's `server` and `client`
  (ASGI's own fields) when the request comes in (`attach`), before anything (a proxy's `X-Forwarded-For`) can
  change them.

`fast` also offers `send_whole` (`SEND_WHOLE_KEY`: a complete response in one write) and inline runs: a request
that needs to be in an asyncio task (anyio's threads, `asyncio.timeout`) awaits `in_task()` first.
Nothing here imports uvicorn: in-process (Starlette's `TestClient`) there is no transport, and `transport_of`
says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Generator
from typing import Any

from starlette.types import Scope

TRANSPORT_KEY = "aiml_mock.web.transport"
SEND_WHOLE_KEY = "aiml_mock.send_whole"  # scope extension: `send_whole(status, head, body) -> bool`
INLINE_BODY_MAX = 64 * 1024  # bodies up to uvicorn's read high-water mark: reading never pauses while waiting

Address = tuple[str, int]
_connections: dict[tuple[Address, Address], asyncio.Transport] = {}  # (server, client) -> transport, `stock`


class ConnectionDropped(ConnectionError):
    """Raised into an in-process client for a `drop` fault: there is no socket to close."""


class _ToTask:
    """What `in_task()` returns: awaited outside a task (an inline run), it asks to go on in one."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        if asyncio.current_task() is None:
            yield self


TO_TASK = _ToTask()


def in_task() -> Awaitable[None]:
    """Await before what needs the running task (anyio's threads, `asyncio.timeout`): an inline run goes on as
    a task from here; in a task already it costs one `current_task()` call."""
    return TO_TASK


def transport_of(scope: Scope) -> asyncio.Transport | None:
    """The request's connection, or None in-process (no socket) or under a server that does not offer it."""
    extensions = scope.get("extensions") or {}
    transport: asyncio.Transport | None = extensions.get(TRANSPORT_KEY)
    return transport


def _address(info: Any) -> Address | None:
    """A socket address as ASGI's `server`/`client` give it: (host, port), for IPv4 and IPv6 alike."""
    if isinstance(info, tuple | list) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


def register(transport: asyncio.Transport) -> tuple[Address, Address] | None:
    """Remember a new connection's transport under its (server, client) addresses; the key to `unregister`
    it with, or None when it has no such addresses (a Unix socket: no transport faults there)."""
    server, client = _address(transport.get_extra_info("sockname")), _address(transport.get_extra_info("peername"))
    if server is None or client is None:
        return None
    key = (server, client)
    _connections[key] = transport
    return key


def unregister(key: tuple[Address, Address] | None) -> None:
    if key is not None:
        _connections.pop(key, None)


def attach(scope: Scope) -> None:
    """Put the request's registered transport in its scope, unless it has one already (`fast`) or none is
    registered (in-process)."""
    extensions = scope.get("extensions")
    if extensions is not None and TRANSPORT_KEY in extensions:
        return
    server, client = scope.get("server"), scope.get("client")
    if server is None or client is None or not _connections:
        return
    transport = _connections.get((_address(server), _address(client)))  # type: ignore[arg-type]
    if transport is not None:
        if extensions is None:
            extensions = scope["extensions"] = {}
        extensions[TRANSPORT_KEY] = transport


# -- read and idle timeouts ------------------------------------------------------------------------


class Watchdog:
    """Closes a connection that holds the mock up: one that sends no byte for `read_timeout` seconds while the
    mock waits for the rest of a request (its headers or its body: a slowloris client), or no request at all
    within `idle_timeout` seconds of connecting. A request the mock holds whole (`held`) is never timed, however
    long its answer takes (an added latency, a stall); uvicorn's keep-alive timeout covers the idle time after
    an answer. One timer per connection, armed only while there is something to time."""

    __slots__ = ("fresh", "idle_timeout", "last", "loop", "read_timeout", "reading", "timer", "transport")

    def __init__(self, transport: asyncio.BaseTransport, read_timeout: float, idle_timeout: float) -> None:
        self.transport, self.read_timeout, self.idle_timeout = transport, read_timeout, idle_timeout
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.fresh, self.reading = True, False
        self.timer: asyncio.TimerHandle | None = self.loop.call_at(self.last + idle_timeout, self._check)
        _watchdogs[transport] = self

    def received(self) -> None:
        """Bytes came in: a request has begun (or goes on); the read timeout runs from now."""
        self.last = self.loop.time()
        if self.fresh and self.timer is not None:  # the idle timer gives way to the read timer
            self.timer.cancel()
            self.timer = None
        self.fresh, self.reading = False, True
        if self.timer is None:
            self.timer = self.loop.call_at(self.last + self.read_timeout, self._check)

    def held(self) -> None:
        """The app holds the whole request (its headers, and its body once read): not timed any more."""
        self.reading = False

    def _check(self) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        if self.fresh:
            deadline = self.last + self.idle_timeout
        elif self.reading:
            deadline = self.last + self.read_timeout
        else:
            return  # armed again by the next bytes
        if self.loop.time() >= deadline:
            self.transport.close()  # the app, if it was reading a body, sees the client leave (journaled 499)
        else:
            self.timer = self.loop.call_at(deadline, self._check)

    def stop(self) -> None:
        """The connection is gone."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        _watchdogs.pop(self.transport, None)


_watchdogs: dict[asyncio.BaseTransport, Watchdog] = {}


def hold(scope: Scope, *, unless_body: bool = False) -> None:
    """Tell the request's connection that the app holds the whole request (`Watchdog.held`); `unless_body`: only
    when the request has no body (else the handler says so once it has read it)."""
    if _watchdogs and not (unless_body and _has_body(scope)):
        transport = transport_of(scope)
        watchdog = _watchdogs.get(transport) if transport is not None else None
        if watchdog is not None:
            watchdog.reading = False


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False

