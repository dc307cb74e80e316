"""Settings: one frozen value, built from keyword arguments, `AIML_MOCK_*` environment variables or the CLI.

Every setting has one name used everywhere: the keyword (`success_status=200`), the CLI flag
(`--success-status 200`, generated from the field), the environment variable (`AIML_MOCK_SUCCESS_STATUS=200`)
and the pytest marker (`@pytest.mark.aiml_mock(success_status=200)`). A field's `metadata["help"]` is its
`--help` text; fields with `metadata["cli"] = False` are not flags.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from aiml_mock.core.contract import ErrorStyle, Profile
from aiml_mock.core.faults import DEFAULT_POLICY_TERMS, parse_duration, parse_kinds, parse_latency
from aiml_mock.core.ratelimit import parse_rate_limit

ENV_PREFIX = "AIML_MOCK_"
ProtocolName = Literal["fast", "stock"]
RecordMode = Literal["none", "once", "all"]
ReplayMiss = Literal["error", "mock"]
DEFAULT_UPSTREAM = "https://api.aimlapi.com"

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
    shutdown_grace: float = setting(
        1.0, "seconds requests in flight get to finish on SIGTERM; those still waiting then get 503 and a close")
    read_timeout: float = setting(
        5.0, "seconds a started request may go without a byte of its headers or body (then the connection closes)")
    idle_timeout: float = setting(10.0, "seconds a new connection may stay open without sending a request")
    max_header_bytes: int = setting(64 * 1024, "requests whose headers total more bytes get 431, nothing kept")
    strict: bool = setting(False, "refuse fields the contract does not define (the real API ignores them)")
    url_secret: str | None = setting(None, "key that signs image URLs (default: random per start)", cli=False)
    signing_key: str | None = setting(
        None, "secret that signs image URLs, the same on every replica so that any serves any image (default: "
        "random per start; required with --state)")
    state: str | None = setting(
        None, "keep the journal, fault rules, rate windows, ledger and image registry in Redis, shared by replicas: "
        "redis://HOST:PORT/DB (needs aiml-mock[redis] and --signing-key); default: in this process")
    image_cache_bytes: int = setting(
        8 * 1024 * 1024, "bytes of rendered images (and their base64) kept in memory, most recently used first")
    workers: int = setting(1, "uvicorn worker processes")
    log_level: str = setting("warning", "uvicorn log level")
    protocol: ProtocolName | None = setting(
        None, "HTTP protocol: stock (uvicorn's own) or fast (the mock's: ~25% more requests a second, on the "
        "uvicorn versions it is tested with); default: fast for `serve` where it can run, stock for MockServer and "
        "the pytest plugin")
    # realism on demand (faults.py, ratelimit.py, journal.py, admin.py)
    latency: str = setting("0", "added latency per generation: 250ms, 100ms-400ms, 300ms+-50ms, realistic[:SCALE]")
    fault_rate: float = setting(0.0, "probability (0-1) that a generation request gets a random fault")
    fault_kinds: tuple[str, ...] = setting(
        ("429", "500", "503"), "faults the random mode picks from: statuses 400-599, drop, stall, truncate, "
        "malformed, content_policy (comma-separated)")
    fault_retry_after: float = setting(1.0, "seconds an injected 429 asks clients to wait (retry-after, -ms)")
    stall_seconds: float = setting(30.0, "how long a stall holds the answer (then a 504) unless the client leaves")
    fault_headers: bool = setting(True, "honour the X-Mock-Fault and X-Mock-Latency request headers")
    rate_limit: str | None = setting(None, "requests per API key in a sliding window, e.g. 5/min, 10/s, 100/hour")
    content_policy_terms: tuple[str, ...] = setting(
        DEFAULT_POLICY_TERMS, "prompts with any of these words get the content-policy 400 (comma-separated; "
        "empty: off)")
    budget_usd: float | None = setting(
        None, "dollars each API key may spend, priced as the real API bills; the request that would pass it gets "
        "the out-of-credits answer (403; 429 insufficient_quota in the openai dialect)")
    journal_size: int = setting(1000, "requests the journal keeps (0: off)")
    journal_bytes: int = setting(16 * 1024 * 1024, "bytes the journal may hold (an estimate; oldest go first)")
    images_bytes: int = setting(16 * 1024 * 1024, "bytes the image registry (/__mock/images) may hold; oldest first")
    admin: bool = setting(True, "serve the admin API under /__mock/ (--no-admin: 404)")
    admin_token: str | None = setting(None, "require Authorization: Bearer TOKEN on the admin API")
    # record, replay and the validating proxy (proxy.py, cassette.py, replay.py; docs/record-replay.md)
    replay: str | None = setting(None, "answer from the cassette in this directory or .zip (`proxy --record DIR`)")
    record_mode: RecordMode = setting(
        "none", "with --replay: none (replay only), once (record what is missing through --upstream, then replay), "
        "all (forward and re-record everything)")
    upstream: str | None = setting(
        None, f"forward API requests to this OpenAI-compatible root (the proxy's default {DEFAULT_UPSTREAM})")
    replay_ignore: tuple[str, ...] = setting((), "request body fields a recording need not match (comma-separated)")
    replay_latency: str = setting("none", "replayed answers wait: recorded (the upstream's latency), none, or a factor")
    replay_miss: ReplayMiss = setting(
        "error", "an unrecorded request: error (in the API's shape, naming the closest recording) or mock (answered "
        "by the mock)")
    redact_headers: tuple[str, ...] = setting(
        (), "more request/response headers a cassette stores redacted (Authorization, cookies, api keys always are)",
        flag="--redact-header")
    max_requests: int | None = setting(None, "the proxy forwards at most this many requests; then it answers locally")
    upstream_keepalive: int = setting(
        32, "idle connections the proxy keeps open to the upstream for the next requests (0: one per request)")
    upstream_timeout: float = setting(
        600.0, "seconds the proxy waits for the upstream to answer (between bytes of it), then answers 504")
    admin_origins: tuple[str, ...] = setting(
        (), "web origins (scheme://host:port) besides the mock's own allowed to change state through the admin "
        "API (repeat the flag; comma-separated in the variable)", flag="--admin-origin")
    open_admin: bool = setting(
        False, "serve the admin API without --admin-token on an address beyond loopback (trusted networks only)")

    def __post_init__(self) -> None:
        if self.profile not in get_args(Profile):
            raise ValueError(f"profile must be one of {', '.join(get_args(Profile))}, not {self.profile!r}")
        if self.error_style is not None and self.error_style not in get_args(ErrorStyle):
            raise ValueError(f"error_style must be one of {', '.join(get_args(ErrorStyle))}")
        if self.protocol is not None and self.protocol not in get_args(ProtocolName):
            raise ValueError(f"protocol must be fast or stock, not {self.protocol!r}")
        if self.success_status is not None and not 200 <= self.success_status <= 299:
            raise ValueError("success_status must be a 2xx status")
        if self.image_ttl <= 0 or self.max_body_bytes <= 0 or self.image_cache_bytes < 0:
            raise ValueError("image_ttl and max_body_bytes must be positive")
        if isinstance(self.api_keys, str | list):
            object.__setattr__(self, "api_keys", _as_keys(self.api_keys))
        _check_realism(self)

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


def _check_realism(settings: Settings) -> None:
    """The fault, latency, rate-limit and journal settings, normalised and checked (`ValueError` naming them)."""
    # `--fault-kinds 429,500` and repeated flags alike
    for name in ("fault_kinds", "content_policy_terms", "replay_ignore", "redact_headers"):
        value = getattr(settings, name)
        items = value.split(",") if isinstance(value, str) else [part for item in value for part in item.split(",")]
        object.__setattr__(settings, name, tuple(item.strip() for item in items if item.strip()))
    try:
        parse_latency(settings.latency)
        parse_kinds(settings.fault_kinds)
        if settings.rate_limit:
            parse_rate_limit(settings.rate_limit)
        parse_duration(settings.fault_retry_after)
        parse_duration(settings.stall_seconds)
    except ValueError as error:
        raise ValueError(f"invalid setting: {error}") from None
    if not 0.0 <= settings.fault_rate <= 1.0:
        raise ValueError(f"fault_rate is a probability from 0 to 1, not {settings.fault_rate}")
    if settings.fault_rate and not settings.fault_kinds:
        raise ValueError("fault_rate needs at least one fault kind (fault_kinds)")
    if settings.state is not None:
        if not settings.state.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"state must be a Redis URL (redis://HOST:PORT/DB), not {settings.state!r}")
        if not settings.signing_key:
            raise ValueError("--state needs --signing-key (env AIML_MOCK_SIGNING_KEY), the same on every replica: "
                             "an image URL issued by one replica must be valid on the others")
    if settings.journal_size < 0 or settings.journal_bytes < 0 or settings.images_bytes < 0:
        raise ValueError("journal_size, journal_bytes and images_bytes cannot be negative")
    for name in ("shutdown_grace", "read_timeout", "idle_timeout"):
        value = getattr(settings, name)
        if not 0 < value <= 3600:
            raise ValueError(f"{name} must be above 0 and at most 3600 seconds, not {value}")
    if settings.max_header_bytes < 1024:
        raise ValueError(f"max_header_bytes must be at least 1024, not {settings.max_header_bytes}")
    if isinstance(settings.admin_origins, str | list):
        object.__setattr__(settings, "admin_origins", _as_keys(settings.admin_origins))
    object.__setattr__(settings, "admin_origins", tuple(origin.rstrip("/").lower()
                                                        for origin in settings.admin_origins))
    if settings.record_mode not in get_args(RecordMode) or settings.replay_miss not in get_args(ReplayMiss):
        raise ValueError("record_mode is none, once or all; replay_miss is error or mock")
    if settings.replay_latency not in ("recorded", "none"):
        try:
            if float(settings.replay_latency) < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"replay_latency is recorded, none or a factor, not {settings.replay_latency!r}") from None
    if settings.record_mode != "none" and not settings.replay:
        raise ValueError(f"record_mode {settings.record_mode} needs a cassette directory (replay)")
    if settings.record_mode != "none" and settings.replay and settings.replay.lower().endswith(".zip"):
        raise ValueError(f"record_mode {settings.record_mode} records into a directory, not an archive: "
                         f"unzip {settings.replay} first")
    if settings.max_requests is not None and settings.max_requests < 0:
        raise ValueError("max_requests cannot be negative")
    if settings.upstream_keepalive < 0:
        raise ValueError("upstream_keepalive cannot be negative")
    if not 0 < settings.upstream_timeout <= 86400:
        raise ValueError(f"upstream_timeout must be above 0 and at most 86400 seconds, not {settings.upstream_timeout}")
    if settings.budget_usd is not None and not (settings.budget_usd >= 0 and math.isfinite(settings.budget_usd)):
        raise ValueError(f"budget_usd is an amount of dollars (0 or more), not {settings.budget_usd}")


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
