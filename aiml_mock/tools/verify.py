"""`aiml-mock verify`: hold any live server (the mock in Docker, a proxy, the real API) to the contract.

Real requests cost money, so the run has a hard budget: every request it sends (image downloads included)
passes one counting transport that refuses the request past `--max-requests`, and a case runs only if all
of its requests fit. Cases go cheapest first: requests the API refuses before generating anything (no key,
invalid bodies), then DALL·E 2 at 256x256, then the other documented behaviours, then one minimal request
per other model. Each answer is checked against the contract (status, required headers, content type,
body schema, the model's documented success status, the number and size of the images), and the report
says, per case, what was expected, what came back and which rule it broke.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from aiml_mock.core._extras import missing_extra

try:
    import httpx
except ModuleNotFoundError as error:  # the core install: httpx comes with the contract extra
    raise missing_extra("aiml-mock verify", "contract", error) from error

from aiml_mock.core.contract import IMAGE_PATH, PROFILES, Contract, ModelSpec, Violation, load_contract

DEFAULT_MAX_REQUESTS = 10
DEFAULT_TIMEOUT = 120.0  # a real generation can take a minute
PROMPT = "A red apple on a white table, studio light"
IMAGE_URL = "https://example.com/input.png"
Auth = Literal["key", "none", "wrong"]


class BudgetExhausted(RuntimeError):
    """A request past `--max-requests` was about to be sent; it was not."""


class Budget:
    """The hard limit on requests: `spend()` before each one, refused once the limit is reached."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("the request budget cannot be negative")
        self.limit = limit
        self.spent = 0

    @property
    def left(self) -> int:
        return self.limit - self.spent

    def spend(self) -> None:
        if self.spent >= self.limit:
            raise BudgetExhausted(f"request budget of {self.limit} spent")
        self.spent += 1


class BudgetTransport(httpx.BaseTransport):
    """Every request the client sends goes through here and is counted; none passes the budget."""

    def __init__(self, budget: Budget, inner: httpx.BaseTransport | None = None) -> None:
        self.budget = budget
        self.inner = inner or httpx.HTTPTransport(retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.budget.spend()
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True, slots=True)
class Case:
    """One request to send, what the contract says must come back, and what it costs in requests."""

    name: str
    expected: int
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    auth: Auth = "key"
    model: str | None = None
    method: str = "POST"
    path: str = IMAGE_PATH
    count: int = 1  # images a success must carry
    size: tuple[int, int] | None = None  # the pixel size the request spells out
    fetch_image: bool = False  # download the first image URL too (one more request)

    @property
    def cost(self) -> int:
        return 1 + int(self.fetch_image)

    def content(self) -> bytes | None:
        if self.raw is not None:
            return self.raw
        return None if self.body is None else json.dumps(self.body, ensure_ascii=False).encode()


@dataclass(slots=True)
class Outcome:
    """What happened to one case: the status, the rules broken, the requests it used (or why it was skipped)."""

    case: Case
    status: int | None = None
    violations: list[Violation] = field(default_factory=list)
    requests: int = 0
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return self.skipped is None and not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case.name, "request": f"{self.case.method} {self.case.path}", "model": self.case.model,
            "expected": self.case.expected, "got": self.status, "passed": self.passed, "skipped": self.skipped,
            "requests": self.requests, "violations": [_short_violation(v) for v in self.violations],
        }


@dataclass(slots=True)
class Report:
    base_url: str
    profile: str
    error_style: str
    budget: int
    outcomes: list[Outcome]
    requests_sent: int

    @property
    def ok(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes if outcome.skipped is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url, "profile": self.profile, "error_style": self.error_style,
            "max_requests": self.budget, "requests_sent": self.requests_sent, "ok": self.ok,
            "cases": [outcome.to_dict() for outcome in self.outcomes],
        }


# -- the plan: cheapest first -------------------------------------------------------------------------


def plan(contract: Contract) -> list[Case]:
    """Every case, cheapest first: refusals before generation, DALL·E 2 at 256x256, then the rest."""
    return [*_refusals(contract), *_cheap_successes(contract), *_more_refusals(contract),
            *_other_successes(contract)]


def _dalle2(contract: Contract) -> ModelSpec:
    return contract.models.get("dall-e-2") or next(iter(contract.models.values()))


