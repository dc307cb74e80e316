"""`aiml-mock check -- COMMAND [ARGS...]`: run any client against a fresh mock and judge what it sent.

The mock starts on a free port; the command runs with the variables clients read for the API's address and
key pointing at it (`OPENAI_BASE_URL` ending in `/v1`, `OPENAI_API_KEY`, and the AI/ML API's usual names).
The mock answers exactly as the real API would (a typo'd field the real API ignores is still answered) and
its journal records, for every request, what broke the contract. Afterwards every request is listed with
its status and verdict; the exit status is the command's own if it failed, else 1 if any request broke the
contract (or none reached the mock), else 0. `AIML_MOCK_*` variables configure the mock as for `serve`.

With `--upstream URL` the validating proxy stands there instead (`aiml-mock proxy`): every request goes on to
the upstream (the real API, or any OpenAI-compatible one) with the command's key, which is the caller's own
(`AIML_API_KEY`, `OPENAI_API_KEY`... from the environment) unless `--api-key` says otherwise, and both directions
are judged: what the client sent, and what the upstream answered (`response.<field>`). Either kind fails the
check. `--record DIR` also writes every exchange to a cassette (docs/record-replay.md); `--budget-usd` and
`--max-requests` guard the spend.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiml_mock.core.contract import IMAGE_PATH, PROFILES, Contract, Violation
from aiml_mock.core.journal import Entry
from aiml_mock.core.settings import Settings
from aiml_mock.hosting.server import MockServer
from aiml_mock.tools.testing import client_env

DEFAULT_KEY = "sk-aiml-mock-check"
KEY_VARIABLES = ("AIML_API_KEY", "AIMLAPI_API_KEY", "AIMLAPI_KEY", "OPENAI_API_KEY")  # the caller's key, by upstream
RESPONSE_PREFIX = "response"  # the proxy's name for a violation of the upstream's answer (`response.created`)
JOURNAL_SIZE = 10_000  # requests kept for the verdict (the journal's default is 1,000)


def client_environment(server: MockServer, key: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The command's environment: the caller's, with every address and key variable naming the mock."""
    env = dict(os.environ if base is None else base)
    env.update(client_env(server.base_url, key))
    for name in ("NO_PROXY", "no_proxy"):  # a proxy configured for the real API must not swallow the mock
        kept = [item for item in env.get(name, "").split(",") if item]
        env[name] = ",".join([*kept, "127.0.0.1", "localhost"])
    return env


@dataclass(slots=True)
class CheckResult:
    """What the command did: its exit status, and every request it made, oldest first."""

    command: list[str]
    exit_code: int
    base_url: str
    entries: list[Entry]
    total: int  # requests the mock answered (more than `entries` only if the journal overflowed)
    off_shape: dict[int, list[Violation]] = field(default_factory=dict)  # the mock's own answers off its schema
    upstream: str | None = None  # where the proxy forwarded to (`--upstream`), None for the mock itself

    @property
    def broken(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.violations]

    @property
    def client_broke(self) -> list[Entry]:
        """Requests whose client left the contract."""
        return [entry for entry in self.entries if client_violations(entry)]

    @property
    def upstream_broke(self) -> list[Entry]:
        """Requests whose upstream answer left the contract (through the proxy only)."""
        return [entry for entry in self.entries if answer_violations(entry)]

    @property
    def status(self) -> int:
        """The command's status if it failed; else 1 for a broken contract or no request at all; else 0."""
        if self.exit_code != 0:
            return self.exit_code
        return 1 if self.broken or not self.entries else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command, "exit_code": self.exit_code, "base_url": self.base_url, "status": self.status,
            "requests": len(self.entries), "answered": self.total, "broke_contract": len(self.broken),
            "client_broke_contract": len(self.client_broke), "upstream": self.upstream,
            "upstream_broke_contract": len(self.upstream_broke),
            "streams_not_read_to_end": [entry.id for entry in self.entries if stopped_early(entry)],
            "entries": [entry.to_dict() for entry in self.entries],
        }


def client_violations(entry: Entry) -> list[Violation]:
    return [violation for violation in entry.violations if not _of_answer(violation)]


def answer_violations(entry: Entry) -> list[Violation]:
    return [violation for violation in entry.violations if _of_answer(violation)]


def _of_answer(violation: Violation) -> bool:
    return violation.path == RESPONSE_PREFIX or violation.path.startswith(RESPONSE_PREFIX + ".")


