"""The HTTP protocols `aiml-mock` runs uvicorn with (`--protocol`): the one module touching uvicorn's internals.

`stock` is uvicorn's own protocol (httptools when installed, else h11, as uvicorn chooses) with one extension:
each connection's transport is registered when the connection is made and dropped when it is lost
(`transport.register`), so that the app finds it from the request's scope and the transport faults close,
cut and hold the connection for real; and each connection is watched for read and idle timeouts
(`transport.Watchdog`, fed from `data_received`; both protocols). It relies only on asyncio's protocol
interface (`connection_made`, `data_received`, `connection_lost`, which uvicorn's protocols implement) and on
uvicorn's `Config(http=<protocol class>)`;
requests, responses, keep-alive, flow control and every log line are uvicorn's own.

`fast` (today's protocol, ~25 % more requests a second under `serve`) goes into uvicorn's private surface: it
overrides `HttpToolsProtocol`'s `on_message_begin`, `on_headers_complete`, `on_message_complete`,
`_start_asgi_task`, `_unset_keepalive_if_required`, `on_response_complete` and `connection_lost`, swaps the
class of a live `RequestResponseCycle` (`CoalescingCycle`) and reads its attributes and uvicorn's
`STATUS_LINE`. Hence `fast_supported()`: only with the uvicorn versions the tests cover (`TESTED_UVICORN`,
the bound pinned in pyproject.toml), and every override is marked (`@override`) so that
tests/test_protocol.py fails when uvicorn's class no longer has the method.

What `fast` does:
- each response's head leaves together with its first body bytes (`CoalescingCycle`): one write system call
  per answer instead of two;
- a scope extension, `send_whole`, writes a complete response at once without the two ASGI messages; the
  mock's generation answers use it;
- an app may have requests run inline (`runs_inline(scope)`, asked when the headers are in): the protocol
  waits for the (small) body, then runs the app for all such requests of a loop turn one after another in one
  callback, where uvicorn makes a task for each. A request that must wait for something (a fault's delay, a
  render in a thread) goes on as a task from where it stopped (`transport.in_task()`);
- one keep-alive timer per idle period, not one made and cancelled per request.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Coroutine, Generator
from typing import Any

import uvicorn
from typing_extensions import override
from uvicorn.protocols.http.h11_impl import H11Protocol

from aiml_mock.core.settings import ProtocolName
from aiml_mock.web.transport import SEND_WHOLE_KEY, TO_TASK, TRANSPORT_KEY, Watchdog, register, unregister

TESTED_UVICORN = ((0, 53), (0, 56))  # `fast` runs on uvicorn >= 0.53, < 0.56: keep in step with pyproject.toml


@types.coroutine
def _continued(coro: Coroutine[Any, Any, None], yielded: Any) -> Generator[Any, Any, None]:
    """The rest of an inline run, as a task's coroutine: `coro` stopped by yielding `yielded` (a future to wait
    for, None for one loop turn, or the `in_task()` marker), and is resumed from there."""
    value: Any = None
    failed = False
    try:
        if yielded is not TO_TASK:  # else the first step resumes `coro` at once, now in the task
            value, failed = yield from _passed_on(yielded)
        while True:
            try:
                yielded = coro.throw(value) if failed else coro.send(value)
            except StopIteration:
                return
            value, failed = yield from _passed_on(yielded)
    except GeneratorExit:
        coro.close()
        raise


def _passed_on(yielded: Any) -> Generator[Any, Any, tuple[Any, bool]]:
    """Yield to the task what `coro` yielded; what the task sends or throws back (a cancellation), for `coro`."""
    try:
        return (yield yielded), False
    except GeneratorExit:
        raise
    except BaseException as exc:
        return exc, True


class _InlineRuns:
    """The requests to run inline at the next loop turn, for one server (one loop)."""

    __slots__ = ("loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[tuple[Any, Any, Any]] = []

    def add(self, protocol: Any, cycle: Any, app: Any) -> None:
        if not self.pending:
            self.loop.call_soon(self.run)
        self.pending.append((protocol, cycle, app))

    def run(self) -> None:
        pending, self.pending = self.pending, []
        for protocol, cycle, app in pending:
            protocol.run_inline(cycle, app)


def _timeouts(config: Any) -> tuple[float, float] | None:
    """The mock's `read_timeout` and `idle_timeout` for the app this server runs, None for another app."""
    settings = getattr(getattr(getattr(getattr(config, "app", None), "state", None), "mock", None), "settings", None)
    if settings is None:
        return None
    return float(settings.read_timeout), float(settings.idle_timeout)


