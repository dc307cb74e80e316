"""The pytest plugin: a faithful image API in any test suite, by naming a fixture.

Fixtures: `aiml_mock` (a `MockHandle`: one mock per session, per xdist worker, reset before each test),
`aiml_mock_openai` / `aiml_mock_async_openai` (official SDK clients bound to it), `aiml_mock_env` (the
variables that route clients building their own to it) and `aiml_mock_settings` (the session mock's
settings: override it in a conftest.py). Marker `@pytest.mark.aiml_mock(**settings)`: one test's settings.
Option `--aiml-mock-url URL` (or `AIML_MOCK_URL`): use a mock already running there instead.

Registered through the `pytest11` entry point. Only pytest is imported until a test asks for a fixture,
so suites that never use it pay nothing.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import openai

    from aiml_mock.core.settings import Settings
    from aiml_mock.tools.testing import MockHandle

URL_ENV = "AIML_MOCK_URL"
MARKER = "aiml_mock"
FALLBACK_PROPERTY = "aiml_mock_local_fallback"
COST_PROPERTY = "aiml_mock_cost"  # (requests billed, credits) of one test, carried to the controller by its report
CREDITS_PER_USD = 2_000_000
TEST_HEADER = "X-Mock-Test"  # aiml_mock.core.ledger.TEST_HEADER, without importing the package at collection


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiml-mock")
    group.addoption(
        "--aiml-mock-url", metavar="URL", default=None,
        help=f"use the aiml-mock running at URL (e.g. a Docker container) instead of starting one; default: "
             f"${URL_ENV}",
    )
    group.addoption(
        "--aiml-mock-upstream", metavar="URL", default=None,
        help="the real API that cassette tests record from (record='once'/'all'); default: $AIML_MOCK_UPSTREAM, "
             "else https://api.aimlapi.com",
    )
    group.addoption(
        "--aiml-mock-record", metavar="MODE", default=None, choices=("none", "once", "all"),
        help="the record mode of every cassette test, whatever its marker says (e.g. none in CI)",
    )
    group.addoption(
        "--aiml-mock-no-cost", action="store_true", default=False,
        help="leave out the end-of-run line saying what the requests to the mock would have cost on the real API",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): run the test against a mock with these settings (names of aiml_mock.Settings, "
        "e.g. error_style='openai', api_keys=['k'], success_status=200); cassette='DIR' (relative to the test's "
        "file) with record='none'|'once'|'all' replays the real API's recorded answers (docs/record-replay.md)",
    )
    url = remote_url(config)
    if url and not hasattr(config, "workerinput"):  # the xdist controller, or a run without xdist
        config.pluginmanager.register(FallbackReport(url), "aiml-mock-fallbacks")
    if not config.getoption("aiml_mock_no_cost", False) and not hasattr(config, "workerinput"):
        config.pluginmanager.register(CostReport(), "aiml-mock-cost")


def remote_url(config: pytest.Config) -> str | None:
    """The mock to use instead of starting one: `--aiml-mock-url`, else `$AIML_MOCK_URL`, else None."""
    url: str | None = config.getoption("aiml_mock_url", None) or os.environ.get(URL_ENV) or None
    return url


def pytest_report_header(config: pytest.Config) -> str | None:
    url = remote_url(config)
    return f"aiml-mock: using the mock at {url}" if url else None


class FallbackReport:
    """Lists, at the end of the run, the marked tests that ran on a local mock instead of the remote one
    (it reads the reports, so tests run by xdist workers are listed too)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.nodeids: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup" and any(name == FALLBACK_PROPERTY for name, _ in report.user_properties):
            self.nodeids.append(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.nodeids:
            terminalreporter.write_sep("-", "aiml-mock")
            terminalreporter.write_line(
                f"{len(self.nodeids)} test(s) marked @pytest.mark.{MARKER}(...) ran on a mock in this process, "
                f"not on {self.url}: a running mock's settings cannot change from a test."
            )
            for nodeid in self.nodeids:
                terminalreporter.write_line(f"  {nodeid}")


class CostReport:
    """Adds up what each test's requests would have cost (read from the test reports, so xdist workers' tests
    count too) and says it in one line at the end of the run, when any request was billed."""

    def __init__(self) -> None:
        self.requests = 0
        self.credits = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            for name, value in report.user_properties:
                if name == COST_PROPERTY and isinstance(value, list | tuple):
                    self.requests += int(value[0])
                    self.credits += int(value[1])

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.requests:
            usd = self.credits / CREDITS_PER_USD
            terminalreporter.write_line(
                f"aiml-mock: the {self.requests} request{'s' * (self.requests != 1)} to the mock would have cost "
                f"${usd:,.2f} on the real API ({self.credits:,} credits; --aiml-mock-no-cost to leave this out)"
            )


class MockSession:
    """The mocks of one test session (one xdist worker): the shared one, and a local one for marked tests
    when the shared one is remote. Both are started on first use."""

    def __init__(self, settings: Settings, url: str | None) -> None:
        self.settings = settings
        self.url = url
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self._main: MockHandle | None = None
        self._local: MockHandle | None = None
        self._unreachable: str | None = None  # said once, then repeated at once instead of waiting again

    @property
    def main(self) -> MockHandle:
        if self._unreachable is not None:
            pytest.fail(self._unreachable, pytrace=False)
        if self._main is None:
            from aiml_mock.tools.testing import MockHandle

            if self.url is None:
                self._main = MockHandle.serve(self.settings)
            else:
                try:
                    self._main = MockHandle.connect(self.url, shared=bool(self.worker), tag=self.worker)
                except (ConnectionError, ImportError) as error:  # ImportError: httpx, from aiml-mock[pytest]
                    self._unreachable = f"{error}\n(from --aiml-mock-url or ${URL_ENV})"
                    pytest.fail(self._unreachable, pytrace=False)
        return self._main

    @property
    def local(self) -> MockHandle:
        if self._local is None:
            from aiml_mock.tools.testing import MockHandle

            self._local = MockHandle.serve(self.settings)
        return self._local

    @contextmanager
    def handle(self, node: pytest.Item, changes: dict[str, Any]) -> Iterator[MockHandle]:
        """The handle for one test: the shared mock reset, or a mock with the marker's settings."""
        if not changes:
            main = self.main
            main.reset()
            main.label(node.nodeid)
            yield main
            _note_cost(node, main)
            return
        base = self.main if self.url is None else self.local
        if self.url is not None:
            node.user_properties.append((FALLBACK_PROPERTY, self.url))
        with ExitStack() as stack:
            try:
                handle = stack.enter_context(base.configured(**changes))
            except (TypeError, ValueError) as error:
                pytest.fail(f"@pytest.mark.{MARKER}({_shown(changes)}): {error}", pytrace=False)
            handle.reset()
            handle.label(node.nodeid)
            yield handle
            _note_cost(node, handle)

    def close(self) -> None:
        for handle in (self._main, self._local):
            if handle is not None:
                handle.close()


def _note_cost(node: pytest.Item, handle: MockHandle) -> None:
    """What this test's requests would have cost, for `CostReport` (through the teardown report)."""
    if node.config.getoption("aiml_mock_no_cost", False):
        return
    requests, credits = handle.spend()
    if requests:
        node.user_properties.append((COST_PROPERTY, (requests, credits)))


def _shown(changes: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in changes.items())


def marker_settings(node: pytest.Item) -> dict[str, Any]:
    """The settings the test's `aiml_mock` markers ask for (the closest marker wins), names checked."""
    changes: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers(MARKER))):
        if mark.args:
            pytest.fail(f"@pytest.mark.{MARKER} takes settings by name, e.g. @pytest.mark.{MARKER}(seed=7); "
                        f"got positional {mark.args!r}", pytrace=False)
        changes.update(mark.kwargs)
    _cassette_settings(node, changes)
    if changes:
        from aiml_mock.core.settings import Settings

        names = [spec.name for spec in dataclasses.fields(Settings)]
        for name in changes:
            if name not in names:
                import difflib

                close = difflib.get_close_matches(name, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                pytest.fail(f"@pytest.mark.{MARKER}: unknown setting {name!r}{hint}. Settings: {', '.join(names)}",
                            pytrace=False)
    return changes


def _cassette_settings(node: pytest.Item, changes: dict[str, Any]) -> None:
    """The marker's `cassette=` and `record=` as the settings `replay` and `record_mode`: the cassette relative
    to the test's file, the mode from `--aiml-mock-record` when given, the upstream from `--aiml-mock-upstream`."""
    if "cassette" in changes:
        folder = os.path.join(os.path.dirname(str(node.path)), os.fspath(changes.pop("cassette")))
        changes["replay"] = folder
    if "record" in changes:
        changes["record_mode"] = changes.pop("record")
    if "replay" not in changes:
        return
    forced = node.config.getoption("aiml_mock_record", None)
    if forced:
        changes["record_mode"] = forced
    if changes.get("record_mode", "none") != "none" and "upstream" not in changes:
        upstream = node.config.getoption("aiml_mock_upstream", None) or os.environ.get("AIML_MOCK_UPSTREAM")
        if upstream:
            changes["upstream"] = upstream


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aiml_mock_settings() -> Settings:
    """The settings of the session's mock. Override in a conftest.py (session scope) to change them."""
    from aiml_mock.core.settings import Settings

    return Settings(port=0)


@pytest.fixture(scope="session")
def _aiml_mock_session(request: pytest.FixtureRequest, aiml_mock_settings: Settings) -> Iterator[MockSession]:
    session = MockSession(aiml_mock_settings, remote_url(request.config))
    yield session
    session.close()


@pytest.fixture
def aiml_mock(request: pytest.FixtureRequest, _aiml_mock_session: MockSession) -> Iterator[MockHandle]:
    """A faithful AI/ML API image endpoint for this test: `.base_url`, `.api_key`, `.requests`,
    `.assert_called()`, `.fail_next()`, `.assert_all_valid()`. Shared per session, reset before each test."""
    node = request.node
    with _aiml_mock_session.handle(node, marker_settings(node)) as handle:
        yield handle


def _test_header(request: pytest.FixtureRequest) -> dict[str, str]:
    """The test's node id for the mock's ledger (`by_test`), as a header value (ASCII, escaped otherwise)."""
    return {TEST_HEADER: request.node.nodeid.encode("ascii", "backslashreplace").decode("ascii")}


def _sdk(fixture: str) -> Any:
    return pytest.importorskip("openai", reason=f"{fixture} needs the openai package: pip install openai")


def _http_module(sdk: Any) -> Any:
    """The HTTP library the installed SDK is built on (`httpx2` for openai 3.x, `httpx` before)."""
    return importlib.import_module(sdk.DefaultHttpxClient.__mro__[1].__module__.partition(".")[0])


@pytest.fixture(scope="session")
def _aiml_mock_tls(request: pytest.FixtureRequest) -> Any:
    """One TLS context for the session's SDK clients: building it costs tens of ms, a client then ~0.3 ms."""
    create = getattr(_http_module(_sdk("aiml_mock_openai")), "create_ssl_context", None)
    return create() if create is not None else True


@pytest.fixture
def aiml_mock_openai(request: pytest.FixtureRequest, aiml_mock: MockHandle) -> Iterator[openai.OpenAI]:
    """An `openai.OpenAI` client bound to the mock (SDK defaults otherwise, retries included)."""
    sdk = _sdk("aiml_mock_openai")
    http_client = sdk.DefaultHttpxClient(verify=request.getfixturevalue("_aiml_mock_tls"))
    client: openai.OpenAI = sdk.OpenAI(base_url=aiml_mock.base_url, api_key=aiml_mock.api_key,
                                       http_client=http_client, default_headers=_test_header(request))
    yield client
    client.close()


@pytest.fixture
def aiml_mock_async_openai(request: pytest.FixtureRequest, aiml_mock: MockHandle) -> Iterator[openai.AsyncOpenAI]:
    """An `openai.AsyncOpenAI` client bound to the mock, usable from any event loop the test runs.

    It keeps no idle connections: a pooled connection belongs to the loop that opened it, and tests
    (`asyncio.run`, pytest-asyncio, anyio) each close theirs.
    """
    sdk = _sdk("aiml_mock_async_openai")
    http_client = sdk.DefaultAsyncHttpxClient(verify=request.getfixturevalue("_aiml_mock_tls"),
                                              limits=_http_module(sdk).Limits(max_keepalive_connections=0))
    client: openai.AsyncOpenAI = sdk.AsyncOpenAI(base_url=aiml_mock.base_url, api_key=aiml_mock.api_key,
                                                 http_client=http_client, default_headers=_test_header(request))
    yield client
    import asyncio

    try:
        asyncio.run(client.close())
    except RuntimeError:  # called inside a running loop: it holds no connection to close anyway
        pass


@pytest.fixture
def aiml_mock_env(aiml_mock: MockHandle, monkeypatch: pytest.MonkeyPatch) -> MockHandle:
    """The mock, with `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `AIML_API_KEY`, `AIML_API_URL`... pointing at it
    for this test, so code that builds its own client reaches it unchanged."""
    for name, value in aiml_mock.env.items():
        monkeypatch.setenv(name, value)
    return aiml_mock
