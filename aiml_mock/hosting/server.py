"""`MockServer`: the app under uvicorn in a background thread, on a free port, as a context manager.

    with MockServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from aiml_mock.core.settings import ProtocolName, Settings
from aiml_mock.hosting._protocol import choose, protocol_class
from aiml_mock.web.app import MockApp, create_app, make_front
from aiml_mock.web.state import MockState, build_state


def server_config(app: Starlette, settings: Settings, default_protocol: ProtocolName = "stock", **options: Any
                  ) -> uvicorn.Config:
    """uvicorn's config for one mock process: `settings.protocol` (else `default_protocol`; transport faults need
    the connection, which both offer), and `X-Forwarded-*` honoured by the app only for the requests that carry
    it. When `fast` cannot run with the installed uvicorn, `stock` runs, with one warning line."""
    protocol, warning = choose(settings.protocol, default_protocol)
    options.setdefault("timeout_graceful_shutdown", graceful_shutdown_timeout(settings))
    # the lifespan closes what the app holds open at shutdown (the proxy's upstream connections)
    config = uvicorn.Config(app, log_level=settings.log_level, access_log=False, lifespan="on",
                            http=protocol_class(protocol), proxy_headers=False, **options)
    if warning:
        logging.getLogger("uvicorn.error").warning(warning)
    if isinstance(app, MockApp):
        app.honour_forwarded_headers(config.forwarded_allow_ips)
    else:
        config.proxy_headers = True
    return config


# Settings the socket or uvicorn itself holds: changing one needs another server. Every other one is live.
RESTART_SETTINGS = frozenset({"host", "port", "workers", "log_level"})


def graceful_shutdown_timeout(settings: Settings) -> int:
    """uvicorn's graceful-shutdown timeout: past the mock's `shutdown_grace`, so that the requests still waiting
    are answered (503, `_draining`) before uvicorn would cancel them (a plain-text 500 and a traceback each)."""
    return int(settings.shutdown_grace) + 2


class DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the mock when its shutdown begins: requests still waiting get `shutdown_grace`
    seconds, then 503 with `connection: close` (`_draining`)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        state = _state_of(self.config)
        if state is not None:
            state.draining.reset()
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = _state_of(self.config)
        if state is not None:
            state.draining.begin(state.settings.shutdown_grace)
        await super().shutdown(sockets)


def _state_of(config: uvicorn.Config) -> MockState | None:
    app = config.app
    state: MockState | None = getattr(getattr(app, "state", None), "mock", None) if isinstance(app, MockApp) else None
    return state


class _Server(DrainingServer):
    """uvicorn's server, telling the starting thread the moment it listens (an event, not a poll)."""

    def __init__(self, config: uvicorn.Config, started: threading.Event) -> None:
        super().__init__(config)
        self.started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.started_event.set()


class MockServer:
    """Runs a mock on 127.0.0.1 (port 0 by default: a free port) until `stop()` or the end of a `with`."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        base = settings or Settings(port=0)
        self.settings = base.replace(**overrides) if overrides else base
        self.app = create_app(self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def state(self) -> MockState:
        state: MockState = self.app.state.mock
        return state

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the server's root."""
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI SDK (`.../v1`)."""
        return f"{self.url}/v1"

    @contextmanager
    def configured(self, **changes: Any) -> Iterator[MockServer]:
        """Serve with these settings changed inside the block, on the same socket (no restart).

        The block gets a fresh state (journal, faults, caches); the previous one is put back afterwards.
        `ValueError` for the settings only a new server can change (`RESTART_SETTINGS`).
        """
        needs_restart = sorted(
            name for name in changes if name in RESTART_SETTINGS and changes[name] != getattr(self.settings, name)
        )
        if needs_restart:
            raise ValueError(f"{', '.join(needs_restart)} cannot change on a running server: start another one")
        previous = self.state
        new_state = build_state(self.settings.replace(**changes))
        front = make_front(new_state)  # a cassette or a missing extra fails here, not in the block's first request
        self.app.state.mock, self.settings = new_state, new_state.settings
        try:
            yield self
        finally:
            self.app.state.mock, self.settings = previous, previous.settings
            if front is not None:
                front.close()  # the block's upstream connections (proxy.Front)

    def start(self) -> MockServer:
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and without it every answer
        # on a kept-alive connection waits ~40 ms (Nagle's algorithm meeting the client's delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port))
        sock.listen(2048)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = server_config(self.app, self.settings, timeout_keep_alive=30)
        started = threading.Event()
        self._server = _Server(config, started)
        self._thread = threading.Thread(target=self._run, args=(sock, started), name="aiml-mock", daemon=True)
        self._thread.start()
        started.wait(10)
        if not self._server.started:
            self.stop()
            raise RuntimeError("aiml-mock did not start within 10 s")
        return self

    def _run(self, sock: socket.socket, started: threading.Event) -> None:
        assert self._server is not None
        server = self._server
        # uvicorn installs signal handlers only in the main thread; here it does not.
        try:
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            started.set()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()
        self._thread = self._server = self._socket = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
                 ) -> None:
        self.stop()