class _Watched(asyncio.Protocol):
    """Mixin for uvicorn's HTTP protocols: each connection under a `transport.Watchdog` (read and idle timeouts),
    through asyncio's own protocol interface (`connection_made`, `data_received`, `connection_lost`)."""

    _watchdog: Watchdog | None = None
    config: Any

    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        timeouts = _timeouts(self.config)
        if timeouts is not None:
            self._watchdog = Watchdog(transport, *timeouts)

    @override
    def data_received(self, data: bytes) -> None:
        watchdog = self._watchdog
        if watchdog is not None:
            watchdog.received()
        super().data_received(data)

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
        super().connection_lost(exc)


class _Registering(_Watched):
    """Mixin for uvicorn's HTTP protocols: the connection's transport registered while it is open."""

    _registered: Any = None

    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._registered = register(transport)  # type: ignore[arg-type]

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        unregister(self._registered)
        super().connection_lost(exc)


class StockH11Protocol(_Registering, H11Protocol):
    """uvicorn's h11 protocol, its transport registered."""


_stock: type[asyncio.Protocol] = StockH11Protocol
_fast: type[asyncio.Protocol] | None = None

try:  # httptools comes with uvicorn[standard]; uvicorn's `auto` prefers it, as here
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpTools

    class StockHttpToolsProtocol(_Registering, _HttpTools):
        """uvicorn's httptools protocol, its transport registered."""

    _stock = StockHttpToolsProtocol
except ImportError:  # pragma: no cover
    pass

