"""Any field any model defines, with any value, sent to every model: a 2xx or a 4xx, never a 5xx, never a reset.

A field the model does not define leaves its answer exactly as it is without the field (same status, same
keys, same image names, hence the same size, format and delivery); one it defines with a value outside its
schema gets the 400 that names it. The field names and most values come from the contract (every model's
schema), the rest is junk: wrong types, empty, huge, NUL, nested.

Over HTTP against a real `aiml-mock serve` on one keep-alive connection, so an answer that breaks the
connection fails the request after it. Bounded for CI: the sweep sends each model each field once (every
value of a field reaching some model), and the Hypothesis test draws a few hundred more cases;
`AIML_MOCK_SWEEP=full` sends every model every value of every field, and `HYPOTHESIS_PROFILE=deep` draws more.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiml_mock import Settings
from aiml_mock.core.contract import ModelSpec, load_contract
from aiml_mock.core.registry import example_request, example_value
from aiml_mock.tools.strategies import invalid_values, valid_values
from tests.property.conftest import AUTH, Mock

CONTRACT = load_contract("aimlapi")
MODELS = sorted(CONTRACT.models)
FIELDS = sorted({name for spec in CONTRACT.models.values() for name in spec.properties})
FULL = os.environ.get("AIML_MOCK_SWEEP") == "full"
EXAMPLES = 5 * (settings.default.max_examples or 40)  # 200 in the ci profile, 10,000 in deep

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF", "tiff": (b"II*\x00", b"MM\x00*")}
TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "tiff": "image/tiff"}
EXTENSIONS = {"png": "png", "jpg": "jpeg", "webp": "webp", "tif": "tiff"}
GENERATION_ID = re.compile(r"gen-[0-9]+-")  # gpt-image's answer id carries the time

NESTED: Any = "deep"
for _ in range(200):
    NESTED = [NESTED] if isinstance(NESTED, dict) else {"a": NESTED}
JUNK: list[Any] = [
    None, True, False, 0, -1, 1.5, -0.0, 10**30, -(10**30), 1e308, "", " ", "\x00", "png\x00", "b64_json\x00",
    "url", "b64_json", "jpeg", "tiff", "gif", "x" * 300_000, "🦊" * 50, "\ud800", [], [None], ["\x00"] * 3, {},
    {"width": "x", "height": None}, {"width": 10**9, "height": -5}, {"": {"\x00": [1, {"b": [[]]}]}}, NESTED,
]


def literal_values(schema: Mapping[str, Any]) -> list[Any]:
    """The values a (sub)schema names: enum, const, default, examples, its bounds and one past them, a valid
    value of each branch, and an object built from each object branch's properties."""
    found: list[Any] = [example_value(schema)]
    found += [schema[key] for key in ("const", "default") if key in schema]
    found += list(schema.get("enum", ())) + list(schema.get("examples", ()))
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = schema.get(key)
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            found += [bound, bound - 1, bound + 1]
    for key in ("minLength", "maxLength"):
        if isinstance(schema.get(key), int):
            found += ["x" * schema[key], "x" * (schema[key] + 1)]
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "oneOf")}
    for branch in [*schema.get("anyOf", ()), *schema.get("oneOf", ())]:
        found += literal_values({**rest, **branch})
    if "properties" in schema:
        found.append({name: example_value(prop) for name, prop in schema["properties"].items()})
        for name, prop in schema["properties"].items():
            found += [{name: value} for value in literal_values(prop)[:4]]
    return found


def _unique(values: list[Any]) -> list[Any]:
    """Distinct as JSON tells them apart (`1`, `1.0` and `true` are three values)."""
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(json.dumps(value, sort_keys=True), value)
    return list(seen.values())


def value_pool(name: str) -> list[Any]:
    """Every value any model's schema gives the field, then the junk."""
    named = [value for spec in CONTRACT.models.values() if name in spec.properties
             for value in literal_values(spec.properties[name])]
    return _unique(named + JUNK)


POOLS = {name: value_pool(name) for name in FIELDS}


class Case(NamedTuple):
    model: str
    field: str
    value: Any


def sweep_cases() -> list[Case]:
    """Each model gets each field, each value of a field reaches some model (all pairs with `FULL`)."""
    cases = []
    for name in FIELDS:
        pool = POOLS[name]
        if FULL:
            cases += [Case(model, name, value) for model in MODELS for value in pool]
        else:
            cases += [Case(MODELS[index % len(MODELS)], name, pool[index % len(pool)])
                      for index in range(max(len(MODELS), len(pool)))]
    return cases


