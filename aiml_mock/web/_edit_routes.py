"""The HTTP side of `/v1/images/edits` and `/v1/images/variations`: the upload read as it streams in
(`uploads.read_form`), checked and drawn by `edits`, answered as JSON or as a stream; thin over the pure core."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from aiml_mock.core.auth import check_bearer
from aiml_mock.core.edits import EDIT, VARIATION, caption, check_fields, check_uploads, output_size, render, rules_for
from aiml_mock.core.errors import ApiError, StoreUnavailable, out_of_credits_error, unreachable_error
from aiml_mock.core.faults import FAULT_HEADER, LATENCY_HEADER
from aiml_mock.core.forms import Form
from aiml_mock.core.generation import CONTENT_TYPES, openai_usage, plan_for, planned_body, resolved_settings
from aiml_mock.core.ledger import TEST_HEADER
from aiml_mock.core.pricing import Cost
from aiml_mock.core.streaming import StreamPlan
from aiml_mock.core.validation import ImageRequest
from aiml_mock.web._route_steps import (
    answer_fault,
    keep_images,
    pick_fault,
    shared_admit,
    shared_charge,
    shared_fault,
    strikes_mid_stream,
)
from aiml_mock.web.recording import exchange_of
from aiml_mock.web.responses import (
    JSONAnswer,
    Truncated,
    Unanswered,
    error_response,
    event_stream,
    malformed,
    new_request_id,
)
from aiml_mock.web.state import MockState, state_of
from aiml_mock.web.uploads import read_form

if TYPE_CHECKING:
    from aiml_mock.web.redis_state import RedisState

EDIT_PREFIX = "upload-"  # names of images drawn from uploads, kept in memory (`RENDERED_MAX` of them)
RENDERED_MAX = 64
IMAGE_TOKENS_PER_INPUT = 323  # the mock's flat estimate of one input image's tokens (OpenAI bills them)
_rendered: OrderedDict[str, tuple[bytes, str]] = OrderedDict()


async def rendered_image(state: MockState, name: str) -> tuple[bytes, str] | None:
    """An image drawn from an upload (a `url` answer), by its file name: kept here, or with `--state` by another
    replica (503 naming the store while it is away)."""
    found = _rendered.get(name)
    if found is not None or state.shared is None:
        return found
    try:
        content = await state.shared.rendered(name)
    except StoreUnavailable as error:
        raise unreachable_error(error) from None
    return None if content is None else (content, CONTENT_TYPES[name.rpartition(".")[2]])


def _keep(content: bytes, fmt: str) -> str:
    name = f"{EDIT_PREFIX}{hashlib.blake2b(content, digest_size=12).hexdigest()}.{fmt}"
    _rendered[name] = (content, CONTENT_TYPES[fmt])
    _rendered.move_to_end(name)
    while len(_rendered) > RENDERED_MAX:
        _rendered.popitem(last=False)
    return name


def _file_limit(state: MockState, operation: str, form: Form, name: str) -> int:
    """Bytes a file part may have: the model's limit once the `model` field is in, else the largest any model has."""
    try:
        rules = rules_for(state.contract, operation, form)
    except ApiError:
        return 50 * 1024 * 1024 + 1
    limit = rules.mask if name == "mask" and rules.mask else rules.uploads
    return int(limit["max_bytes"]) + 1


async def create_edit(request: Request) -> Response:
    return await _answer(request, EDIT)


async def create_variation(request: Request) -> Response:
    return await _answer(request, VARIATION)


