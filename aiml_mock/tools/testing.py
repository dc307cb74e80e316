"""`MockHandle`: a mock as a test sees it: where it is, the requests this test made, faults, assertions.

The pytest fixture `aiml_mock` returns one; without pytest (unittest, scripts) make your own:

    with MockHandle.serve() as mock:                      # a mock in this process, on a free port
        client = openai.OpenAI(base_url=mock.base_url, api_key=mock.api_key)
        ...
        mock.assert_called(model="dall-e-3", times=1)

    mock = MockHandle.connect("http://127.0.0.1:8000")     # a mock running elsewhere (e.g. Docker)

A handle reads a mock in this process straight from its state, and one elsewhere through its admin API
(`/__mock/requests`, `/__mock/faults`, `/__mock/reset`); both answer the same, so the same tests pass
against either. Requests are the journal's `Entry` objects, oldest first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from aiml_mock.core._extras import require
from aiml_mock.core.auth import redact
from aiml_mock.core.faults import FaultRule
from aiml_mock.core.journal import Entry
from aiml_mock.core.settings import ENV_PREFIX, Settings
from aiml_mock.hosting.server import RESTART_SETTINGS, MockServer

if TYPE_CHECKING:
    import httpx

DEFAULT_API_KEY = "sk-aiml-mock-test-key"
ADMIN = "/__mock"
SHARED_WINDOW = 100  # entries read at a shared remote mock's reset to find the highest id given so far
# Request-line fields `assert_called` matches on the entry itself; every other name is a JSON body field.
ENTRY_FIELDS = ("method", "path", "status")
# What `assert_called` counts unless given `method=` or `path=`: generations, not image downloads or other routes.
GENERATION = ("POST", "/v1/images/generations")


def client_env(base_url: str, api_key: str) -> dict[str, str]:
    """The environment variables that route OpenAI-compatible clients to a mock (`base_url` ends in `/v1`).

    `OPENAI_BASE_URL` / `OPENAI_API_KEY` (the official SDKs), `OPENAI_API_BASE` (LangChain, openai<1),
    `AIML_API_URL` / `AIML_API_KEY` (the AI/ML API's own Python SDK docs: the URL ends in `/v1`),
    `AIMLAPI_API_KEY` (its CLI), and names common in its users' code (`AIML_API_BASE_URL`, `AIMLAPI_KEY`...).
    """
    urls = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "AIML_API_URL", "AIML_API_BASE_URL", "AIML_API_BASE",
            "AIML_BASE_URL")
    keys = ("OPENAI_API_KEY", "AIML_API_KEY", "AIMLAPI_API_KEY", "AIMLAPI_KEY")
    return {**dict.fromkeys(urls, base_url), **dict.fromkeys(keys, api_key)}


class Backend(Protocol):
    """Where a handle's mock lives: in this process, or behind a URL."""

    url: str

    @property
    def api_key(self) -> str: ...
    def entries(self) -> list[Entry]: ...
    def add_fault(self, rule: dict[str, Any]) -> None: ...
    def reset(self) -> None: ...
    def label(self, test: str | None) -> None: ...
    def spend(self) -> tuple[int, int]: ...
    def close(self) -> None: ...


class LocalBackend:
    """A `MockServer` in this process, read and changed directly through its state (no HTTP round trip)."""

    def __init__(self, server: MockServer, *, owned: bool = False) -> None:
        self.server = server
        self.owned = owned
        self.url = server.url

    @property
    def api_key(self) -> str:
        keys = self.server.settings.api_keys
        return keys[0] if keys else DEFAULT_API_KEY

    def entries(self) -> list[Entry]:
        journal = self.server.state.journal
        if not journal.capacity:
            raise RuntimeError("aiml-mock: the request journal is off (journal_size=0): no request can be shown")
        return journal.entries()[::-1]

    def add_fault(self, rule: dict[str, Any]) -> None:
        self.server.state.faults.add(FaultRule.from_dict(rule))

    def reset(self) -> None:
        self.server.state.reset()

    def label(self, test: str | None) -> None:
        self.server.state.ledger.test = test

    def spend(self) -> tuple[int, int]:
        total = self.server.state.ledger.usage()["total"]
        return int(total["requests"]), int(total["credits"])

    def close(self) -> None:
        if self.owned:
            self.server.stop()


class RemoteBackend:
    """A mock behind a URL, through its admin API. `shared`: other clients (xdist workers) use it too.

    A shared mock is never cleared: each handle sends its own API key, sees only requests made with it,
    scopes its faults to it and removes only its own rules. That needs a mock that accepts any key; with
    `api_key` given (a mock started with `--api-key`), requests are told apart by time only.
    """

    def __init__(self, url: str, *, api_key: str | None = None, admin_token: str | None = None,
                 shared: bool = False, tag: str = "", timeout: float = 10.0) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")
        headers = {"authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._httpx = require("httpx", feature="a mock that is already running (MockHandle.connect)", extra="pytest")
        self.http: httpx.Client = self._httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.shared = shared
        self._key = api_key or (f"{tag}-{DEFAULT_API_KEY}" if shared and tag else DEFAULT_API_KEY)
        self._scoped = shared and api_key is None
        self._seen = 0  # the newest entry id at the last reset, when shared
        self._rules: list[int] = []
        self._check()

    @property
    def api_key(self) -> str:
        return self._key

    def _check(self) -> None:
        try:
            response = self.http.get(f"{ADMIN}/faults")
        except self._httpx.HTTPError as error:
            self.http.close()
            raise ConnectionError(f"aiml-mock: no mock answers at {self.url}: {error}") from None
        if response.status_code != 200:
            self.http.close()
            raise ConnectionError(
                f"aiml-mock: {self.url} answered {response.status_code} to GET {ADMIN}/faults: "
                f"{_message(response)}. The admin API must be on (not --no-admin), and when the mock has an "
                f"--admin-token, set {ENV_PREFIX}ADMIN_TOKEN to it."
            )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, ADMIN + path, **kwargs)
        if response.status_code >= 400:
            raise (ValueError if response.status_code == 400 else RuntimeError)(
                f"aiml-mock: {method} {ADMIN}{path} on {self.url} answered {response.status_code}: "
                f"{_message(response)}"
            )
        return response.json()

    def entries(self) -> list[Entry]:
        entries = [Entry.from_dict(item) for item in self._call("GET", "/requests")["requests"]]
        if self.shared:
            mine = redact(self._key)
            entries = [e for e in entries if e.id > self._seen and (not self._scoped or e.key == mine)]
        return entries[::-1]

    def add_fault(self, rule: dict[str, Any]) -> None:
        if self._scoped:
            rule = {**rule, "key": self._key}
        self._rules.append(int(self._call("POST", "/faults", json=rule)["id"]))

    def reset(self) -> None:
        if not self.shared:
            self._call("POST", "/reset")
        else:
            for rule_id in self._rules:
                self.http.delete(f"{ADMIN}/faults/{rule_id}")  # 404: already used up
            # Ids are given when a request starts and entries kept when it ends, so the newest entry need not
            # have the highest id: take the highest of the latest many (more than run at once).
            latest = self._call("GET", "/requests", params={"limit": SHARED_WINDOW})["requests"]
            self._seen = max([self._seen, *(int(entry["id"]) for entry in latest)])
        self._rules.clear()

    def label(self, test: str | None) -> None:
        """Nothing to do: a remote mock learns the test from the `X-Mock-Test` header the SDK fixtures send."""

    def spend(self) -> tuple[int, int]:
        costs = [entry.cost for entry in self.entries() if entry.cost is not None]
        return len(costs), sum(cost.credits for cost in costs)

    def close(self) -> None:
        self.http.close()


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "(no body)"
    if isinstance(body, dict):
        error = body.get("error")
        return str(error.get("message") if isinstance(error, dict) else body.get("message") or body)
    return str(body)


class MockHandle:
    """A mock as a test sees it: URLs, key, this test's requests, faults and assertions."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def serve(cls, settings: Settings | None = None, **overrides: Any) -> MockHandle:
        """A new mock in this process on a free port, stopped by `close()` or the end of a `with`."""
        server = MockServer(settings or Settings(port=0), **overrides).start()
        return cls(LocalBackend(server, owned=True))

    @classmethod
    def connect(cls, url: str, *, api_key: str | None = None, admin_token: str | None = None,
                shared: bool = False, tag: str = "") -> MockHandle:
        """A mock already running at `url` (its root or `.../v1`), e.g. `aiml-mock serve` or the Docker image.

        `api_key`: the one to send when the mock accepts only some (default: `AIML_MOCK_API_KEYS`' first);
        `admin_token`: its `--admin-token` (default: `AIML_MOCK_ADMIN_TOKEN`). `shared` and `tag`: see
        `RemoteBackend`. `ConnectionError` when nothing answers there or its admin API is off.
        """
        keys = [key.strip() for key in os.environ.get(f"{ENV_PREFIX}API_KEYS", "").split(",") if key.strip()]
        return cls(RemoteBackend(
            url, api_key=api_key or (keys[0] if keys else None),
            admin_token=admin_token or os.environ.get(f"{ENV_PREFIX}ADMIN_TOKEN") or None, shared=shared, tag=tag,
        ))

    # -- where it is ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The mock's root, `http://HOST:PORT`."""
        return self.backend.url

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI SDK: `http://HOST:PORT/v1`."""
        return f"{self.backend.url}/v1"

    @property
    def api_key(self) -> str:
        """A key the mock accepts (its first configured key, else a fixed test key)."""
        return self.backend.api_key

    @property
    def env(self) -> dict[str, str]:
        """Environment variables routing OpenAI-compatible clients here (see `client_env`)."""
        return client_env(self.base_url, self.api_key)

    @property
    def local(self) -> bool:
        """Whether the mock runs in this process (settings can change per test)."""
        return isinstance(self.backend, LocalBackend)

    # -- what happened -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Entry]:
        """The requests made since the last reset, oldest first: `.method .path .headers .json .status
        .response .violations` (and `.model .key .query .fault .duration_ms`). Headers are redacted."""
        return self.backend.entries()

    @property
    def last_request(self) -> Entry:
        """The newest request; an `AssertionError` when there is none."""
        __tracebackhide__ = True
        entries = self.requests
        if not entries:
            raise AssertionError("aiml-mock: no request reached the mock since the test started")
        return entries[-1]

    def assert_called(self, times: int | None = None, **match: Any) -> list[Entry]:
        """Assert that requests matching `match` were made: `times` exactly, or at least once (None).

        It counts generation requests (`POST /v1/images/generations`, each retry one more), not the image
        downloads or other routes the journal also holds, unless `method=` or `path=` is given: then every
        request is matched against them. `status` matches the answer; any other name matches the JSON body
        field of that name (`model`, `prompt`, `size`, `n`...). A value matches when equal, when a callable
        returns true for it, or when a compiled regex finds it. Returns the matching requests.
        """
        __tracebackhide__ = True
        entries = self.requests
        found = [entry for entry in entries if _counted(entry, match) and not _mismatches(entry, match)]
        if (times is None and found) or len(found) == times:
            return found
        raise AssertionError(_called_message(entries, found, times, match))

    @property
    def credits_used(self) -> int:
        """The credits the real API would have billed for the requests this test made (`meta.usage`)."""
        return sum(entry.cost.credits for entry in self.requests if entry.cost is not None)

    @property
    def spent_usd(self) -> float:
        """The same in dollars ($1 = 2,000,000 credits), priced by the mock's `contracts/prices.yaml`."""
        return round(sum(entry.cost.usd for entry in self.requests if entry.cost is not None), 7)

    def assert_spent(self, *, below: float) -> float:
        """Assert that this test's requests would have cost less than `below` dollars on the real API; the
        failure lists what each cost. Returns the dollars spent."""
        __tracebackhide__ = True
        entries = self.requests
        spent = round(sum(entry.cost.usd for entry in entries if entry.cost is not None), 7)
        if spent < below:
            return spent
        lines = [f"aiml-mock: this test's requests would have cost ${spent:.4f} on the real API, "
                 f"not below ${below:.4f}:"]
        for number, entry in enumerate(entries, 1):
            if entry.cost is not None:
                lines.append(f"  {number}. {summary(entry)}")
                lines.append(f"     -> ${entry.cost.usd:.4f} ({entry.cost.credits:,} credits, "
                             f"{entry.cost.images} image{'s' * (entry.cost.images != 1)})")
        raise AssertionError("\n".join(lines))

    def assert_all_valid(self) -> None:
        """Assert that every request the code under test sent was one the contract allows."""
        __tracebackhide__ = True
        entries = self.requests
        broken = [(number, entry) for number, entry in enumerate(entries, 1) if entry.violations]
        if broken:
            raise AssertionError(_violations_message(entries, broken))

    # -- what happens next ---------------------------------------------------------------------------

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None,
                  message: str | None = None, model: str | None = None, prompt: str | None = None) -> None:
        """Answer the next `times` generation requests (those for `model` / with `prompt` in the prompt, if
        given) with `status`, in the mock's error dialect, with `retry-after` when given (seconds)."""
        rule = {"status": status, "times": times, "retry_after": retry_after, "message": message, "model": model,
                "prompt": prompt}
        self.backend.add_fault({name: value for name, value in rule.items() if value is not None})

    def reset(self) -> None:
        """Forget the requests made and the faults not yet used (the fixture does it before each test)."""
        self.backend.reset()

    def label(self, test: str | None) -> None:
        """Book what follows under this test in the mock's ledger (`GET /__mock/usage`'s `by_test`)."""
        self.backend.label(test)

    def spend(self) -> tuple[int, int]:
        """(requests billed, credits) since the last reset: cheap on a mock in this process (its ledger)."""
        return self.backend.spend()

    @contextmanager
    def configured(self, **changes: Any) -> Iterator[MockHandle]:
        """This mock with some settings changed inside the block (a mock in this process only).

        Live settings change on the same socket; `host`, `port`, `workers` and `log_level` start a second
        mock for the block. `TypeError` for unknown names, `ValueError` for bad values.
        """
        if not isinstance(self.backend, LocalBackend):
            raise RuntimeError(f"aiml-mock: the settings of the mock at {self.url} cannot change from a test")
        server = self.backend.server
        settings = server.settings.replace(**changes)
        moved = [name for name in RESTART_SETTINGS if getattr(settings, name) != getattr(server.settings, name)]
        if moved or "port" in changes:  # a second mock, on a free port unless the port is given
            with MockHandle.serve(settings if "port" in changes else settings.replace(port=0)) as other:
                yield other
            return
        with server.configured(**changes):
            yield self

    # -- lifetime ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the mock if this handle started it; close the admin connection otherwise."""
        self.backend.close()

    def __enter__(self) -> MockHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
                 ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MockHandle {self.url} ({'in this process' if self.local else 'remote'})>"


# -- matching and messages -------------------------------------------------------------------------

_MISSING = object()


def _value(entry: Entry, name: str) -> Any:
    if name in ENTRY_FIELDS:
        return getattr(entry, name)
    body = entry.json if isinstance(entry.json, dict) else {}
    if name in body:
        return body[name]
    return entry.model if name == "model" and entry.model is not None else _MISSING


def _matches(expected: Any, actual: Any) -> bool:
    if actual is _MISSING:
        return False
    if isinstance(expected, re.Pattern):
        return expected.search(str(actual)) is not None
    if callable(expected):
        return bool(expected(actual))
    return bool(expected == actual)


def _counted(entry: Entry, match: Mapping[str, Any]) -> bool:
    """Whether `assert_called` looks at this request: every one with `method=`/`path=`, else generations."""
    return "method" in match or "path" in match or (entry.method, entry.path) == GENERATION


def _mismatches(entry: Entry, match: Mapping[str, Any]) -> list[str]:
    """How an entry differs from the match, one phrase per field (empty: it matches)."""
    differences = []
    for name, expected in match.items():
        actual = _value(entry, name)
        if not _matches(expected, actual):
            differences.append(f"{name} is missing" if actual is _MISSING else f"{name} is {_short(actual)}")
    return differences


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def _describe_match(match: Mapping[str, Any]) -> str:
    def shown(value: Any) -> str:
        if isinstance(value, re.Pattern):
            return f"re.compile({value.pattern!r})"
        return getattr(value, "__name__", "<predicate>") if callable(value) else _short(value)

    return ", ".join(f"{name}={shown(value)}" for name, value in match.items()) or "anything"


def summary(entry: Entry) -> str:
    """One line for a request: `POST /v1/images/generations -> 201  model='dall-e-3' size='1024x1024' ...`."""
    line = f"{entry.method} {entry.path}{'?' + entry.query if entry.query else ''} -> {entry.status}"
    if entry.fault:
        line += f" (fault {entry.fault})"
    if isinstance(entry.json, dict):
        fields = sorted(entry.json, key=lambda name: (name != "model", name != "prompt", name))
        line += "  " + " ".join(f"{name}={_short(entry.json[name], 40)}" for name in fields)
    elif entry.json is not None:
        line += f"  body={_short(entry.json, 40)}"
    return line


def _called_message(entries: Sequence[Entry], found: Sequence[Entry], times: int | None,
                    match: Mapping[str, Any]) -> str:
    kind = "request" if "method" in match or "path" in match else "generation request"
    wanted = f"at least one {kind}" if times is None else f"{times} {kind}{'s' * (times != 1)}"
    lines = [f"aiml-mock: expected {wanted} matching {_describe_match(match)}, got {len(found)}."]
    if not entries:
        lines.append("No request reached the mock in this test.")
        return "\n".join(lines)
    lines.append(f"The {len(entries)} request{'s' * (len(entries) != 1)} this test made:")
    for number, entry in enumerate(entries, 1):
        differences = _mismatches(entry, match)
        verdict = "matches" if not differences else "; ".join(differences)
        if not _counted(entry, match):
            verdict = "not a generation: not counted (pass path= or method= to count it)"
        lines.append(f"  {number}. {summary(entry)}")
        lines.append(f"     -> {verdict}")
    return "\n".join(lines)


def _violations_message(entries: Sequence[Entry], broken: Sequence[tuple[int, Entry]]) -> str:
    count = sum(len(entry.violations) for _, entry in broken)
    lines = [f"aiml-mock: {len(broken)} of the {len(entries)} request{'s' * (len(entries) != 1)} this test made "
             f"broke the contract ({count} violation{'s' * (count != 1)}):"]
    for number, entry in broken:
        lines.append(f"  {number}. {summary(entry)}")
        for violation in entry.violations:
            lines.append(f"     - {violation.path}: {violation.message} [{violation.rule}]")
    return "\n".join(lines)

