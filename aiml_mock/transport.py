"""The connection as the app sees it: what the server's protocol offers in each request's scope.

Both protocols (`aiml_mock._protocol`: `stock`, uvicorn's own with one public-API extension, and `fast`, the
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

TRANSPORT_KEY = "aiml_mock.transport"
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
