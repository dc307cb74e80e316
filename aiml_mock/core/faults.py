"""Fault plans: which generation request fails, how, and how long it takes. Pure: no HTTP, no clock.

Three ways to choose a fault, one vocabulary (`FAULT_KINDS` and HTTP statuses 400-599):

- at start-up, at random but reproducibly: `Faults(rate=0.1, kinds=("429", "500"), seed=7)`;
- at run time, scripted: `Faults.add(FaultRule(status=503, times=2))` (the admin API and the pytest plugin);
- per request, from the client: the `X-Mock-Fault: 429` and `X-Mock-Latency: 250ms` headers.

`Faults.pick()` turns those into at most one `Fault` for a request; the app answers it (an `ApiError` for
HTTP faults, a transport behaviour for `drop`, `stall`, `truncate` and `malformed`). `Latency` specs
(`250ms`, `100ms-400ms`, `300ms+-50ms`, `realistic`) and the `ContentPolicy` live here too.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiml_mock.core.auth import redact
from aiml_mock.core.errors import CONTENT_POLICY_MESSAGE, ApiError
from aiml_mock.core.validation import ImageRequest

FaultKind = Literal["error", "delay", "drop", "stall", "truncate", "malformed", "content_policy"]
TRANSPORT_KINDS: tuple[FaultKind, ...] = ("drop", "stall", "truncate", "malformed")
FAULT_KINDS: tuple[FaultKind, ...] = (*TRANSPORT_KINDS, "content_policy")
FAULT_HEADER = "x-mock-fault"
LATENCY_HEADER = "x-mock-latency"
MAX_DELAY = 600.0  # seconds: no latency, stall or retry-after beyond ten minutes
DEFAULT_RETRY_AFTER = 1.0
DEFAULT_STALL = 30.0
NOMINAL_LIMIT = 5  # x-ratelimit-limit-requests of an injected 429 when no --rate-limit is set (DALL-E 3, tier 1)

# -- durations and latency -------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}


def parse_duration(text: str | float, *, default_unit: str = "s") -> float:
    """`250ms`, `1.5s`, `2m` or a bare number (seconds) -> seconds; `ValueError` naming the text otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if match is None:
            raise ValueError(f"{_shown(text)} is not a duration: use e.g. 250ms, 1.5s or 2 (seconds)")
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or default_unit).lower()]
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_DELAY:
        raise ValueError(f"{_shown(str(text))} is out of range: durations are 0 to {MAX_DELAY:g} seconds")
    return seconds