def _refusals(contract: Contract) -> Iterator[Case]:
    """Requests the API refuses before generating anything: they cost no credits."""
    spec = _dalle2(contract)
    valid = minimal_body(spec)
    yield Case("no API key", 401, body=valid, auth="none", model=spec.id)
    yield Case("unknown model", 400, body={**valid, "model": f"{spec.id}-nonexistent"})
    others = sorted(contract.models.values(), key=lambda other: not other.id.startswith("dall-e"))
    sizes = [size for other in others for size in other.enum("size") if _wxh(size)]
    outside = next((size for size in sizes if size not in spec.enum("size")), "1x1")
    if "size" in spec.properties:
        yield Case(f"size {outside!r} outside the model's sizes", 400, body={**valid, "size": outside})
    yield Case("prompt missing", 400, body={k: v for k, v in valid.items() if k != "prompt"})
    limit = spec.properties.get("prompt", {}).get("maxLength")
    if limit:
        yield Case(f"prompt over {limit} characters", 400, body={**valid, "prompt": "a" * (limit + 1)})
    count = next((name for name in ("n", "num_images") if name in spec.properties), None)
    if count and spec.maximum(count) is not None:
        yield Case(f"{count} above {spec.maximum(count)}", 400, body={**valid, count: spec.maximum(count) + 1})
    yield Case("malformed JSON", 400, raw=b'{"model": "dall-e-2", "prompt": ')


def _cheap_successes(contract: Contract) -> Iterator[Case]:
    spec = _dalle2(contract)
    sizes = spec.enum("size")
    small = min(sizes, key=_pixels) if sizes else None
    body = minimal_body(spec) | ({"size": small} if small else {})
    label = f"{spec.id} {small or ''}".strip()
    size = _wxh(small)
    if "response_format" in spec.properties:
        yield Case(f"{label}, url", spec.success_status, body={**body, "response_format": "url"}, model=spec.id,
                   size=size, fetch_image=True)
        yield Case(f"{label}, b64_json", spec.success_status, body={**body, "response_format": "b64_json"},
                   model=spec.id, size=size)
    else:
        yield Case(label, spec.success_status, body=body, model=spec.id, size=size)


def _more_refusals(contract: Contract) -> Iterator[Case]:
    valid = minimal_body(_dalle2(contract))
    yield Case("wrong API key", 401, body=valid, auth="wrong")
    yield Case("text/plain body", 415, raw=json.dumps(valid).encode(), content_type="text/plain")
    yield Case("list the models", 200, method="GET", path="/v1/models")


def _other_successes(contract: Contract) -> Iterator[Case]:
    cheap = _dalle2(contract).id
    for spec in contract.models.values():
        if spec.id == cheap:
            continue
        body = minimal_body(spec)
        if contract.validate_request(body):
            continue  # a schema this builder cannot satisfy simply: left to the Schemathesis suite
        size = _wxh(body.get("size") or spec.defaults.get("size"))
        count = next((int(spec.defaults[name]) for name in ("n", "num_images") if name in spec.defaults), 1)
        yield Case(spec.id, spec.success_status, body=body, model=spec.id, count=count, size=size)


def minimal_body(spec: ModelSpec) -> dict[str, Any]:
    """The simplest valid request for a model: its required fields, with plain realistic values."""
    body: dict[str, Any] = {"model": spec.id}
    for name in spec.required:
        body[name] = _simple(name, spec.properties.get(name, {}))
    return body


def _simple(name: str, schema: Mapping[str, Any]) -> Any:
    if "const" in schema:
        return schema["const"]
    values = [value for value in schema.get("enum", ()) if value is not None]
    if values:
        return schema["default"] if schema.get("default") in values else values[0]
    branch = (schema.get("anyOf") or [schema])[0]
    kind = branch.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    if kind == "array":
        return [_simple(name, branch.get("items", {}))] * max(1, int(branch.get("minItems", 1)))
    if kind == "object":
        return {key: _simple(key, prop) for key, prop in branch.get("properties", {}).items()
                if key in branch.get("required", ())}
    if kind in ("integer", "number"):
        return branch.get("default", branch.get("minimum", 1))
    if kind == "boolean":
        return branch.get("default", False)
    if "image" in name or "url" in name or branch.get("format") == "uri" or "pattern" in branch:
        return IMAGE_URL
    return PROMPT if name == "prompt" else branch.get("default", "a")


def _wxh(size: Any) -> tuple[int, int] | None:
    width, sep, height = size.partition("x") if isinstance(size, str) else ("", "", "")
    return (int(width), int(height)) if sep and width.isdigit() and height.isdigit() else None


def _pixels(size: str) -> int:
    dims = _wxh(size)
    return dims[0] * dims[1] if dims else 1 << 62


