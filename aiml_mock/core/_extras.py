"""The optional installs: the error a feature raises when the extra that installs its imports is missing.

The core install is what serving needs. Client tools import more (Hypothesis, httpx); where one is absent the
user gets an `ImportError` saying which extra to install, not a bare `No module named 'hypothesis'`.
"""

from __future__ import annotations

import importlib
import types

__all__ = ["MissingExtra", "missing_extra", "require"]


class MissingExtra(ImportError):
    """A module a feature needs is not installed; the message names the extra that installs it."""

    def __init__(self, feature: str, extra: str, module: str | None) -> None:
        self.feature, self.extra = feature, extra
        super().__init__(f"{feature} needs {module or 'a module'}, which the core install of aiml-mock leaves out:"
                         f" pip install 'aiml-mock[{extra}]'", name=module)


def missing_extra(feature: str, extra: str, error: ImportError) -> MissingExtra:
    """The `MissingExtra` for `error` (raise it `from error`): `feature` needs `aiml-mock[extra]`."""
    return MissingExtra(feature, extra, (error.name or "").partition(".")[0] or None)


def require(module: str, *, feature: str, extra: str) -> types.ModuleType:
    """`module`, imported on first use by `feature`; `MissingExtra` naming `extra` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise missing_extra(feature, extra, error) from error
