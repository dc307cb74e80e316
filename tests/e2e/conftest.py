"""The e2e suite runs under both HTTP protocols (`stock`, `fast`): its shared server is one per protocol."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiml_mock import MockServer
from aiml_mock.core.settings import ProtocolName


@pytest.fixture(scope="session")
def live_server(protocol: ProtocolName) -> Iterator[MockServer]:
    with MockServer(protocol=protocol) as server:
        yield server