def run_check(command: Sequence[str], settings: Settings | None = None, *, key: str = DEFAULT_KEY,
              timeout: float | None = None) -> CheckResult:
    """Start a mock, run the command against it, and collect every request it made."""
    settings = (settings or Settings()).replace(host="127.0.0.1", port=0, workers=1)
    if settings.journal_size < JOURNAL_SIZE:
        settings = settings.replace(journal_size=JOURNAL_SIZE)
    with MockServer(settings) as server:
        env = client_environment(server, key)
        try:
            completed = subprocess.run(list(command), env=env, timeout=timeout, check=False)
            code = completed.returncode
        except FileNotFoundError:
            print(f"aiml-mock check: command not found: {command[0]}", file=sys.stderr)
            code = 127
        except subprocess.TimeoutExpired:
            print(f"aiml-mock check: the command ran longer than {timeout:g} s and was stopped", file=sys.stderr)
            code = 124
        entries = server.state.journal.entries()
        contract = server.state.contract
    entries.reverse()
    total = max((entry.id for entry in entries), default=0)
    if settings.upstream:  # the answers are the upstream's, judged by the proxy in each entry's violations
        return CheckResult(list(command), code, server.base_url, entries, total, upstream=settings.upstream)
    return CheckResult(list(command), code, server.base_url, entries, total, answers_off_shape(entries, contract))


def callers_key(env: Mapping[str, str] | None = None) -> str | None:
    """The key the caller's environment holds for the real API (the first of `KEY_VARIABLES` set)."""
    env = os.environ if env is None else env
    return next((env[name] for name in KEY_VARIABLES if env.get(name)), None)


def answers_off_shape(entries: Sequence[Entry], contract: Contract) -> dict[int, list[Violation]]:
    """The mock's success answers that left their model's response schema (a mock bug; never expected)."""
    found: dict[int, list[Violation]] = {}
    for entry in entries:
        if (entry.path == IMAGE_PATH and entry.status // 100 == 2 and entry.model and isinstance(entry.response, dict)
                and stream_record(entry) is None):  # a streamed answer's record is not its body
            broken = contract.validate_response("POST", IMAGE_PATH, entry.status, {"x-request-id": "-",
                                                "content-type": "application/json"}, entry.response, entry.model)
            if broken:
                found[entry.id] = broken
    return found


def stream_record(entry: Entry) -> dict[str, Any] | None:
    """A streamed answer's record in the journal (events sent, bytes, completed, client_read_to_end), or None."""
    record = entry.response.get("stream") if isinstance(entry.response, dict) else None
    return record if isinstance(record, dict) else None


def stopped_early(entry: Entry) -> str | None:
    """What to say of a stream whose client left before its end (a client that stops reading, or crashed)."""
    record = stream_record(entry)
    if record is None or record.get("client_read_to_end") or record.get("fault"):
        return None
    sent, planned = len(record.get("events", ())), record.get("planned")
    of = f" of {planned}" if isinstance(planned, int) else ""
    return (f"warning: the client stopped reading the stream after {sent}{of} event(s) ({record.get('bytes', 0)} "
            "bytes sent): it did not read to the end")


