"""`aiml-mock`: serve the mock, probe a running one (`health`), or print where its contract lives.

Every `serve` flag has an `AIML_MOCK_*` environment variable of the same name (`--success-status` is
`AIML_MOCK_SUCCESS_STATUS`); a flag wins over the variable.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import secrets
import signal
import socket
import sys
import typing
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any, get_args

from aiml_mock import __version__
from aiml_mock.core._extras import MissingExtra
from aiml_mock.core.contract import PROFILES, contract_path
from aiml_mock.core.settings import ENV_PREFIX, Settings, field_type, parse_value


def _serve_parser(sub: Any, name: str = "serve", help: str = "run the mock server", description: str = __doc__
                  ) -> Any:
    """`serve`'s flags, one per setting, generated from the `Settings` fields (their help, their types)."""
    serve = sub.add_parser(name, help=help, description=description)
    for spec in fields(Settings):
        if not spec.metadata.get("cli", True):
            continue
        flag = spec.metadata.get("flag", "--" + spec.name.replace("_", "-"))
        env = ENV_PREFIX + spec.name.upper()
        text = f"{spec.metadata.get('help', '')} [env {env}; default {spec.default!r}]".replace("%", "%%")
        kind = field_type(spec.name)
        if kind is bool:
            serve.add_argument(flag, dest=spec.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif kind is tuple:
            serve.add_argument(flag, dest=spec.name, action="append", help=text)
        else:
            choices = get_args(_literal(spec.name)) or None
            serve.add_argument(flag, dest=spec.name, type=kind, choices=choices, help=text)
    return serve


PROXY_HELP = "forward to the real API, checking both directions against the contract; --record DIR records"


def _proxy_parser(sub: Any) -> None:
    """`proxy`: `serve`'s flags, with `--upstream` defaulting to the AI/ML API and `--record DIR`."""
    from aiml_mock.core.settings import DEFAULT_UPSTREAM

    proxy = _serve_parser(sub, "proxy", PROXY_HELP, f"A validating proxy in front of {DEFAULT_UPSTREAM} (or "
                          "--upstream URL): docs/record-replay.md.")
    proxy.add_argument("--record", metavar="DIR", help="write every exchange to this cassette directory "
                       "(record mode all unless --record-mode says otherwise)")


def proxy_settings(args: argparse.Namespace) -> Settings:
    """`proxy`'s settings: the upstream (default the AI/ML API), `--record DIR` as a cassette recorded in full."""
    from aiml_mock.core.settings import DEFAULT_UPSTREAM

    if args.record:
        args.replay = args.record
        args.record_mode = args.record_mode or "all"
    args.upstream = args.upstream or os.environ.get(ENV_PREFIX + "UPSTREAM") or DEFAULT_UPSTREAM
    return settings_from_args(args)


def _literal(name: str) -> Any:
    hint = typing.get_type_hints(Settings)[name]
    for arg in (hint, *get_args(hint)):
        if typing.get_origin(arg) is typing.Literal:
            return arg
    return None


OWN_COMMANDS = ("serve", "contract", "health", "proxy")  # defined here; the others come with their modules


def build_parser(*, others: bool = True) -> argparse.ArgumentParser:
    """The whole CLI; `others=False` leaves out the commands of other modules (`verify`, `check`), whose imports
    (httpx, the test server) cost `serve` and the container health probe a third of a second each."""
    parser = argparse.ArgumentParser(prog="aiml-mock", description="An offline mock of the AI/ML API image endpoint.")
    parser.add_argument("--version", action="version", version=f"aiml-mock {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _proxy_parser(sub)
    contract = sub.add_parser("contract", help="print the path of a profile's OpenAPI file")
    contract.add_argument("--profile", choices=PROFILES, default="aimlapi")
    _health_parser(sub)
    if others:
        for name in ("verify", "check", "drift"):  # each module adds its parser and sets `run`
            try:
                importlib.import_module(f"aiml_mock.tools.{name}").add_parser(sub)
            except MissingExtra as error:  # listed, and run says what to install (see `main`)
                sub.add_parser(name, help=f"not installed: {error}", add_help=False).set_defaults(missing=error)
    return parser


def _health_parser(sub: Any) -> None:
    health = sub.add_parser(
        "health", help="exit 0 if the mock on this machine answers GET /health with 200 (a HEALTHCHECK without curl)",
        description="Probe the local mock: exit 0 on a 200 from /health, 1 otherwise. Reads the same AIML_MOCK_HOST"
                    " and AIML_MOCK_PORT as `serve` (0.0.0.0 is probed on 127.0.0.1, :: on ::1).",
    )
    health.add_argument("--host", help="address the server binds [env AIML_MOCK_HOST; default 127.0.0.1]")
    health.add_argument("--port", type=int, help="port the server listens on [env AIML_MOCK_PORT; default 8000]")
    health.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer [default 2]")


def settings_from_args(args: argparse.Namespace) -> Settings:
    names = [spec.name for spec in fields(Settings)]
    overrides = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if "api_keys" in overrides:
        overrides["api_keys"] = tuple(overrides["api_keys"])
    return Settings.from_env(**overrides)


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP (else ~40 ms per kept-alive answer)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)  # connections queue from the moment the URL is printed
    sock.set_inheritable(True)
    return sock


def _export(settings: Settings) -> None:
    """Worker processes rebuild the settings from the environment; the URL secret must be shared."""
    for spec in fields(Settings):
        value = getattr(settings, spec.name)
        if isinstance(value, tuple):
            value = ",".join(map(str, value))
        if value is not None:
            os.environ[ENV_PREFIX + spec.name.upper()] = str(value)


def _quiet_exit_server() -> Any:
    """uvicorn's server, but a SIGTERM/SIGINT ends it with exit status 0 after the graceful shutdown.

    uvicorn re-raises the captured signal after shutting down, so the process dies "by signal 15"; a
    container or CI job stopping the mock on purpose should see a clean exit instead.
    """
    from aiml_mock.hosting.server import DrainingServer

    class Server(DrainingServer):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server


def open_admin_refusal(settings: Settings) -> str | None:
    """Why `serve` will not start, when it would expose the admin API (anyone who reaches it can reset the
    journal or make every request fail) beyond this machine without a token; None when it may start."""
    host = settings.host.strip("[]").lower()
    if not settings.admin or settings.admin_token or settings.open_admin:
        return None
    if host in ("localhost", "::1") or host.startswith("127."):
        return None
    return (f"aiml-mock: refusing to serve the admin API (/__mock/) on {settings.host} without a token: anyone who "
            f"can reach this address could change or read the mock.\n"
            f"  Set an admin token:       --admin-token TOKEN   ({ENV_PREFIX}ADMIN_TOKEN=TOKEN)\n"
            f"  or turn the admin API off: --no-admin           ({ENV_PREFIX}ADMIN=false)\n"
            f"  or, on a trusted network:  --open-admin         ({ENV_PREFIX}OPEN_ADMIN=true)")


def serve(settings: Settings) -> int:
    import uvicorn

    from aiml_mock.hosting._protocol import choose, protocol_class
    from aiml_mock.hosting.server import graceful_shutdown_timeout, server_config
    from aiml_mock.web.app import create_app, settle_heap

    refusal = open_admin_refusal(settings)
    if refusal:
        print(refusal, file=sys.stderr, flush=True)
        return 2
    if settings.url_secret is None:
        settings = settings.replace(url_secret=secrets.token_urlsafe(32))
    for sig in (signal.SIGINT, signal.SIGTERM):  # until uvicorn takes over: stopped while starting is clean too
        signal.signal(sig, lambda *_: sys.exit(0))
    sock = _bind(settings)
    port = sock.getsockname()[1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else host
    print(f"aiml-mock {__version__} listening on http://{shown}:{port} (profile {settings.profile})", flush=True)
    print(f"  openai SDK: OpenAI(base_url=\"http://{shown}:{port}/v1\", api_key=\"...\")", flush=True)
    if settings.admin:
        print(f"  dashboard:  http://{shown}:{port}/__mock/ui", flush=True)
    if settings.upstream or settings.replay:
        print(f"  upstream {settings.upstream or '-'}, cassette {settings.replay or '-'} "
              f"(record mode {settings.record_mode})", flush=True)
    if settings.workers > 1:
        from uvicorn.supervisors import Multiprocess

        protocol, warning = choose(settings.protocol, "fast")
        if warning:
            print(warning, file=sys.stderr, flush=True)
        _export(settings)
        config = uvicorn.Config("aiml_mock.web.app:create_app_from_env", factory=True, workers=settings.workers,
                                log_level=settings.log_level, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=graceful_shutdown_timeout(settings),
                                http=protocol_class(protocol))
        Multiprocess(config, sockets=[sock]).run()
        return 0
    app = create_app(settings)
    settle_heap()
    config = server_config(app, settings, "fast")  # fast where it can run
    _quiet_exit_server()(config).run(sockets=[sock])
    return 0


def health(host: str, port: int, timeout: float) -> int:
    """0 when `GET /health` on the local server answers 200 within `timeout` seconds, else 1 (never 2, which
    Docker reserves), with one line saying why: the exit status a container HEALTHCHECK wants."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    url = f"http://[{target}]:{port}/health" if ":" in target else f"http://{target}:{port}/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP(S)_PROXY
    try:
        with opener.open(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
        error.close()
    except (OSError, ValueError) as error:  # refused, timed out, unresolvable: URLError is an OSError
        reason = getattr(error, "reason", error)
        print(f"aiml-mock health: {url}: {reason}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"aiml-mock health: {url} answered {status}", file=sys.stderr)
        return 1
    print(f"aiml-mock health: {url} ok", flush=True)
    return 0


def health_command(args: argparse.Namespace) -> int:
    """`aiml-mock health`: the flags, else the `AIML_MOCK_*` variables `serve` reads, else the defaults."""
    defaults = Settings()
    try:
        host = args.host or parse_value("host", os.environ.get(ENV_PREFIX + "HOST", "")) or defaults.host
        port = args.port if args.port is not None else parse_value(
            "port", os.environ.get(ENV_PREFIX + "PORT", str(defaults.port)))
    except ValueError as error:
        print(f"aiml-mock health: bad {ENV_PREFIX}PORT: {error}", file=sys.stderr)
        return 1
    if not 0 < port < 65536:
        print(f"aiml-mock health: port {port} cannot be probed (a server on port 0 picks its own)", file=sys.stderr)
        return 1
    return health(host, port, args.timeout)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(others=not argv or argv[0] not in OWN_COMMANDS)
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "missing", None) is not None:  # a command whose extra is not installed: whatever its args
        print(f"aiml-mock: {args.missing}", file=sys.stderr)
        return 2
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")  # what parse_args would say
    try:
        if hasattr(args, "run"):
            return int(args.run(args))
        if args.command == "serve":
            return serve(settings_from_args(args))
        if args.command == "proxy":
            return serve(proxy_settings(args))
        if args.command == "health":
            return health_command(args)
        if args.command == "contract":
            print(contract_path(args.profile))
            return 0
    except (ValueError, OSError, MissingExtra) as error:
        print(f"aiml-mock: {error}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