# -- running a case -----------------------------------------------------------------------------------


def run_case(client: httpx.Client, base_url: str, api_key: str, case: Case, contract: Contract) -> Outcome:
    outcome = Outcome(case)
    headers = {"Accept": "application/json"}
    if case.auth != "none":
        headers["Authorization"] = f"Bearer {api_key if case.auth == 'key' else 'sk-aiml-mock-verify-wrong-key'}"
    if case.content() is not None:
        headers["Content-Type"] = case.content_type
    try:
        response = client.request(case.method, base_url + case.path, content=case.content(), headers=headers)
    except BudgetExhausted as error:  # not reached: cases run only when all their requests fit
        outcome.skipped = str(error)
        return outcome
    except httpx.HTTPError as error:
        outcome.requests = 1
        outcome.violations.append(Violation("response", "answer", None, f"no answer: {error}"))
        return outcome
    outcome.requests = 1
    outcome.status = response.status_code
    if response.status_code != case.expected:
        message = f"expected status {case.expected}, got {response.status_code}"
        outcome.violations.append(Violation("status", "status", response.status_code, message, case.expected))
    body, problem = _json_of(response)
    if problem:
        outcome.violations.append(problem)
    found = contract.validate_response(case.method, case.path, response.status_code, response.headers, body,
                                      case.model)
    status_told = any(violation.rule == "status" for violation in outcome.violations)
    outcome.violations += [v for v in found if not (status_told and v.rule == "x-success-status")]
    if response.status_code // 100 == 2 and case.path == IMAGE_PATH and isinstance(body, dict):
        outcome.violations += _image_violations(client, case, body, outcome)
    return outcome


def _json_of(response: httpx.Response) -> tuple[Any, Violation | None]:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None, None
    try:
        return response.json(), None
    except ValueError as error:
        return None, Violation("body", "json", response.text[:200], f"the body is not valid JSON: {error}")


def _image_violations(client: httpx.Client, case: Case, body: dict[str, Any], outcome: Outcome) -> list[Violation]:
    """The images a success promises: one per `n`, and the first one a real image of the requested size."""
    found: list[Violation] = []
    raw = body.get("data")
    data: list[Any] = raw if isinstance(raw, list) else []
    if len(data) != case.count:
        message = f"asked for {case.count} image(s), got {len(data)}"
        found.append(Violation("$.data", "count", len(data), message, case.count))
    first = data[0] if data and isinstance(data[0], dict) else {}
    content: bytes | None = None
    if isinstance(first.get("b64_json"), str):
        try:
            content = base64.b64decode(first["b64_json"], validate=True)
        except (binascii.Error, ValueError):
            found.append(Violation("$.data[0].b64_json", "base64", None, "b64_json is not valid base64"))
    elif case.fetch_image and isinstance(first.get("url"), str):
        try:
            fetched = client.get(first["url"])
        except httpx.HTTPError as error:
            outcome.requests += 1
            return [*found, Violation("$.data[0].url", "download", first["url"], f"image URL did not answer: {error}")]
        outcome.requests += 1
        if fetched.status_code != 200:
            found.append(Violation("$.data[0].url", "download", fetched.status_code,
                                   f"image URL answered {fetched.status_code}, not 200"))
        else:
            content = fetched.content
    if content is not None:
        found += _picture_violations(content, case.size)
        found += _described_size_violations(content, body)
    return found


def _described_size_violations(content: bytes, body: dict[str, Any]) -> list[Violation]:
    """Where the body describes its images (fal-style `images[0].width/height`), the picture's real size."""
    images = body.get("images")
    first = images[0] if isinstance(images, list) and images and isinstance(images[0], dict) else {}
    width, height = first.get("width"), first.get("height")
    if not (isinstance(width, int) and isinstance(height, int)):
        return []
    try:
        with Image.open(io.BytesIO(content)) as image:
            actual = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return []  # `_picture_violations` said so
    if actual == (width, height):
        return []
    message = f"images[0] says {width}x{height}, the image served is {actual[0]}x{actual[1]}"
    return [Violation("$.images[0].width", "served-size", f"{width}x{height}", message, f"{actual[0]}x{actual[1]}")]


def _picture_violations(content: bytes, size: tuple[int, int] | None) -> list[Violation]:
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            actual = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return [Violation("image", "image", None, f"not a readable image: {error}")]
    if size is not None and actual != size:
        message = f"image is {actual[0]}x{actual[1]}, the request asked for {size[0]}x{size[1]}"
        return [Violation("image", "size", f"{actual[0]}x{actual[1]}", message, f"{size[0]}x{size[1]}")]
    return []