def render(result: CheckResult) -> str:
    """Every request with its status and verdict, each broken rule under it, and a summary."""
    shown = " ".join(result.command)
    where = (f"to the proxy at {result.base_url}, forwarded to {result.upstream}" if result.upstream
             else f"to the mock at {result.base_url}")
    lines = [f"aiml-mock check: `{shown}` exited {result.exit_code}, and made {len(result.entries)} request(s) "
             f"{where}", ""]
    for number, entry in enumerate(result.entries, 1):
        target = f"{entry.method} {entry.path}"
        model = entry.model or ""
        sent, answered = client_violations(entry), answer_violations(entry)
        verdict = "ok" if entry.valid else " + ".join(
            ([] if not sent else ["BROKE THE CONTRACT"]) + ([] if not answered else ["THE ANSWER BROKE IT"]))
        lines.append(f"  {number:>3}  {target:<40.40} {model:<26.26} {entry.status:>3}  {verdict}")
        for violation in sent:
            lines.append(f"         {violation.path}: {violation.message} [{violation.rule}]")
        for violation in answered:
            lines.append(f"         the upstream's answer: {violation.path}: {violation.message} [{violation.rule}]")
        if entry.fault and result.upstream:
            lines.append(f"         {entry.fault}")
        early = stopped_early(entry)
        if early:
            lines.append(f"         {early}")
        for violation in result.off_shape.get(entry.id, ()):
            lines.append(f"         the mock's answer: {violation.path}: {violation.message} [{violation.rule}]")
    if result.total > len(result.entries):
        lines.append(f"  (only the last {len(result.entries)} of {result.total} requests were kept)")
    lines.append("")
    if not result.entries:
        lines.append("No request reached the mock: does the client read OPENAI_BASE_URL (or pass base_url)?")
        return "\n".join(lines)
    if result.upstream:
        lines.append(f"{len(result.client_broke)} of {len(result.entries)} request(s) broke the contract; "
                     f"{len(result.upstream_broke)} of the upstream's answers did.")
    else:
        lines.append(f"{len(result.broken)} of {len(result.entries)} request(s) broke the contract.")
    unread = sum(1 for entry in result.entries if stopped_early(entry))
    if unread:  # a client may stop on purpose (it wanted the first partial image): said, not counted against it
        lines.append(f"Warning: {unread} streamed answer(s) were not read to the end by the client.")
    if result.off_shape:  # the mock's fault, not the client's: said, not counted against the command
        lines.append(f"{len(result.off_shape)} of the mock's answers left their model's response schema: "
                     "please report it.")
    billed = [entry.cost for entry in result.entries if entry.cost is not None]
    if billed:
        usd = sum(cost.usd for cost in billed)
        spent = "cost" if result.upstream else "would have cost"
        lines.append(f"The {len(billed)} answered generation(s) {spent} ${usd:.4f} on the real API "
                     f"({sum(cost.credits for cost in billed):,} credits).")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "check", help="run a client command against a fresh mock; fail if it broke the contract",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="aiml-mock check [options] -- COMMAND [ARGS...]",
    )
    parser.add_argument("--profile", choices=PROFILES, help="contract the mock answers by [default aimlapi]")
    parser.add_argument("--error-style", choices=PROFILES, help="error dialect (default: the profile's)")
    parser.add_argument("--success-status", type=int, help="status of every success (default: per model)")
    parser.add_argument("--strict", action="store_true", default=None,
                        help="refuse fields the contract does not define with a 400 (the real API ignores them)")
    parser.add_argument("--api-key",
                        help=f"the key given to the command [default {DEFAULT_KEY}; with --upstream, the caller's "
                             f"{' or '.join(KEY_VARIABLES)}]; the mock accepts any bearer key unless "
                             "AIML_MOCK_API_KEYS says otherwise, and records a missing one")
    parser.add_argument("--upstream", metavar="URL",
                        help="run the validating proxy in front of this OpenAI-compatible root (e.g. "
                             "https://api.aimlapi.com) instead of the mock: both directions are judged")
    parser.add_argument("--record", metavar="DIR",
                        help="with --upstream: also record every exchange to this cassette (record mode all "
                             "unless --record-mode says otherwise)")
    parser.add_argument("--record-mode", choices=("once", "all"),
                        help="with --record: once replays what DIR holds and forwards only what is missing")
    parser.add_argument("--budget-usd", type=float, help="with --upstream: the dollars the proxy may forward in all")
    parser.add_argument("--max-requests", type=int, help="with --upstream: the requests the proxy may forward")
    parser.add_argument("--timeout", type=float, help="stop the command after this many seconds")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the client to run, after --")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("aiml-mock check: give the command to run after --, e.g. aiml-mock check -- python client.py",
              file=sys.stderr)
        return 2
    overrides = {"profile": args.profile, "error_style": args.error_style, "success_status": args.success_status,
                 "strict": args.strict, "upstream": args.upstream, "budget_usd": args.budget_usd,
                 "max_requests": args.max_requests}
    if args.record or args.record_mode:
        if not args.upstream or not args.record:
            print("aiml-mock check: --record DIR goes with --upstream URL (and --record-mode with --record)",
                  file=sys.stderr)
            return 2
        overrides.update(replay=args.record, record_mode=args.record_mode or "all")
    try:
        settings = Settings.from_env(**{name: value for name, value in overrides.items() if value is not None})
        key = args.api_key or (callers_key() if settings.upstream else None) or DEFAULT_KEY
        result = run_check(command, settings, key=key, timeout=args.timeout)
    except ValueError as error:
        print(f"aiml-mock check: {error}", file=sys.stderr)
        return 2
    print(render(result), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str),
                                   encoding="utf-8")
    return result.status
