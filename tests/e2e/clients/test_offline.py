"""The matrix's guard: a client in this process that looks up or connects to anything but loopback fails."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.e2e.clients.conftest import LeftLoopback, Served


def test_a_lookup_or_a_connection_off_loopback_fails_before_anything_leaves() -> None:
    with pytest.raises(LeftLoopback, match="api.aimlapi.com"):
        socket.getaddrinfo("api.aimlapi.com", 443)
    with pytest.raises(LeftLoopback, match="192.0.2.1"), socket.socket() as probe:
        probe.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed, and refused before trying
    with pytest.raises(LeftLoopback):
        httpx.get("https://api.aimlapi.com/v1/models", timeout=1)


def test_loopback_is_allowed(mock: Served) -> None:
    assert httpx.get(f"{mock.url}/health", timeout=10).status_code == 200
    assert socket.getaddrinfo("localhost", 80) and socket.getaddrinfo("127.0.0.1", 80)
