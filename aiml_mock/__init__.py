"""aiml-mock: a faithful, offline mock of the AI/ML API image endpoint (`POST /v1/images/generations`).

The names below load on first use (PEP 562), so `import aiml_mock` is cheap; so is every pytest run in an
environment that has aiml-mock installed, since pytest imports the package to load its plugin.
"""

import importlib as _importlib
import typing as _typing

__version__ = "0.1.0"

_EXPORTS = {
    "ApiError": "aiml_mock.core.errors",
    "Contract": "aiml_mock.core.contract",
    "MockHandle": "aiml_mock.tools.testing",
    "MockServer": "aiml_mock.hosting.server",
    "Settings": "aiml_mock.core.settings",
    "Violation": "aiml_mock.core.contract",
    "create_app": "aiml_mock.web.app",
    "load_contract": "aiml_mock.core.contract",
}

if _typing.TYPE_CHECKING:
    from aiml_mock.core.contract import Contract, Violation, load_contract
    from aiml_mock.core.errors import ApiError
    from aiml_mock.core.settings import Settings
    from aiml_mock.hosting.server import MockServer
    from aiml_mock.tools.testing import MockHandle
    from aiml_mock.web.app import create_app

__all__ = [
    "ApiError",
    "Contract",
    "MockHandle",
    "MockServer",
    "Settings",
    "Violation",
    "__version__",
    "create_app",
    "load_contract",
]


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aiml_mock' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
