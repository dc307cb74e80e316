"""Settings: one frozen value, built from keyword arguments, `AIML_MOCK_*` environment variables or the CLI.

Every setting has one name used everywhere: the keyword (`success_status=200`), the CLI flag
(`--success-status 200`, generated from the field), the environment variable (`AIML_MOCK_SUCCESS_STATUS=200`)
and the pytest marker (`@pytest.mark.aiml_mock(success_status=200)`). A field's `metadata["help"]` is its
`--help` text; fields with `metadata["cli"] = False` are not flags.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, get_args

from aiml_mock.contract import ErrorStyle, Profile

ENV_PREFIX = "AIML_MOCK_"

PROFILE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "aimlapi": {"error_style": "aimlapi"},
    "openai": {"error_style": "openai", "success_status": 200},
}


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A settings field with its help text (and `cli=False` for values no flag should set)."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True, slots=True)
class Settings:
    """How a mock server behaves. Defaults are the AI/ML API's documented behaviour."""

    host: str = setting("127.0.0.1", "interface to bind (0.0.0.0 only inside a container)")
    port: int = setting(8000, "port to listen on; 0 picks a free one")
    api_keys: tuple[str, ...] = setting(
        (), "accept only these keys (repeat the flag; comma-separated in the variable); none: any bearer key passes",
        flag="--api-key",
    )
    profile: Profile = setting("aimlapi", "aimlapi (the provider's documented behaviour) or openai (OpenAI's)")
    error_style: ErrorStyle | None = setting(None, "error body dialect: aimlapi or openai (default: the profile's)")
    success_status: int | None = setting(None, "status of every success (default: each model's documented one)")
    public_url: str | None = setting(None, "scheme://host:port that image URLs point at (e.g. behind Docker)")
    image_ttl: float = setting(3600.0, "seconds an image URL stays valid")
    seed: int = setting(0, "changes every image and revised prompt, deterministically")
    max_body_bytes: int = setting(1024 * 1024, "larger request bodies get 413 before they are read")
    strict: bool = setting(False, "refuse fields the contract does not define (the real API ignores them)")
    url_secret: str | None = setting(None, "key that signs image URLs (default: random per start)", cli=False)
    image_cache_bytes: int = setting(64 * 1024 * 1024, "bytes of rendered images kept in memory")
    workers: int = setting(1, "uvicorn worker processes")
    log_level: str = setting("warning", "uvicorn log level")

    def __post_init__(self) -> None:
        if self.profile not in get_args(Profile):
            raise ValueError(f"profile must be one of {', '.join(get_args(Profile))}, not {self.profile!r}")
        if self.error_style is not None and self.error_style not in get_args(ErrorStyle):
            raise ValueError(f"error_style must be one of {', '.join(get_args(ErrorStyle))}")
        if self.success_status is not None and not 200 <= self.success_status <= 299:
            raise ValueError("success_status must be a 2xx status")
        if self.image_ttl <= 0 or self.max_body_bytes <= 0 or self.image_cache_bytes < 0:
            raise ValueError("image_ttl and max_body_bytes must be positive")
        if isinstance(self.api_keys, str | list):
            object.__setattr__(self, "api_keys", _as_keys(self.api_keys))

    @property
    def effective_error_style(self) -> ErrorStyle:
        style = self.error_style or PROFILE_DEFAULTS[self.profile]["error_style"]
        return style

    @property
    def effective_success_status(self) -> int | None:
        """The status every success uses, or None for each model's documented status."""
        if self.success_status is not None:
            return self.success_status
        status = PROFILE_DEFAULTS[self.profile].get("success_status")
        return int(status) if status is not None else None

    def replace(self, **changes: Any) -> Settings:
        unknown = set(changes) - {spec.name for spec in fields(self)}
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `AIML_MOCK_*` variables, then keyword overrides on top."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = environ.get(ENV_PREFIX + spec.name.upper())
            if raw is not None:
                values[spec.name] = parse_value(spec.name, raw)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


def _as_keys(raw: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    return tuple(item.strip() for item in items if item.strip())


_HINTS: dict[str, Any] | None = None


def field_type(name: str) -> Any:
    """The plain type of a setting (`int` for `int | None`), read from the annotations."""
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(Settings)
    hint = _HINTS[name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return str
    return origin or hint


def parse_value(name: str, raw: str) -> Any:
    """A setting's value from its text form (environment variables, CLI)."""
    kind = field_type(name)
    if kind is tuple:
        return _as_keys(raw)
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in (int, float):
        return kind(raw)
    return raw or None