def format_duration(seconds: float) -> str:
    """`250ms`, `1.5s`, `2m3s`: the compact form OpenAI's `x-ratelimit-reset-*` headers use."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{rest}s"


# Rough times the providers take per request (seconds), from public reports; `realistic:SCALE` scales them.
REALISTIC_SECONDS: Mapping[str, float] = {
    "dall-e-3 standard": 12.0,
    "dall-e-3 hd": 20.0,
    "dall-e-3 wide": 3.0,  # added for 1792x1024 and 1024x1792
    "dall-e-2 256": 3.0,
    "dall-e-2 512": 4.0,
    "dall-e-2 1024": 5.0,
    "dall-e-2 per extra image": 1.0,
    "fast models": 2.0,  # ids with schnell, turbo, lightning, fast, flash
    "premium models": 12.0,  # ids with pro, ultra, max
    "gpt-image": 25.0,
    "other models": 7.0,
}
REALISTIC_JITTER = 0.1  # each draw is within +-10% of the figure
_FAST = re.compile(r"schnell|turbo|lightning|fast|flash", re.IGNORECASE)
_PREMIUM = re.compile(r"\bpro\b|-pro|ultra|max", re.IGNORECASE)


def realistic_seconds(request: ImageRequest) -> float:
    """How long the real model takes for this request (before jitter): see `REALISTIC_SECONDS`."""
    model, table = request.model, REALISTIC_SECONDS
    if model == "dall-e-3":
        seconds = table["dall-e-3 hd" if request.get("quality") == "hd" else "dall-e-3 standard"]
        return seconds + (table["dall-e-3 wide"] if request.width != request.height else 0.0)
    if model == "dall-e-2":
        side = max(request.width, request.height)
        size = "256" if side <= 256 else "512" if side <= 512 else "1024"
        return table[f"dall-e-2 {size}"] + table["dall-e-2 per extra image"] * max(0, request.count - 1)
    if "gpt-image" in model:
        return table["gpt-image"]
    if _FAST.search(model):
        return table["fast models"]
    if _PREMIUM.search(model):
        return table["premium models"]
    return table["other models"]


@dataclass(frozen=True, slots=True)
class Latency:
    """Added latency: fixed, uniform between `low` and `high`, normal around `low` (sd `high`), or realistic."""

    kind: Literal["fixed", "uniform", "normal", "realistic"]
    low: float = 0.0
    high: float = 0.0
    text: str = ""

    def sample(self, rng: random.Random, request: ImageRequest | None = None) -> float:
        if self.kind == "fixed":
            return self.low
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        if self.kind == "normal":
            return min(MAX_DELAY, max(0.0, rng.gauss(self.low, self.high)))
        base = realistic_seconds(request) if request is not None else REALISTIC_SECONDS["other models"]
        return base * self.low * rng.uniform(1 - REALISTIC_JITTER, 1 + REALISTIC_JITTER)

    def __str__(self) -> str:
        return self.text


def parse_latency(spec: str | float | None) -> Latency | None:
    """`250ms`, `100ms-400ms` (uniform), `300ms+-50ms` (normal), `realistic[:SCALE]`; None for no latency."""
    if spec is None:
        return None
    text = str(spec).strip()
    if text.lower() in ("", "0", "none", "off", "0s", "0ms"):
        return None
    if text.lower().startswith("realistic"):
        _, _, scale_text = text.partition(":")
        try:
            scale = float(scale_text) if scale_text else 1.0
        except ValueError:
            raise ValueError(f"{text!r}: the scale after realistic: must be a number, e.g. realistic:0.01") from None
        if not 0 < scale <= 10:
            raise ValueError(f"{text!r}: the realistic scale must be above 0 and at most 10")
        return Latency("realistic", scale, 0.0, text)
    if text.startswith("-"):
        raise ValueError(f"{_shown(text)} is negative: latencies are 0 to {MAX_DELAY:g} seconds")
    for separator, kind in (("+-", "normal"), ("±", "normal"), ("-", "uniform")):
        if separator in text:
            left, _, right = text.partition(separator)
            unit = _unit_of(right)
            try:
                low, high = parse_duration(left, default_unit=unit), parse_duration(right)
            except ValueError as error:
                raise ValueError(f"{_shown(text)} is not a latency range ({error}): use e.g. 100ms-400ms or "
                                 "300ms+-50ms") from None
            if kind == "uniform" and low > high:
                raise ValueError(f"{text!r}: the range must go from low to high")
            return Latency(kind, low, high, text)  # type: ignore[arg-type]
    seconds = parse_duration(spec if isinstance(spec, int | float) else text)
    return Latency("fixed", seconds, seconds, text) if seconds else None


def _shown(text: str) -> str:
    """A client's text quoted in a message, shortened: a header can be kilobytes long."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _unit_of(text: str) -> str:
    match = _DURATION.match(text)
    return (match.group(2) or "s").lower() if match else "s"


# -- the content policy ----------------------------------------------------------------------------

DEFAULT_POLICY_TERMS: tuple[str, ...] = (
    "nsfw", "nude", "nudity", "naked", "porn", "pornographic", "explicit sex", "gore", "gory", "beheading",
    "decapitated", "dismembered",
)


def content_policy_error() -> ApiError:
    """The real API's answer to a prompt its safety system refuses (`content_policy_violation`)."""
    return ApiError(400, CONTENT_POLICY_MESSAGE, code="content_policy_violation", type="invalid_request_error",
                    openai_message=CONTENT_POLICY_MESSAGE)


# The only characters an IGNORECASE regex matches with an ASCII letter besides its two cases (`re` folds them
# so), mapped to that letter: with them folded, a lower-cased prompt holds every ASCII term the regex can find.
_FOLD_TO_ASCII = str.maketrans({"\u0130": "i", "\u0131": "i", "\u212a": "k", "\u017f": "s"})