try:  # `fast`: a name it needs gone from uvicorn leaves only `stock`
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
    from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

    class _Held:
        """Stands in for the transport while uvicorn writes a response head: keeps the bytes instead."""

        __slots__ = ("data", "transport")

        def __init__(self, transport: asyncio.Transport) -> None:
            self.transport, self.data = transport, b""

        def write(self, data: bytes) -> None:
            self.data += data

        def is_closing(self) -> bool:
            return self.transport.is_closing()

        def close(self) -> None:
            self.transport.close()

    class _Prefixed(_Held):
        """Stands in for the transport while uvicorn writes the first body bytes: sends the held head with them."""

        __slots__ = ()

        @override
        def write(self, data: bytes) -> None:
            head, self.data = self.data, b""
            self.transport.write(head + data if head else data)

        def flush(self) -> None:
            """Send the head if no body bytes took it (a HEAD request's answer has none)."""
            if self.data and not self.transport.is_closing():
                self.write(b"")

        @override
        def close(self) -> None:
            self.flush()
            self.transport.close()

    _defaults: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")

    def _default_lines(headers: list[tuple[bytes, bytes]]) -> bytes:
        """uvicorn's default headers (date, server) as header lines, joined once per list uvicorn makes (the date
        changes once a second)."""
        global _defaults
        made_for, lines = _defaults
        if made_for is not headers:
            lines = b"".join([name + b": " + value + b"\r\n" for name, value in headers])
            _defaults = (headers, lines)
        return lines

    class CoalescingCycle(RequestResponseCycle):
        """uvicorn's request-response cycle, sending a response's head with its first body bytes in one write.

        uvicorn writes the head as soon as the app sends `http.response.start`: two write system calls per
        answer, and on loopback each carries the receiving side's TCP work too. Joining them saves one.
        uvicorn still builds and checks the head and does all the bookkeeping; only the moment of writing moves.
        An app that sends the start and never a body (a crash between the two) sends no head: the client sees
        the connection close, as it does when uvicorn answers such a crash.
        """

        _head: bytes | None = None

        @override
        async def send(self, message: Any) -> None:
            transport = self.transport
            if message["type"] == "http.response.start" and not self.response_started:
                self.transport = held = _Held(transport)  # type: ignore[assignment]
                try:
                    await super().send(message)
                finally:
                    self.transport = transport
                self._head = held.data
                return
            head = self._head
            if head is None:
                await super().send(message)
            else:
                self._head = None
                prefixed = _Prefixed(transport)
                prefixed.data = head
                self.transport = prefixed  # type: ignore[assignment]
                try:
                    await super().send(message)
                finally:
                    self.transport = transport
                prefixed.flush()
            if self.response_complete:
                self._release()

        def _release(self) -> None:
            """Drop the scope's reference to this cycle once the answer is complete. The scope holds `send_whole`
            (a method of the cycle) and the cycle holds the scope: left in place, that reference cycle keeps the
            request's objects alive until the garbage collector finds them (its gen-1 and gen-2 pauses are the
            tail of the latency), where without it they are freed the moment the request is done."""
            extensions = self.scope.get("extensions")
            if extensions is not None:
                extensions.pop(SEND_WHOLE_KEY, None)

        def send_whole(self, status: int, head: bytes, body: bytes) -> bool:
            """Send a complete response in one write, without the two ASGI messages: `head` is its header lines
            (`name: value\r\n` each, content-length among them), `body` all of it. False when it must go through
            `send` instead (a response already started, writing paused by flow control, a HEAD request). The
            headers are the app's own, made by code that only writes valid ones, so uvicorn's per-header checks
            are not repeated; the rest is what `send` does."""
            if self.disconnected:
                return True  # as `send`: nothing to write to
            if self.response_started or self.flow.write_paused or self.scope["method"] == "HEAD":
                return False
            self.response_started = self.response_complete = True
            self.waiting_for_100_continue = False
            if self.access_log:
                self.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(self.scope), self.scope["method"],
                                        get_path_with_query_string(self.scope), self.scope["http_version"], status)
            content = [STATUS_LINE[status], _default_lines(self.default_headers), head]
            if not self.keep_alive:
                content.append(b"connection: close\r\n")
            content += (b"\r\n", body)
            self.transport.write(b"".join(content))
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()
            self._release()
            return True

    class HttpToolsTransportProtocol(_Watched, HttpToolsProtocol):
        """uvicorn's httptools protocol, exposing the transport in each request's scope as it builds the scope
        (no wrapper around the app, one coroutine less per request than the mixin), and sending each response's
        head and first body bytes in one write (`CoalescingCycle`)."""

        @override
        def on_message_begin(self) -> None:
            super().on_message_begin()
            extensions: dict[str, Any] = {TRANSPORT_KEY: self.transport}
            self.scope["extensions"] = extensions

        @override
        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            cycle = self.cycle
            if type(cycle) is RequestResponseCycle:  # it has not run yet: `send` is looked up when it does
                cycle.__class__ = CoalescingCycle
                self.scope["extensions"][SEND_WHOLE_KEY] = cycle.send_whole  # type: ignore[attr-defined]

        # Inline runs (see the module docstring). `_waiting`: the request whose body is awaited before its run.
        _waiting: tuple[Any, Any] | None = None
        _runs: _InlineRuns | None = None

        @override
        def _start_asgi_task(self, cycle: Any, app: Any) -> None:
            """uvicorn's start of a request's app, which makes a task: here, inline when the app
            says so (not when uvicorn is to give each request a fresh context: those get their task)."""
            runs_inline = getattr(app, "runs_inline", None)
            if (runs_inline is not None and not cycle.waiting_for_100_continue and not self.config.reset_contextvars
                    and runs_inline(cycle.scope)):
                if not cycle.more_body:
                    self._inline_runs().add(self, cycle, app)
                    return
                if self._waiting is None:
                    self._waiting = (cycle, app)
                    return
            super()._start_asgi_task(cycle, app)

        def _inline_runs(self) -> _InlineRuns:
            runs = self._runs
            if runs is None:  # one per server, kept on uvicorn's server state (shared by its connections)
                runs = getattr(self.server_state, "aiml_mock_inline", None)
                if runs is None:
                    runs = _InlineRuns(self.loop)
                    self.server_state.aiml_mock_inline = runs  # type: ignore[attr-defined]
                self._runs = runs
            return runs

        @override
        def on_message_complete(self) -> None:
            super().on_message_complete()
            waiting = self._waiting
            if waiting is not None and waiting[0] is self.cycle:
                self._waiting = None
                self._inline_runs().add(self, *waiting)

        def run_inline(self, cycle: Any, app: Any) -> None:
            """Run the app for this request now; if it waits for something, it goes on as a task."""
            coro = cycle.run_asgi(app)
            try:
                yielded = coro.send(None)
            except StopIteration:
                return
            except Exception:  # run_asgi answers the app's own errors; this is uvicorn's, caught as a task would
                logging.getLogger("uvicorn.error").exception("Exception in an inline run")
                return
            task = self.loop.create_task(_continued(coro, yielded))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

        # Keep-alive: uvicorn cancels its idle timer on every read and arms a new one after every answer, a timer
        # made and destroyed per request. Here one timer is armed when the connection goes idle and, when it
        # fires, closes the connection only if it has been idle for the whole timeout since; else it is armed
        # again for the rest. The same timeout, one timer per idle period instead of one per request.
        _idle_since: float | None = None  # when the last answer completed; None while a request is under way

        @override
        def _unset_keepalive_if_required(self) -> None:
            """Data arrived: the connection is busy (the timer, if armed, finds that out when it fires)."""
            self._idle_since = None

        @override
        def on_response_complete(self) -> None:
            """uvicorn's, but for the keep-alive timer."""
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self.flow.resume_reading()
            if self.pipeline:
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
                return
            self._idle_since = self.loop.time()
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_at(self._idle_since + self.timeout_keep_alive,
                                                                 self._keep_alive_expired)

        def _keep_alive_expired(self) -> None:
            self.timeout_keep_alive_task = None
            idle_since = self._idle_since
            if idle_since is None:  # busy: the answer's completion arms the timer again
                return
            deadline = idle_since + self.timeout_keep_alive
            if self.loop.time() < deadline:
                self.timeout_keep_alive_task = self.loop.call_at(deadline, self._keep_alive_expired)
            else:
                self.timeout_keep_alive_handler()

        @override
        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            waiting, self._waiting = self._waiting, None
            if waiting is not None:  # its body never came: the app sees the disconnect, as it would have
                super()._start_asgi_task(*waiting)
            if self.timeout_keep_alive_task is not None:
                self.timeout_keep_alive_task.cancel()
                self.timeout_keep_alive_task = None

    _fast = HttpToolsTransportProtocol
