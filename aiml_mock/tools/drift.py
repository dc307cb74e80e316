"""`aiml-mock drift DIR`: every recorded exchange checked against the current contract, per model.

Where the real API's recorded answers and the contract disagree (a field, a type, a status, a header), the
contract is what must change: this report is how it is kept honest. Exit status 1 when anything disagrees,
0 when everything agrees, 2 when the directory holds no recordings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiml_mock.core.cassette import Cassette, Recording
from aiml_mock.core.contract import IMAGE_PATH, PROFILES, Contract, Violation, load_contract


@dataclass
class Drift:
    """What the recordings of one model (or route) break, and how many recordings were read."""

    recordings: int = 0
    found: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # "where: what" -> files


def check_recording(recording: Recording, contract: Contract) -> list[Violation]:
    """The contract's verdict on one recorded answer (its request too, for a generation)."""
    request, response = recording.request, recording.response
    body = request.get("body")
    model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
    found: list[Violation] = []
    if request["method"] == "POST" and request["path"] == IMAGE_PATH:
        found += [Violation(f"request.{v.path.removeprefix('$.')}", v.rule, v.value, v.message, v.expected)
                  for v in contract.check_request(body)]
    answer = _answer_for_check(response)
    headers = response.get("headers", {})
    if "body" not in response and "content-type" in headers and "json" in headers["content-type"]:
        headers = {k: v for k, v in headers.items() if k != "content-type"}
    found += contract.validate_response(request["method"], request["path"], int(response["status"]), headers,
                                        answer, model)
    return found


def _answer_for_check(response: dict[str, Any]) -> Any:
    """The recorded body with stored `b64_json` images as a base64 placeholder (the schema checks a string)."""
    body = response.get("body")
    if not isinstance(body, dict):
        return body
    body = json.loads(json.dumps(body))
    for image in response.get("images", ()):
        if image.get("field") == "b64_json":
            body[image.get("list", "data")][image["index"]]["b64_json"] = "iVBORw0KGgo="
    return body


def drift(root: str | Path, contract: Contract) -> dict[str, Drift]:
    """Per model (else `METHOD path`), where the recordings and the contract disagree."""
    report: dict[str, Drift] = defaultdict(Drift)
    for recording in Cassette(root).recordings:
        body = recording.request.get("body")
        model = body.get("model") if isinstance(body, dict) else None
        name = model if isinstance(model, str) else f"{recording.request['method']} {recording.request['path']}"
        entry = report[name]
        entry.recordings += 1
        for violation in check_recording(recording, contract):
            entry.found[f"{violation.path}: {violation.message}"].append(recording.path.name)
    return dict(report)


def render(report: dict[str, Drift], root: str | Path) -> str:
    lines = []
    total = sum(len(item.found) for item in report.values())
    for name, item in sorted(report.items()):
        if not item.found:
            lines.append(f"{name}: {item.recordings} recording(s) agree with the contract")
            continue
        lines.append(f"{name}: {len(item.found)} disagreement(s) in {item.recordings} recording(s)")
        for where, files in sorted(item.found.items()):
            shown = ", ".join(files[:3]) + (f" (+{len(files) - 3})" if len(files) > 3 else "")
            lines.append(f"  {where}  [{shown}]")
    lines.append(f"drift: {total} disagreement(s) between {root} and the contract" if total
                 else f"drift: {root} agrees with the contract")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("drift", help="check recorded exchanges against the contract (exit 1 on drift)",
                            description=__doc__)
    parser.add_argument("cassette", metavar="DIR", help="a cassette directory (aiml-mock proxy --record DIR)")
    parser.add_argument("--profile", choices=PROFILES, default="aimlapi")
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return main_drift(args.cassette, args.profile, as_json=args.json)


def main_drift(root: str, profile: str = "aimlapi", *, as_json: bool = False, out: Any = None,
               argv: Sequence[str] = ()) -> int:
    out = out or sys.stdout
    if not Path(root).is_dir():
        print(f"aiml-mock drift: {root} is not a directory", file=sys.stderr)
        return 2
    report = drift(root, load_contract(profile))  # type: ignore[arg-type,unused-ignore]
    if not report:
        print(f"aiml-mock drift: {root} holds no recordings", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps({name: {"recordings": item.recordings, "disagreements": dict(item.found)}
                          for name, item in report.items()}, indent=2), file=out)
    else:
        print(render(report, root), file=out)
    return 1 if any(item.found for item in report.values()) else 0