class ContentPolicy:
    """Refuses prompts containing any of the terms (whole words, any case); no terms: everything passes."""

    def __init__(self, terms: Iterable[str] = DEFAULT_POLICY_TERMS) -> None:
        self.terms = tuple(term.strip() for term in terms if term.strip())
        alternatives = "|".join(re.escape(term) for term in sorted(self.terms, key=len, reverse=True))
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if self.terms else None
        ascii_terms = all(term.isascii() for term in self.terms)
        lowered = {term.lower() for term in self.terms}
        # a term containing another ("pornographic", "porn") needs no test of its own in the pre-check
        self._lowered = tuple(sorted(term for term in lowered if not any(other != term and other in term
                                                                            for other in lowered))
                              ) if ascii_terms else None

    def _may_match(self, prompt: str) -> bool:
        """False when no term occurs in the prompt in any case: a few substring tests where the regex, with its
        word boundaries, costs five times as much on every generation."""
        if self._lowered is None:
            return True
        text = (prompt if prompt.isascii() else prompt.translate(_FOLD_TO_ASCII)).lower()
        for term in self._lowered:
            if term in text:
                return True
        return False

    def violation(self, prompt: str) -> str | None:
        """The first refused term in the prompt, or None."""
        if self._pattern is None or not self._may_match(prompt):
            return None
        match = self._pattern.search(prompt)
        return match.group(0) if match else None

    def check(self, prompt: str) -> None:
        if self._pattern is not None and self._may_match(prompt) and self._pattern.search(prompt):
            raise content_policy_error()


# -- one decided fault -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to one request: wait `delay` seconds, then answer with `kind` (`delay`: normally)."""

    kind: FaultKind
    status: int | None = None
    retry_after: float | None = None
    message: str | None = None
    should_retry: bool | None = None
    delay: float = 0.0
    stall: float = DEFAULT_STALL
    label: str = ""
    after: int | None = None  # a streamed answer: strike after this many partial images (`drop@1`), else at once

    def error(self, limit: int = NOMINAL_LIMIT) -> ApiError:
        """The `ApiError` an HTTP fault answers with, headers included (429: retry-after and x-ratelimit-*)."""
        if self.kind == "content_policy":
            return content_policy_error()
        status = self.status or 500
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers.update(retry_headers(self.retry_after))
        if status == 429:
            headers["x-ratelimit-limit-requests"] = str(limit)
            headers["x-ratelimit-remaining-requests"] = "0"
            headers["x-ratelimit-reset-requests"] = format_duration(self.retry_after or 0.0)
        if self.should_retry is not None:
            headers["x-should-retry"] = "true" if self.should_retry else "false"
        return ApiError(status, self.message or "", openai_message=self.message, headers=headers)


def retry_headers(seconds: float) -> dict[str, str]:
    """`retry-after` in whole seconds (HTTP allows no fraction) and `retry-after-ms`, both rounded up.

    Each says "wait at least this long", so rounding up keeps both true: 0.05 s is `retry-after: 1` (what
    urllib3, curl and most clients read: they wait a whole second) and `retry-after-ms: 50` (what the openai
    SDKs read first). Rounding down would tell the whole-second readers to retry at once, before the wait is
    over. The float is first rounded to a microsecond, so 0.07 s is 70 ms, not 71 (0.07 * 1000 > 70).
    """
    whole, millis = math.ceil(round(seconds, 6)), math.ceil(round(seconds * 1000, 3))
    return {"retry-after": str(whole), "retry-after-ms": str(millis)}


# -- scripted rules --------------------------------------------------------------------------------

_RULE_FIELDS = ("status", "kind", "times", "retry_after", "message", "should_retry", "latency", "stall",
                "model", "prompt", "key", "after")