async def _answer(request: Request, operation: str) -> Response:
    started = time.perf_counter()
    request_id = new_request_id()
    state = state_of(request)
    exchange = exchange_of(request.scope)
    form: Form | None = None
    limits: dict[str, str] | None = None
    try:
        key = exchange.key = check_bearer(request.headers.get("authorization"), state.settings.api_keys)
        shared = state.shared
        if state.limiter is not None:
            limits = state.limiter.admit(key) if shared is None else await shared_admit(shared, state.limiter, key)
        total = 17 * 50 * 1024 * 1024
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > total:
            raise ApiError(413, f"Request body is too large: {declared} bytes, at most {total} are accepted")
        try:
            form = await read_form(request.receive, request.headers.get("content-type"),
                                   functools.partial(_file_limit, state, operation), total)
        except ClientDisconnect:
            return Unanswered()
        rules = rules_for(state.contract, operation, form)
        exchange.model = rules.model
        params = check_fields(rules, form, strict=state.settings.strict)
        images, mask = check_uploads(rules, form)
        width, height = output_size(params, images[0].image)
        fmt = str(params.get("output_format", "png"))
        delivery = rules.delivery or str(params.get("response_format", "url"))
        prompt = str(params.get("prompt", ""))
        image_request = ImageRequest(rules.model, prompt, int(params.get("n", 1)), width, height, fmt, delivery,
                                     params)
        exchange.note_request(image_request)
        if operation == EDIT and prompt:
            state.policy.check(prompt)
        streamed = params.get("stream") is True and rules.streams is not None
        fault = None
        if state.faults.active or state.settings.fault_headers:
            fault_header, latency_header = request.headers.get(FAULT_HEADER), request.headers.get(LATENCY_HEADER)
            fault = (pick_fault(state, exchange, image_request, key, fault_header, latency_header) if shared is None
                     else await shared_fault(state, shared, exchange, image_request, key, fault_header, latency_header))
            if fault is not None and not (streamed and strikes_mid_stream(fault)):
                early = await answer_fault(request, fault, state, request_id, started)
                if early is not None:
                    return early
        cost = state.prices.cost(rules.model, params, image_request.count, prompt)
        test = request.headers.get(TEST_HEADER)
        if not (state.ledger.charge(key, rules.model, cost, test) if shared is None
                else await shared_charge(state, shared, key, rules.model, cost, test)):
            raise out_of_credits_error(state.contract.error_style)
        exchange.cost = cost
        label = "edit" if operation == EDIT else "variation"
        draw = functools.partial(render, images[0].image, mask.image if mask else None, (width, height), fmt,
                                 transparent=params.get("background") == "transparent")

        def drawn(index: int) -> bytes:
            return draw(caption(f"{label} {index + 1}/{image_request.count}", rules.model, prompt))

        now = time.time()
        usage = openai_usage(cost)
        usage["input_tokens_details"]["image_tokens"] = IMAGE_TOKENS_PER_INPUT * len(images)
        usage["input_tokens"] += IMAGE_TOKENS_PER_INPUT * len(images)
        usage["total_tokens"] += IMAGE_TOKENS_PER_INPUT * len(images)
        if streamed:  # each image drawn when its first frame is due
            assert rules.streams is not None
            events = StreamPlan(rules.streams, image_request.count, int(params.get("partial_images", 0)), drawn,
                                fmt=fmt, settings=resolved_settings(image_request), created=int(now), usage=usage)
            return event_stream(events, fault, state, request_id, started, limits)
        contents = await anyio.to_thread.run_sync(lambda: [drawn(index) for index in range(image_request.count)])
        names = [_keep(content, fmt) for content in contents] if delivery != "b64_json" else []
        if names and shared is not None:
            await share_rendered(shared, names, contents, state.signer.ttl)
        body = _body(rules.delivery is not None, image_request, contents, names, now, usage, state, request, cost)
    except ApiError as error:
        exchange.note_error(error, form.fields if form is not None else None, state.contract)
        if limits:
            error.headers.update(limits)
        return error_response(error, request, request_id, started)
    finally:
        if form is not None:
            form.close()
    exchange.note_payload(body, image_request, cost)
    if isinstance(body.get("data"), list):
        keep_images(state, exchange, image_request, body["data"], now)
    response = JSONAnswer(orjson.dumps(body), rules.success_status, request_id, started, limits)
    if fault is not None and fault.kind in ("truncate", "malformed"):
        return Truncated(response) if fault.kind == "truncate" else malformed(response)
    return response


async def share_rendered(shared: RedisState, names: list[str], contents: list[bytes], ttl: float) -> None:
    """With `--state`: the images drawn from an upload in the store too, so that any replica serves their URLs
    (this replica keeps them either way; while the store is away only this one can)."""
    with contextlib.suppress(StoreUnavailable):
        await shared.keep_rendered(dict(zip(names, contents, strict=True)), ttl, RENDERED_MAX)


def _body(gpt: bool, request: ImageRequest, contents: list[bytes], names: list[str], now: float,
          usage: dict[str, Any], state: MockState, http: Request, cost: Cost) -> dict[str, Any]:
    """OpenAI's ImagesResponse (a GPT model's: b64_json, the resolved settings, usage; or dall-e-2's), or on the
    AI/ML API the body its generations answer for the model (`meta.usage` and all, by its response schema).
    `names`: the kept images' file names, for a `url` answer."""
    if request.response_format == "b64_json":
        delivered = [base64.b64encode(content).decode("ascii") for content in contents]
    else:
        base = state.settings.public_url.rstrip("/") if state.settings.public_url else str(http.base_url).rstrip("/")
        delivered = [f"{base}/images/{name}?{state.signer.query(name, now)}" for name in names]
    if state.contract.profile == "aimlapi":
        body = planned_body(plan_for(state.contract, request.model), request, delivered, names or [
            f"{EDIT_PREFIX}{index}" for index in range(len(contents))], None, seed=state.settings.seed, now=now,
            cost=cost)
        if "usage" in body:
            body["usage"] = usage  # with the input images' tokens
        return body
    key = "b64_json" if request.response_format == "b64_json" else "url"
    out: dict[str, Any] = {"created": int(now), "data": [{key: value} for value in delivered]}
    if gpt:
        out.update(resolved_settings(request))
        out["usage"] = usage
    return out
