"""Fault injection: the plans (pure), and each fault as the app answers it in-process, in both dialects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiml_mock import Settings, create_app
from aiml_mock.core.contract import load_contract
from aiml_mock.core.errors import CONTENT_POLICY_MESSAGE, ApiError
from aiml_mock.core.faults import (
    REALISTIC_SECONDS,
    ContentPolicy,
    Fault,
    FaultRule,
    Faults,
    Latency,
    format_duration,
    parse_duration,
    parse_kinds,
    parse_latency,
    realistic_seconds,
    retry_headers,
)
from aiml_mock.core.validation import ImageRequest, validate_request
from aiml_mock.hosting.cli import build_parser, main, settings_from_args
from aiml_mock.web.transport import ConnectionDropped
from tests.conftest import AUTH, PROMPT

GENERATE = "/v1/images/generations"
BODY = {"model": "dall-e-3", "prompt": PROMPT}


def image_request(**body: Any) -> ImageRequest:
    return validate_request({"model": "dall-e-3", "prompt": PROMPT, **body}, load_contract("aimlapi", "aimlapi"))


def statuses(client: TestClient, count: int, **headers: str) -> list[int]:
    return [client.post(GENERATE, json=BODY, headers={**AUTH, **headers}).status_code for _ in range(count)]


# -- durations and latency -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("250ms", 0.25), ("1.5s", 1.5), ("2", 2.0), ("2m", 120.0), (0.5, 0.5)])
def test_durations_read_units_and_bare_numbers_are_seconds(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["fast", "-1", "1h", "700s", ""])
def test_bad_durations_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="duration|range"):
        parse_duration(text)


def test_durations_print_like_openai_reset_headers() -> None:
    assert [format_duration(s) for s in (0.012, 1.5, 12, 75, 3725)] == ["12ms", "1.5s", "12s", "1m15s", "1h2m5s"]


def test_latency_specs_fixed_uniform_normal_and_realistic() -> None:
    assert parse_latency("0") is None and parse_latency(None) is None
    assert parse_latency("250ms") == Latency("fixed", 0.25, 0.25, "250ms")
    uniform = parse_latency("100-300ms")
    assert uniform is not None and (uniform.kind, uniform.low, uniform.high) == ("uniform", 0.1, 0.3)
    normal = parse_latency("300ms+-50ms")
    assert normal is not None and (normal.kind, normal.low, normal.high) == ("normal", 0.3, 0.05)
    realistic = parse_latency("realistic:0.01")
    assert realistic is not None and (realistic.kind, realistic.low) == ("realistic", 0.01)


def test_latency_draws_stay_in_their_distribution() -> None:
    import random

    rng = random.Random(1)
    uniform, normal = parse_latency("100ms-300ms"), parse_latency("10ms+-50ms")
    assert uniform is not None and normal is not None
    assert all(0.1 <= uniform.sample(rng) <= 0.3 for _ in range(200))
    assert all(normal.sample(rng) >= 0 for _ in range(200))  # clipped: never negative


@pytest.mark.parametrize("text", ["soon", "300ms-100ms", "realistic:fast", "realistic:0"])
def test_bad_latency_specs_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_latency(text)


def test_realistic_timing_is_slower_for_hd_and_faster_for_dall_e_2() -> None:
    standard = realistic_seconds(image_request())
    hd = realistic_seconds(image_request(quality="hd"))
    wide_hd = realistic_seconds(image_request(quality="hd", size="1792x1024"))
    small = realistic_seconds(image_request(model="dall-e-2", size="256x256"))
    large = realistic_seconds(image_request(model="dall-e-2", size="1024x1024"))
    assert small < large < standard < hd < wide_hd
    assert standard == REALISTIC_SECONDS["dall-e-3 standard"] and hd == REALISTIC_SECONDS["dall-e-3 hd"]


def test_realistic_latency_scales_and_jitters_around_the_figure() -> None:
    import random

    latency = parse_latency("realistic:0.5")
    assert latency is not None
    draws = [latency.sample(random.Random(seed), image_request(quality="hd")) for seed in range(20)]
    assert all(0.9 * 10.0 <= draw <= 1.1 * 10.0 for draw in draws) and len(set(draws)) > 1


# -- rules and the registry ------------------------------------------------------------------------


def test_the_simplest_rule_reads_status_and_times() -> None:
    rule = FaultRule.from_dict({"status": 503, "times": 2})
    assert (rule.kind, rule.status, rule.times) == ("error", 503, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": 200}, "400 to 599"),
        ({"status": "503"}, "status must be integer"),
        ({"status": 503, "times": 0}, "times must be a positive"),
        ({"status": 503, "tims": 2}, "unknown field.*'tims'"),
        ({"kind": "explode"}, "kind must be one of"),
        ({"times": 2}, "needs a status"),
        ({"status": 429, "retry_after": -1}, "out of range"),
        ({"latency": "soon"}, "latency:"),
        ([1], "JSON object"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultRule.from_dict(data)


def test_a_rule_answers_its_times_then_is_gone() -> None:
    faults = Faults()
    faults.add(FaultRule(status=503, times=2))
    picks = [faults.pick(image_request()) for _ in range(3)]
    assert [pick.status if pick else None for pick in picks] == [503, 503, None]
    assert faults.rules() == [] and not faults.active


def test_a_rule_without_times_fires_until_cleared() -> None:
    faults = Faults()
    faults.add(FaultRule.from_dict({"status": 500, "times": None}))
    assert all(faults.pick(image_request()) is not None for _ in range(20))
    assert faults.clear() == 1 and faults.pick(image_request()) is None


def test_rules_match_model_prompt_substring_and_key() -> None:
    faults = Faults()
    faults.add(FaultRule(status=500, model="dall-e-2", times=None))
    faults.add(FaultRule(status=502, prompt="t-rex", times=None))
    faults.add(FaultRule(status=504, key="sk-b", times=None))
    assert faults.pick(image_request(model="dall-e-2", size="256x256")).status == 500  # type: ignore[union-attr]
    assert faults.pick(image_request()).status == 502  # type: ignore[union-attr]
    assert faults.pick(image_request(prompt="a lighthouse"), key="sk-b").status == 504  # type: ignore[union-attr]
    assert faults.pick(image_request(prompt="a lighthouse"), key="sk-a") is None


def test_rules_are_tried_in_the_order_they_were_added() -> None:
    faults = Faults()
    first, second = faults.add(FaultRule(status=500)), faults.add(FaultRule(status=502))
    assert (first.id, second.id) == (1, 2)
    assert [faults.pick(image_request()).status for _ in range(2)] == [500, 502]  # type: ignore[union-attr]


def test_an_injected_429_tells_clients_when_to_retry() -> None:
    error = Fault("error", 429, retry_after=1.0).error()
    assert error.status == 429
    assert error.headers["retry-after"] == "1" and error.headers["retry-after-ms"] == "1000"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.headers["x-ratelimit-reset-requests"] == "1s"


def test_the_429_delay_defaults_to_one_second_and_is_configurable() -> None:
    assert Faults().pick(image_request(), fault_header="429").retry_after == 1.0  # type: ignore[union-attr]
    assert Faults(retry_after=0.05).pick(image_request(), fault_header="429").retry_after == 0.05  # type: ignore[union-attr]
    assert Faults().pick(image_request(), fault_header="503").retry_after is None  # type: ignore[union-attr]


def test_fault_headers_take_parameters() -> None:
    fault = Faults().pick(image_request(), fault_header="503; retry-after=0.01; should-retry=false")
    assert fault is not None and (fault.status, fault.retry_after, fault.should_retry) == (503, 0.01, False)
    assert fault.error().headers["x-should-retry"] == "false"


@pytest.mark.parametrize("header", ["teapot", "200", "503; after=1", "503; should-retry=maybe"])
def test_bad_fault_headers_are_a_400_naming_the_header(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        Faults().pick(image_request(), fault_header=header)
    assert caught.value.status == 400 and "X-Mock-Fault" in caught.value.message


def test_the_same_seed_gives_the_same_fault_sequence() -> None:
    def sequence(seed: int) -> list[str | None]:
        faults = Faults(rate=0.3, kinds=("429", "500", "drop"), seed=seed)
        return [fault.label if (fault := faults.pick(image_request())) else None for _ in range(200)]

    first = sequence(7)
    assert first == sequence(7)
    assert first != sequence(8)
    assert 20 < sum(label is not None for label in first) < 100  # about 30% of 200
    assert {label for label in first if label} == {"429 (random)", "500 (random)", "drop (random)"}


def test_reset_restarts_the_random_sequence_and_clears_rules() -> None:
    faults = Faults(rate=0.5, kinds=("500",), seed=3)
    before = [faults.pick(image_request()) is not None for _ in range(30)]
    faults.add(FaultRule(status=503))
    faults.reset()
    assert faults.rules() == []
    assert [faults.pick(image_request()) is not None for _ in range(30)] == before


def test_fault_kinds_read_commas_and_refuse_unknown_kinds() -> None:
    assert parse_kinds(["429,500", "drop"]) == ("429", "500", "drop")
    with pytest.raises(ValueError, match="not a fault"):
        parse_kinds(["429,boom"])


def test_nothing_configured_costs_one_check() -> None:
    faults = Faults()
    assert not faults.active and faults.pick(image_request()) is None


# -- the content policy ----------------------------------------------------------------------------


def test_content_policy_matches_whole_words_in_any_case() -> None:
    policy = ContentPolicy()
    assert policy.violation("An NSFW painting") == "NSFW"
    assert policy.violation("a gory scene") == "gory"
    assert policy.violation("a gorgeous sunset") is None  # "gore" is not a word in "gorgeous"
    assert ContentPolicy(["red panda"]).violation("A Red Panda eating") == "Red Panda"
    assert ContentPolicy([]).violation("nsfw") is None


# -- in-process answers ----------------------------------------------------------------------------

AIML_WORDING = {403: "run out of credits", 429: "Too Many Requests", 500: "Internal server error",
                502: "Bad Gateway", 503: "Service unavailable", 504: "Generation timeout"}


@pytest.mark.parametrize("status", sorted(AIML_WORDING))
def test_each_http_fault_is_answered_as_the_real_api_does(make_client: Callable[..., TestClient], status: int) -> None:
    client = make_client()
    client.app.state.mock.faults.add(FaultRule(status=status))  # type: ignore[attr-defined]
    response = client.post(GENERATE, json=BODY, headers=AUTH)
    assert response.status_code == status
    body = response.json()
    assert AIML_WORDING[status] in body["message"] and body["statusCode"] == status and body["requestId"]
    assert response.headers["x-request-id"] == body["requestId"]
    assert ("retry-after" in response.headers) == (status == 429)
    assert client.post(GENERATE, json=BODY, headers=AUTH).status_code == 201  # times=1: the next one succeeds


@pytest.mark.parametrize(("status", "kind", "code"), [(403, "insufficient_quota", "insufficient_quota"),
                                                      (429, "requests", "rate_limit_exceeded"),
                                                      (500, "server_error", None), (504, "server_error", None)])
def test_http_faults_in_the_openai_dialect_carry_type_and_code(
    make_client: Callable[..., TestClient], status: int, kind: str, code: str | None
) -> None:
    client = make_client(error_style="openai")
    response = client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": str(status)})
    error = response.json()["error"]
    assert response.status_code == status and error["type"] == kind and error["code"] == code


def test_a_rule_message_replaces_the_wording(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.app.state.mock.faults.add(FaultRule(status=503, message="Maintenance until 10:00"))  # type: ignore[attr-defined]
    assert client.post(GENERATE, json=BODY, headers=AUTH).json()["message"] == "Maintenance until 10:00"


@pytest.mark.parametrize(("seconds", "whole", "millis"), [
    (0.05, "1", "50"), (0.07, "1", "70"), (0.0, "0", "0"), (1.0, "1", "1000"), (1.2, "2", "1200"),
    (0.0001, "1", "1"), (59.9994, "60", "60000"),
])
def test_retry_after_rounds_up_so_each_header_is_an_honest_at_least(seconds: float, whole: str, millis: str) -> None:
    # A whole-second reader (urllib3, curl) told `0` would retry before the wait is over: round up, never down.
    assert retry_headers(seconds) == {"retry-after": whole, "retry-after-ms": millis}


def test_the_header_fault_and_its_retry_after(make_client: Callable[..., TestClient]) -> None:
    response = make_client().post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": "429; retry-after=0.25"})
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "250" and response.headers["retry-after"] == "1"


def test_a_bad_fault_header_is_a_clear_400(make_client: Callable[..., TestClient]) -> None:
    response = make_client(error_style="openai").post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": "boom"})
    assert response.status_code == 400
    assert "X-Mock-Fault" in response.json()["error"]["message"] and response.json()["error"]["param"] == "X-Mock-Fault"


def test_fault_headers_can_be_turned_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(fault_headers=False)
    assert statuses(client, 2, **{"X-Mock-Fault": "500", "X-Mock-Latency": "soon"}) == [201, 201]


def test_faults_hit_valid_requests_only_and_auth_comes_first(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=("sk-right",))
    client.app.state.mock.faults.add(FaultRule(status=503))  # type: ignore[attr-defined]
    assert client.post(GENERATE, json=BODY, headers=AUTH).status_code == 401
    assert client.post(GENERATE, json={"model": "dall-e-3"}, headers={"Authorization": "Bearer sk-right"}
                       ).status_code == 400
    assert client.post(GENERATE, json=BODY, headers={"Authorization": "Bearer sk-right"}).status_code == 503


def test_content_policy_refuses_listed_terms_in_both_dialects(make_client: Callable[..., TestClient]) -> None:
    aiml = make_client().post(GENERATE, json={**BODY, "prompt": "an nsfw poster"}, headers=AUTH)
    assert aiml.status_code == 400 and aiml.json()["message"] == CONTENT_POLICY_MESSAGE
    openai = make_client(error_style="openai").post(GENERATE, json={**BODY, "prompt": "NSFW"}, headers=AUTH)
    assert openai.status_code == 400
    assert openai.json()["error"] == {"message": CONTENT_POLICY_MESSAGE, "type": "invalid_request_error",
                                      "param": None, "code": "content_policy_violation"}


def test_content_policy_terms_are_configurable_and_can_be_off(make_client: Callable[..., TestClient]) -> None:
    custom = make_client(content_policy_terms=("lighthouse",))
    assert custom.post(GENERATE, json={**BODY, "prompt": "a lighthouse"}, headers=AUTH).status_code == 400
    assert custom.post(GENERATE, json={**BODY, "prompt": "nsfw"}, headers=AUTH).status_code == 201
    off = make_client(content_policy_terms=())
    assert off.post(GENERATE, json={**BODY, "prompt": "nsfw"}, headers=AUTH).status_code == 201


def test_content_policy_can_be_asked_for_per_request(make_client: Callable[..., TestClient]) -> None:
    response = make_client(error_style="openai").post(GENERATE, json=BODY,
                                                      headers={**AUTH, "X-Mock-Fault": "content_policy"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "content_policy_violation"


def test_random_faults_from_settings_are_reproducible(make_client: Callable[..., TestClient]) -> None:
    first = statuses(make_client(fault_rate=0.5, fault_kinds=("500", "503"), seed=7), 40)
    again = statuses(make_client(fault_rate=0.5, fault_kinds=("500", "503"), seed=7), 40)
    other = statuses(make_client(fault_rate=0.5, fault_kinds=("500", "503"), seed=8), 40)
    assert first == again != other
    assert set(first) == {201, 500, 503}


def test_latency_is_added_and_recorded(make_client: Callable[..., TestClient]) -> None:
    client = make_client(latency="5ms")
    assert client.post(GENERATE, json=BODY, headers=AUTH).status_code == 201
    assert client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Latency": "1ms-2ms"}).status_code == 201
    entries = client.app.state.mock.journal.entries()  # type: ignore[attr-defined]
    assert entries[0].fault in ("latency 1ms", "latency 2ms") and entries[1].fault == "latency 5ms"


def test_a_bad_latency_header_is_a_clear_400(make_client: Callable[..., TestClient]) -> None:
    response = make_client().post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Latency": "soon"})
    assert response.status_code == 400 and "X-Mock-Latency" in response.json()["message"]


def test_realistic_latency_serves_normally(make_client: Callable[..., TestClient]) -> None:
    assert statuses(make_client(latency="realistic:0.0001"), 2) == [201, 201]


# Transport faults in-process: no socket, so no contract hook (the bodies are broken on purpose).


def bare_client(**settings: Any) -> TestClient:
    return TestClient(create_app(Settings(**settings)))


def test_truncate_in_process_sends_half_the_body() -> None:
    with bare_client() as client:
        whole = client.post(GENERATE, json=BODY, headers=AUTH).content
        cut = client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": "truncate"})
    assert cut.status_code == 201 and 0 < len(cut.content) < len(whole)


def test_malformed_sends_a_complete_response_with_broken_json() -> None:
    with bare_client() as client:
        response = client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": "malformed"})
    assert response.status_code == 201 and response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(ValueError):
        response.json()


def test_drop_in_process_raises_into_the_client() -> None:
    with bare_client() as client, pytest.raises(ConnectionDropped, match="dropped the connection"):
        client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": "drop"})


def test_a_stall_that_outlasts_its_bound_answers_the_generation_timeout() -> None:
    with bare_client() as client:
        response = client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": "stall; stall=0.05"})
    assert response.status_code == 504 and response.json()["message"] == "Generation timeout"


# -- settings and flags ----------------------------------------------------------------------------


def test_startup_flags_choose_random_faults_latency_and_limits() -> None:
    args = build_parser().parse_args([
        "serve", "--fault-rate", "0.1", "--fault-kinds", "429,500", "--seed", "7", "--latency", "realistic",
        "--rate-limit", "5/min", "--fault-retry-after", "0.2", "--no-admin", "--admin-token", "t",
    ])
    settings = settings_from_args(args)
    assert (settings.fault_rate, settings.fault_kinds, settings.seed) == (0.1, ("429", "500"), 7)
    assert (settings.latency, settings.rate_limit, settings.fault_retry_after) == ("realistic", "5/min", 0.2)
    assert settings.admin is False and settings.admin_token == "t"


def test_environment_variables_set_the_same_settings() -> None:
    settings = Settings.from_env({"AIML_MOCK_FAULT_KINDS": "503,drop", "AIML_MOCK_FAULT_RATE": "0.25",
                                  "AIML_MOCK_CONTENT_POLICY_TERMS": "", "AIML_MOCK_ADMIN": "false"})
    assert settings.fault_kinds == ("503", "drop") and settings.fault_rate == 0.25
    assert settings.content_policy_terms == () and settings.admin is False


@pytest.mark.parametrize("flags", [["--latency", "soon"], ["--fault-kinds", "429,boom"], ["--rate-limit", "lots"],
                                   ["--fault-rate", "2"], ["--fault-rate", "0.5", "--fault-kinds", ""]])
def test_bad_fault_flags_exit_with_a_message(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *flags]) == 2
    assert "aiml-mock:" in capsys.readouterr().err