@dataclass(slots=True, eq=False)
class FaultRule:
    """A scripted fault: answer the next `times` matching generation requests (None: all) with it.

    `status` (400-599) makes an HTTP error; `kind` one of `FAULT_KINDS` (or `delay` with only `latency`);
    `model`, `prompt` (a case-insensitive substring) and `key` (the API key) narrow the requests it hits.
    """

    status: int | None = None
    kind: FaultKind | None = None
    times: int | None = 1
    retry_after: float | None = None
    message: str | None = None
    should_retry: bool | None = None
    latency: Latency | None = None
    stall: float | None = None
    model: str | None = None
    prompt: str | None = None
    key: str | None = None
    after: int | None = None
    id: int = 0
    hits: int = 0
    _prompt_lower: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.status is not None and (isinstance(self.status, bool) or not 400 <= int(self.status) <= 599):
            raise ValueError(f"status must be an HTTP error status from 400 to 599, not {self.status!r}")
        if self.kind is None:
            self.kind = "error" if self.status is not None else "delay" if self.latency is not None else None
        if self.kind is None:
            raise ValueError("a fault rule needs a status (e.g. 503), a kind (drop, stall, truncate, malformed, "
                             "content_policy) or a latency")
        if self.kind not in ("error", "delay", *FAULT_KINDS):
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, not {self.kind!r}")
        if self.kind == "error" and self.status is None:
            raise ValueError("an error fault needs a status from 400 to 599")
        if self.after is not None and (isinstance(self.after, bool) or not 0 <= self.after <= 16):
            raise ValueError(f"after must be a count of partial images from 0 to 16, not {self.after!r}")
        if self.times is not None and (isinstance(self.times, bool) or self.times < 1):
            raise ValueError(f"times must be a positive integer or null (every request), not {self.times!r}")
        for name in ("retry_after", "stall"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, parse_duration(value))
        self._prompt_lower = (self.prompt or "").lower()

    def matches(self, request: ImageRequest, key: str | None) -> bool:
        return (
            (self.model is None or self.model == request.model)
            and (not self._prompt_lower or self._prompt_lower in request.prompt.lower())
            and (self.key is None or self.key == key)
        )

    def fault(self, defaults: FaultDefaults, rng: random.Random, request: ImageRequest) -> Fault:
        delay = self.latency.sample(rng, request) if self.latency is not None else 0.0
        assert self.kind is not None
        return Fault(
            kind=self.kind, status=self.status,
            retry_after=defaults.retry_after_for(self.status, self.retry_after),
            message=self.message, should_retry=self.should_retry, delay=delay,
            stall=self.stall if self.stall is not None else defaults.stall, label=self.label, after=self.after,
        )

    @property
    def label(self) -> str:
        return str(self.status) if self.kind == "error" else str(self.kind)

    def to_dict(self) -> dict[str, Any]:
        """The rule as the admin API shows it; the key redacted."""
        return {
            "id": self.id, "kind": self.kind, "status": self.status, "times": self.times, "hits": self.hits,
            "retry_after": self.retry_after, "message": self.message, "should_retry": self.should_retry,
            "latency": str(self.latency) if self.latency else None, "stall": self.stall, "model": self.model,
            "prompt": self.prompt, "key": redact(self.key) if self.key else None, "after": self.after,
        }

    @classmethod
    def from_dict(cls, data: Any) -> FaultRule:
        """A rule from JSON (`{"status": 503, "times": 2}`); `ValueError` naming the field otherwise."""
        if not isinstance(data, Mapping):
            raise ValueError("a fault rule must be a JSON object, e.g. {\"status\": 503, \"times\": 2}")
        unknown = sorted(set(data) - set(_RULE_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))} in the fault rule; "
                             f"known: {', '.join(_RULE_FIELDS)}")
        values: dict[str, Any] = {}
        for name in _RULE_FIELDS:
            if data.get(name) is not None:
                values[name] = _rule_value(name, data[name])
        if "times" in data and data["times"] is None:
            values["times"] = None
        return cls(**values)


_RULE_TYPES: Mapping[str, tuple[type, ...]] = {
    "status": (int,), "times": (int,), "retry_after": (int, float, str), "stall": (int, float, str),
    "should_retry": (bool,), "latency": (int, float, str), "kind": (str,), "message": (str,), "model": (str,),
    "prompt": (str,), "key": (str,), "after": (int,),
}


def _rule_value(name: str, value: Any) -> Any:
    kinds = _RULE_TYPES[name]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join({int: "integer", float: "number", str: "string", bool: "boolean"}[k] for k in kinds)
        raise ValueError(f"{name} must be {expected}, not {value!r}")
    raw: Any = value
    try:
        if name == "latency":
            return parse_latency(raw)
        if name == "kind":
            return raw.replace("-", "_")
        return raw
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


