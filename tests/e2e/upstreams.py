"""Upstreams for the proxy's tests, on 127.0.0.1: a small ASGI app under uvicorn in a thread, and one that
answers off the contract (the violation, drift and check paths)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class ThreadServer:
    """A small ASGI app under uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])),
                                       daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.005)  # uvicorn offers no started event to wait on; a few ms at start-up
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


OFF_CONTRACT = b'{"data":[{"url":42}],"extra":true}'  # no `created`, a number for a URL: two breaches


async def off_contract(request: Request) -> Response:
    await request.body()
    return Response(OFF_CONTRACT, 200, {"x-request-id": "req-1"}, "application/json")


def off_contract_upstream() -> ThreadServer:
    """An upstream answering every generation with `OFF_CONTRACT`."""
    return ThreadServer(Starlette(routes=[Route("/v1/images/generations", off_contract, methods=["POST"])]))