# -- the server and one keep-alive connection to it ------------------------------------------------------


class Answer(NamedTuple):
    status: int
    body: Any


class Client:
    """One keep-alive connection (http.client never retries on its own: a reset is an exception here)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self.baselines: dict[str, Answer] = {}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": "Bearer sk-sweep", "Content-Type": "application/json"} if body is not None else {}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        if (response.getheader("connection") or "").lower() == "close":
            self.connection.close()  # closed cleanly by the server: the next request opens a new connection
        return response.status, {key.lower(): value for key, value in response.getheaders()}, content

    def post(self, body: Mapping[str, Any]) -> Answer:
        status, headers, content = self.request("POST", "/v1/images/generations", json.dumps(body).encode())
        assert headers.get("content-type", "").startswith("application/json"), (status, headers, content[:200])
        return Answer(status, json.loads(content))

    def baseline(self, spec: ModelSpec) -> Answer:
        if spec.id not in self.baselines:
            answer = self.post(example_request(spec))
            assert answer.status == spec.success_status, answer
            self.baselines[spec.id] = answer
        return self.baselines[spec.id]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """`aiml-mock serve` on a free port, its content policy off (schema-valid prompts are what is swept)."""
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--content-policy-terms", ""]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        try:
            assert "listening on http://" in line, line + process.stderr.read()
            yield line.split("listening on ")[1].split()[0]
        finally:
            process.send_signal(signal.SIGTERM)
            _, log = process.communicate(timeout=10)
        assert "Traceback" not in log, log  # no internal error, even one answered cleanly


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[Client]:
    made = Client(server)
    yield made
    made.connection.close()


# -- what every answer must be ---------------------------------------------------------------------------


def images(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """An answer's image items: `data` (OpenAI's shape) or `images` (fal.ai's)."""
    return list(body.get("data") or body.get("images") or ())


def _steady(value: Any) -> Any:
    """A value without what differs between two answers to one request: URL signatures, the clock."""
    if isinstance(value, str):
        return GENERATION_ID.sub("gen-", value.partition("?se=")[0])
    if isinstance(value, list):
        return [_steady(item) for item in value]
    if isinstance(value, dict):
        return {key: _steady(item) for key, item in value.items() if key not in ("created", "created_ms")}
    return value


def shape(answer: Answer) -> Any:
    """What must not change when a field is ignored: the status and the whole body (the image names carry the
    size, format and prompt), but for the signatures and the time of answering."""
    assert images(answer.body), answer
    return answer.status, _steady(answer.body)


def image_format(client: Client, item: Mapping[str, Any]) -> str:
    """The format of an answer's image: its bytes match its extension and content type when fetched."""
    if item.get("b64_json"):
        data = base64.b64decode(item["b64_json"], validate=True)
        return next(fmt for fmt, magic in MAGIC.items() if data.startswith(magic))
    parts = urlsplit(item["url"])
    status, headers, data = client.request("GET", f"{parts.path}?{parts.query}")
    fmt = EXTENSIONS[parts.path.rpartition(".")[2]]
    assert status == 200 and headers["content-type"] == TYPES[fmt] and data.startswith(MAGIC[fmt]), (status, headers)
    return fmt


def names(message: str, field: str) -> bool:
    """Whether a provider-style 400 message is about the field (`at "image_size.width"` is about `image_size`)."""
    return any(f'at "{field}{end}' in message for end in ('"', ".", "["))


def check(client: Client, case: Case, *, fetch: bool = False) -> None:
    spec = CONTRACT.models[case.model]
    baseline = client.baseline(spec)
    answer = client.post({**example_request(spec), case.field: case.value})
    assert answer.status < 500, (case, answer)
    defined = case.field in spec.properties
    if not defined and spec.schema.get("additionalProperties") is not False:
        assert answer.status == baseline.status, (case, answer)  # ignored: exactly the answer without it
        assert shape(answer) == shape(baseline), case
    elif answer.status >= 400 and case.field != "model":  # another model id may need other fields
        assert answer.status == 400 and names(answer.body["message"], case.field), (case, answer)
    elif not defined:  # the model's own schema refuses unknown fields (SDXL, as the provider documents it)
        raise AssertionError(f"{case}: a field {case.model} refuses was answered {answer}")
    elif answer.status < 400:
        model = case.value if case.field == "model" else case.model
        assert answer.status == CONTRACT.success_status(model), (case, answer)
        if fetch:
            image_format(client, images(answer.body)[0])


def test_no_field_with_any_value_breaks_any_model(client: Client) -> None:
    cases = sweep_cases()
    assert len(cases) >= len(MODELS) * len(FIELDS) / 2
    for case in cases:
        check(client, case)


def test_a_field_the_model_does_not_define_keeps_its_image_format_and_delivery(client: Client) -> None:
    """The issue's examples, the served image fetched: DALL·E stays PNG, FLUX stays a URL."""
    for model, name, value, delivery, fmt in [
        ("dall-e-2", "output_format", "b64_json", "url", "png"), ("dall-e-2", "output_format", "jpeg", "url", "png"),
        ("flux-pro", "response_format", "b64_json", "url", "png"), ("flux-pro", "output_format", "webp", "url", "png"),
        ("flux-pro", "output_format", "tiff", "url", "png"),
        ("google/imagen4/preview", "response_format", "b64_json", "url", "png"),
        ("openai/gpt-image-1", "convert_base64_to_url", False, "url", "png"),
        ("flux/kontext-pro/text-to-image", "response_format", "b64_json", "url", "jpeg"),
    ]:
        spec = CONTRACT.models[model]
        assert name not in spec.properties
        answer = client.post({**example_request(spec), name: value})
        assert answer.status == spec.success_status, answer
        [item] = images(answer.body)
        assert item.get(delivery) and image_format(client, item) == fmt, (model, name, value)


def test_litellm_style_dalle2_base64_body_gets_a_base64_png(client: Client) -> None:
    """LiteLLM's `aiml/` provider sends `output_format` with DALL·E's base64 ask: dall-e-2 does not define it."""
    answer = client.post({"prompt": "x", "model": "dall-e-2", "output_format": "b64_json",
                          "response_format": "b64_json"})
    assert answer.status == 201, answer
    [item] = images(answer.body)
    assert item.get("b64_json") and not item.get("url") and image_format(client, item) == "png"


# -- drawn cases ---------------------------------------------------------------------------------------------


def _schemas(name: str) -> list[Mapping[str, Any]]:
    return [spec.properties[name] for spec in CONTRACT.models.values() if name in spec.properties]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@functools.cache
def drawn_values(name: str) -> st.SearchStrategy[Any]:
    """Values the other models' schemas accept or refuse for the field, and junk."""
    schemas = _schemas(name)
    drawn = [st.sampled_from(schemas).flatmap(valid_values), st.sampled_from(JUNK), _JSON]
    refused = [strategy for schema in schemas if (strategy := invalid_values(schema)) is not None]
    if refused:
        drawn.append(st.sampled_from(refused).flatmap(_same))
    return st.one_of(drawn)


def _same(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy


CASES = st.tuples(st.sampled_from(MODELS), st.sampled_from(FIELDS)).flatmap(
    lambda pair: drawn_values(pair[1]).map(lambda value: Case(pair[0], pair[1], value)))


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          deadline=None)
@given(case=CASES)
def test_drawn_fields_and_values_never_break_any_model(client: Client, case: Case) -> None:
    check(client, case, fetch=True)


# -- where unknown fields are refused (in-process: --strict, and the openai profile) -------------------------


@pytest.fixture(scope="module", params=["strict", "openai"])
def refusing(request: pytest.FixtureRequest) -> Iterator[Mock]:
    built = Mock(Settings(strict=True) if request.param == "strict" else Settings(profile="openai"))
    with built.client:
        yield built


@settings(max_examples=EXAMPLES // 2, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          deadline=None)
@given(data=st.data())
def test_where_unknown_fields_are_refused_any_field_is_a_400_naming_it_or_answered(refusing: Mock,
                                                                                    data: st.DataObject) -> None:
    contract = refusing.contract
    spec = contract.models[data.draw(st.sampled_from(sorted(contract.models)), label="model")]
    name = data.draw(st.sampled_from(FIELDS), label="field")
    value = data.draw(st.sampled_from(POOLS[name]) | drawn_values(name), label="value")
    response = refusing.client.post("/v1/images/generations", content=json.dumps({**example_request(spec),
                                    name: value}).encode(), headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    if name not in spec.properties:
        assert response.status_code == 400, response.text
        body = response.json()
        if contract.error_style == "openai":
            assert body["error"]["param"] == name, body
        else:
            assert names(body["message"], name), body