@dataclass(frozen=True, slots=True)
class FaultDefaults:
    """Values a fault takes when its rule does not say: the 429 delay, the stall's bound."""

    retry_after: float = DEFAULT_RETRY_AFTER
    stall: float = DEFAULT_STALL

    def retry_after_for(self, status: int | None, given: float | None) -> float | None:
        if given is not None:
            return given
        return self.retry_after if status == 429 else None


# -- fault tokens: --fault-kinds and the X-Mock-Fault header ----------------------------------------


def split_after(token: str) -> tuple[str, int | None]:
    """`drop@1` -> ("drop", 1): a fault that strikes a streamed answer after that many partial images."""
    kind, at, after = token.partition("@")
    if not at:
        return token, None
    after = after.strip()
    if not after.isdigit() or int(after) > 16:
        raise ValueError(f"{token.strip()!r}: after '@' give a count of partial images from 0 to 16, e.g. drop@1")
    return kind, int(after)


def parse_kind(token: str) -> tuple[FaultKind, int | None]:
    """`429` -> ("error", 429); `drop` -> ("drop", None); `ValueError` with the accepted forms otherwise."""
    text = token.strip().lower().replace("-", "_")
    if text.isdigit() and 400 <= int(text) <= 599:
        return "error", int(text)
    if text in FAULT_KINDS:
        return text, None
    raise ValueError(f"{token.strip()!r} is not a fault: use an HTTP status from 400 to 599 or one of "
                     f"{', '.join(FAULT_KINDS)}")


def parse_kinds(tokens: Iterable[str]) -> tuple[str, ...]:
    """`("429,500", "drop")` -> `("429", "500", "drop")`, each checked."""
    kinds = tuple(part.strip() for token in tokens for part in token.split(",") if part.strip())
    for kind in kinds:
        parse_kind(split_after(kind)[0])
    return kinds


def parse_header_fault(value: str, defaults: FaultDefaults) -> Fault:
    """`X-Mock-Fault: 429`, optionally with parameters: `503; retry-after=0.05; should-retry=false; stall=2`."""
    token, *params = value.split(";")
    token, after = split_after(token)
    kind, status = parse_kind(token)
    options: dict[str, str] = {}
    for param in params:
        name, equals, raw = param.partition("=")
        name = name.strip().lower().replace("_", "-")
        if not equals or name not in ("retry-after", "should-retry", "stall", "message"):
            raise ValueError(f"{param.strip()!r} is not a parameter: use retry-after=SECONDS, should-retry=true|false,"
                             " stall=SECONDS or message=TEXT")
        options[name] = raw.strip()
    should = options.get("should-retry")
    if should is not None and should.lower() not in ("true", "false"):
        raise ValueError(f"should-retry must be true or false, not {should!r}")
    retry_after = parse_duration(options["retry-after"]) if "retry-after" in options else None
    return Fault(
        kind=kind, status=status, retry_after=defaults.retry_after_for(status, retry_after),
        message=options.get("message") or None, should_retry=None if should is None else should.lower() == "true",
        stall=parse_duration(options["stall"]) if "stall" in options else defaults.stall,
        label=f"{status or kind}{'' if after is None else f'@{after}'} (X-Mock-Fault)", after=after,
    )


def _random_fault(token: str, defaults: FaultDefaults) -> Fault:
    base, after = split_after(token)
    kind, status = parse_kind(base)
    return Fault(kind=kind, status=status, retry_after=defaults.retry_after_for(status, None), stall=defaults.stall,
                 label=f"{token} (random)", after=after)


def header_error(header: str, error: ValueError) -> ApiError:
    """A 400 for a malformed fault header, naming it."""
    return ApiError(400, f"Invalid {header} header: {error}", param=header,
                    openai_message=f"Invalid {header} header: {error}", type="invalid_request_error")


# -- the registry ----------------------------------------------------------------------------------


