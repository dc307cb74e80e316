"""aiml-mock: a faithful, offline mock of the AI/ML API image endpoint (`POST /v1/images/generations`)."""

__version__ = "0.1.0"

from aiml_mock.app import create_app  # noqa: E402
from aiml_mock.contract import Contract, Violation, load_contract  # noqa: E402
from aiml_mock.errors import ApiError  # noqa: E402
from aiml_mock.server import MockServer  # noqa: E402
from aiml_mock.settings import Settings  # noqa: E402

__all__ = [
    "ApiError",
    "Contract",
    "MockServer",
    "Settings",
    "Violation",
    "__version__",
    "create_app",
    "load_contract",
]