def verify(base_url: str, api_key: str, *, max_requests: int = DEFAULT_MAX_REQUESTS, contract: Contract | None = None,
           timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None) -> Report:
    """Run the plan against `base_url` within `max_requests` requests (never more), cheapest cases first."""
    contract = contract or load_contract()
    base = normalise_base_url(base_url)
    budget = Budget(max_requests)
    outcomes: list[Outcome] = []
    with httpx.Client(transport=BudgetTransport(budget, transport), timeout=timeout, follow_redirects=False) as client:
        for case in plan(contract):
            if case.cost > budget.left:
                outcomes.append(Outcome(case, skipped=f"needs {case.cost} request(s), {budget.left} left"))
                continue
            outcomes.append(run_case(client, base, api_key, case, contract))
    return Report(base, contract.profile, contract.error_style, max_requests, outcomes, budget.spent)


def normalise_base_url(url: str) -> str:
    """`http://host:8000`, `.../` or the SDK-style `.../v1` all name the same server root."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--base-url must start with http:// or https://, not {url!r}")
    return url.removesuffix("/v1")


# -- the report -------------------------------------------------------------------------------------


def _short_violation(violation: Violation) -> dict[str, Any]:
    value = violation.value
    text = json.dumps(value, ensure_ascii=False, default=str) if value is not None else None
    if text is not None and len(text) > 120:
        value = text[:117] + "..."
    return {"path": violation.path, "rule": violation.rule, "value": value, "message": violation.message}


def render(report: Report) -> str:
    """The readable report: one line per case, each broken rule under it, a summary last."""
    lines = [f"aiml-mock verify: {report.base_url} against the {report.profile} contract "
             f"({report.error_style} errors), at most {report.budget} requests", ""]
    width = max((len(outcome.case.name) for outcome in report.outcomes if not outcome.skipped), default=10)
    for outcome in report.outcomes:
        case = outcome.case
        if outcome.skipped:
            continue
        got = "no answer" if outcome.status is None else str(outcome.status)
        verdict = "ok  " if outcome.passed else "FAIL"
        lines.append(f"  {verdict}  {case.name:<{width}}  expected {case.expected}, got {got}")
        for violation in outcome.violations:
            lines.append(f"        {violation.path}: {violation.message} [{violation.rule}]")
    ran = [outcome for outcome in report.outcomes if not outcome.skipped]
    failed = [outcome for outcome in ran if not outcome.passed]
    skipped = len(report.outcomes) - len(ran)
    if skipped:
        names = [outcome.case.name for outcome in report.outcomes if outcome.skipped]
        more = f" and {len(names) - 6} more" if len(names) > 6 else ""
        lines += ["", f"  skipped for the budget: {', '.join(names[:6])}{more} (raise --max-requests to run them)"]
    lines += ["", f"{len(ran)} cases run, {len(failed)} broke the contract, {skipped} skipped for the budget; "
                  f"{report.requests_sent} of {report.budget} requests sent."]
    return "\n".join(lines)


# -- the command ------------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "verify", help="check a live server (the mock, a proxy, the real API) against the contract, on a budget",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base-url", required=True, help="server root, e.g. http://127.0.0.1:8000 (a /v1 suffix is "
                                                          "dropped) or https://api.aimlapi.com")
    parser.add_argument("--api-key", default=os.environ.get("AIML_API_KEY"),
                        help="a key the server accepts [default: $AIML_API_KEY]")
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS,
                        help=f"hard limit on requests sent, image downloads included [default {DEFAULT_MAX_REQUESTS}]")
    parser.add_argument("--profile", choices=PROFILES, default="aimlapi", help="contract to hold the server to")
    parser.add_argument("--error-style", choices=PROFILES, help="error dialect the server speaks (default: the "
                                                                "profile's)")
    parser.add_argument("--success-status", type=int, help="status every success uses, if the server was started "
                                                           "with one (default: each model's documented status)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per request [default 120]")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """0 when every case run kept the contract, 1 when any broke it, 2 for bad arguments."""
    if not args.api_key:
        print("aiml-mock verify: give --api-key (or set AIML_API_KEY)", file=sys.stderr)
        return 2
    try:
        contract = load_contract(args.profile, args.error_style, args.success_status)
        report = verify(args.base_url, args.api_key, max_requests=args.max_requests, contract=contract,
                        timeout=args.timeout)
    except ValueError as error:
        print(f"aiml-mock verify: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else render(report))
    return 0 if report.ok else 1