class Faults:
    """The faults a running mock injects: scripted rules, a seeded random rate, and added latency.

    Thread-safe (tests add rules from their own thread while the server runs). `pick()` costs one
    attribute check when nothing is configured.
    """

    def __init__(
        self, *, rate: float = 0.0, kinds: Iterable[str] = ("429", "500", "503"), seed: int = 0,
        latency: Latency | None = None, retry_after: float = DEFAULT_RETRY_AFTER, stall: float = DEFAULT_STALL,
        limit: int = NOMINAL_LIMIT,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the fault rate is a probability from 0 to 1, not {rate}")
        self.rate = rate
        self.kinds = parse_kinds(kinds)
        if rate and not self.kinds:
            raise ValueError("a fault rate needs at least one fault kind")
        self.seed = seed
        self.latency = latency
        self.defaults = FaultDefaults(retry_after=parse_duration(retry_after), stall=parse_duration(stall))
        self.limit = limit
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._latency_rng = random.Random(seed + 1)
        self.configured = bool(rate or latency)

    def add(self, rule: FaultRule) -> FaultRule:
        """Register a rule (given an id); rules are tried in the order they were added."""
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [rule for rule in self._rules if rule.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> int:
        """Drop every scripted rule; returns how many there were."""
        with self._lock:
            count, self._rules = len(self._rules), []
            return count

    def reset(self) -> None:
        """Scripted rules cleared and the random sequence restarted from the seed."""
        with self._lock:
            self._rules = []
            self._rng = random.Random(self.seed)
            self._latency_rng = random.Random(self.seed + 1)

    def set_latency(self, latency: Latency | None) -> None:
        """Change the latency every generation gets (None: none), as `--latency` sets it at start-up."""
        with self._lock:
            self.latency = latency
            self.configured = bool(self.rate or latency)

    @property
    def active(self) -> bool:
        """Whether any request could get a fault or latency without asking for one."""
        return self.configured or bool(self._rules)

    def pick(self, request: ImageRequest, key: str | None = None, fault_header: str | None = None,
             latency_header: str | None = None, *, shared: bool = False, rule: FaultRule | None = None
             ) -> Fault | None:
        """The fault for this request, or None. Malformed headers raise `ApiError(400)` naming the header.

        Order: the request's own `X-Mock-Fault`, then the first matching scripted rule, then the random
        draw (made for every request, so the same seed always gives the same sequence), then latency.
        `shared`: the rules live in a shared store, which took `rule` (or none) for this request.
        """
        if not (self.configured or self._rules or fault_header or latency_header):
            return None
        with self._lock:
            drawn = self._draw()
            fault = self._from_header(fault_header) if fault_header else None
            if fault is None:
                if not shared:
                    fault = self._take(request, key)
                elif rule is not None:
                    fault = rule.fault(self.defaults, self._latency_rng, request)
            if fault is None and drawn is not None:
                fault = _random_fault(drawn, self.defaults)
            if fault is None:
                delay = self._delay(request, latency_header, self.latency)
                return Fault("delay", delay=delay, label=f"latency {format_duration(delay)}") if delay else None
            if latency_header:
                delay = self._delay(request, latency_header, None)
                return dataclasses.replace(fault, delay=fault.delay + delay)
            return fault

    def _draw(self) -> str | None:
        if not self.rate:
            return None
        hit = self._rng.random() < self.rate
        kind = self._rng.choice(self.kinds)
        return kind if hit else None

    def _from_header(self, value: str) -> Fault:
        try:
            return parse_header_fault(value, self.defaults)
        except ValueError as error:
            raise header_error("X-Mock-Fault", error) from None

    def _take(self, request: ImageRequest, key: str | None) -> Fault | None:
        for rule in self._rules:
            if rule.matches(request, key):
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return rule.fault(self.defaults, self._latency_rng, request)
        return None

    def _delay(self, request: ImageRequest, header: str | None, default: Latency | None) -> float:
        latency = default
        if header:
            try:
                latency = parse_latency(header)
            except ValueError as error:
                raise header_error("X-Mock-Latency", error) from None
        return latency.sample(self._latency_rng, request) if latency is not None else 0.0

    def describe(self) -> dict[str, Any]:
        """What the admin API shows besides the rules: the random mode and the latency."""
        return {
            "random": {"rate": self.rate, "kinds": list(self.kinds), "seed": self.seed},
            "latency": str(self.latency) if self.latency else None,
            "retry_after": self.defaults.retry_after,
            "stall": self.defaults.stall,
        }

