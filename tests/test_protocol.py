"""The two HTTP protocols (`--protocol stock|fast`): what each overrides in uvicorn still exists, the uvicorn
versions `fast` runs on are the ones pyproject.toml allows, and outside them `stock` runs, with one warning."""

from __future__ import annotations

import inspect
import re
import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from aiml_mock.core.settings import Settings
from aiml_mock.hosting import _protocol
from aiml_mock.hosting.server import server_config
from aiml_mock.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def own_classes() -> list[type]:
    return [value for value in vars(_protocol).values()
            if inspect.isclass(value) and value.__module__ == _protocol.__name__]


def uvicorn_bases(cls: type) -> list[type]:
    return [base for base in cls.__mro__[1:] if base.__module__.startswith("uvicorn.")]


def overriding(cls: type) -> dict[str, Any]:
    """The methods `cls` defines itself that also exist on a base class."""
    return {name: value for name, value in vars(cls).items() if callable(value) and not name.startswith("__")
            and any(name in vars(base) for base in cls.__mro__[1:])}


def test_the_module_defines_protocols_and_cycles_of_both_kinds() -> None:
    names = {cls.__name__ for cls in own_classes() if uvicorn_bases(cls)}
    assert {"StockH11Protocol", "StockHttpToolsProtocol", "HttpToolsTransportProtocol", "CoalescingCycle"} <= names


@pytest.mark.parametrize("cls", [cls for cls in own_classes() if uvicorn_bases(cls)], ids=lambda cls: cls.__name__)
def test_every_override_names_a_method_uvicorn_s_class_still_has(cls: type) -> None:
    """When uvicorn renames or drops a method the protocol overrides, this fails (the override would silently
    stop being called)."""
    marked = {name for klass in cls.__mro__ if klass.__module__ == _protocol.__name__
              for name, value in vars(klass).items() if getattr(value, "__override__", False)}
    assert marked, f"{cls.__name__} overrides nothing?"
    missing = [name for name in marked if not any(name in vars(base) for base in uvicorn_bases(cls))]
    assert not missing, f"uvicorn {uvicorn.__version__}'s {uvicorn_bases(cls)[0].__name__} lacks {missing}"


@pytest.mark.parametrize("cls", own_classes(), ids=lambda cls: cls.__name__)
def test_every_method_shadowing_a_base_one_is_marked_as_an_override(cls: type) -> None:
    unmarked = [name for name, value in overriding(cls).items() if not getattr(value, "__override__", False)]
    assert not unmarked, f"{cls.__name__}: mark {unmarked} with @override"


def test_stock_adds_only_the_transport_registration_to_uvicorn_s_protocols() -> None:
    for cls in (_protocol.StockH11Protocol, _protocol.StockHttpToolsProtocol):
        own = {name for klass in cls.__mro__ if klass.__module__ == _protocol.__name__ for name in overriding(klass)}
        # asyncio's protocol interface only: the transport's registration and the read/idle timeouts' watchdog
        assert own == {"connection_made", "connection_lost", "data_received"}, cls.__name__


def test_the_tested_uvicorn_range_is_the_one_pyproject_pins() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [pin] = [spec for spec in dependencies if re.match(r"uvicorn\b", spec)]
    (low_major, low_minor), (high_major, high_minor) = _protocol.TESTED_UVICORN
    assert pin.replace(" ", "").endswith(f">={low_major}.{low_minor},<{high_major}.{high_minor}"), pin
    assert _protocol.fast_supported() is None  # the installed uvicorn is one of them


def test_fast_is_chosen_where_it_can_run_and_stock_on_request() -> None:
    assert _protocol.choose(None, "fast") == ("fast", None)
    assert _protocol.choose(None, "stock") == ("stock", None)
    assert _protocol.choose("stock", "fast") == ("stock", None)
    assert _protocol.protocol_class("fast") is _protocol.HttpToolsTransportProtocol
    assert _protocol.protocol_class("stock") is _protocol.StockHttpToolsProtocol


@pytest.mark.parametrize("version", ["0.56.0", "0.52.4", "1.0.0"])
def test_an_untested_uvicorn_falls_back_to_stock_with_one_warning_line(
        version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn, "__version__", version)
    name, warning = _protocol.choose(None, "fast")
    assert name == "stock" and warning is not None
    assert f"uvicorn {version}" in warning and "--protocol stock" in warning and "\n" not in warning
    assert _protocol.choose("fast", "stock")[0] == "stock"  # asked for by name, it cannot run either


def test_server_config_logs_the_fallback_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    monkeypatch.setattr(uvicorn, "__version__", "0.99.0")
    config = server_config(create_app(Settings()), Settings(), "fast")  # uvicorn's log handler: this stderr
    assert config.http is _protocol.StockHttpToolsProtocol
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("WARNING:") and "uvicorn 0.99.0" in line


def test_mock_server_runs_stock_by_default_and_fast_when_asked() -> None:
    from aiml_mock import MockServer

    for overrides, expected in (({}, _protocol.StockHttpToolsProtocol),
                                ({"protocol": "fast"}, _protocol.HttpToolsTransportProtocol)):
        with MockServer(**overrides) as server:
            assert server._server is not None and server._server.config.http is expected


def test_serve_runs_fast_by_default_and_stock_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiml_mock.hosting import cli

    configs: list[uvicorn.Config] = []

    class Recorded:
        def __init__(self, config: uvicorn.Config) -> None:
            configs.append(config)

        def run(self, sockets: Any) -> None:
            for sock in sockets:
                sock.close()

    monkeypatch.setattr(cli, "_quiet_exit_server", lambda: Recorded)
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # serve's own SIGTERM handling, not the test's
    monkeypatch.setattr("aiml_mock.web.app.settle_heap", lambda: None)  # no gc.freeze() in the test process
    assert cli.serve(Settings(port=0)) == 0
    assert cli.serve(Settings(port=0, protocol="stock")) == 0
    assert [config.http for config in configs] == [_protocol.HttpToolsTransportProtocol,
                                                   _protocol.StockHttpToolsProtocol]


def test_stock_forgets_a_connection_once_it_is_closed() -> None:
    import httpx

    from aiml_mock import MockServer
    from aiml_mock.web import transport as transport_module

    def registered(port: int) -> list[Any]:
        return [key for key in list(transport_module._connections) if key[0][1] == port]

    with MockServer(protocol="stock") as server:
        assert server._server is not None
        with httpx.Client() as client:
            assert client.get(f"{server.url}/health").status_code == 200
            assert len(registered(server.port)) == 1
        for _ in range(200):  # until the server has seen the close (an event on its loop, in its thread)
            if not server._server.server_state.connections:
                break
            threading.Event().wait(0.01)
        assert registered(server.port) == []