except ImportError:  # pragma: no cover
    pass


def uvicorn_version() -> tuple[int, ...]:
    return tuple(int(part) for part in uvicorn.__version__.split(".")[:2] if part.isdigit())


def fast_supported() -> str | None:
    """None when `fast` can run here; else why not (for the one warning line)."""
    low, high = TESTED_UVICORN
    if not low <= uvicorn_version() < high:
        return (f"uvicorn {uvicorn.__version__} is outside the range the fast protocol is tested with "
                f"(>={low[0]}.{low[1]},<{high[0]}.{high[1]})")
    if _fast is None:
        return "the fast protocol needs httptools (pip install 'uvicorn[standard]')"
    return None


def choose(name: str | None, default: ProtocolName) -> tuple[ProtocolName, str | None]:
    """The protocol to run (`name`, else `default`) and, when `fast` cannot run here, the warning saying so:
    then `stock` runs instead."""
    chosen: ProtocolName = "stock" if name == "stock" else "fast" if name == "fast" else default
    if chosen == "fast":
        why = fast_supported()
        if why is not None:
            return "stock", f"aiml-mock: {why}; serving with --protocol stock"
    return chosen, None


def protocol_class(name: ProtocolName = "stock") -> type[asyncio.Protocol]:
    """The class to pass as `uvicorn.Config(http=...)`: `stock` (uvicorn's, transport registered) or `fast`."""
    if name == "fast" and _fast is not None:
        return _fast
    return _stock
