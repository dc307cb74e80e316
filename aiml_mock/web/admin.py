"""The admin API under `/__mock/`: fault rules, the request journal, the images, a reset.

    POST   /__mock/faults      {"status": 503, "times": 2}   add a rule (or a list of rules)
    GET    /__mock/faults                                    the rules, the random mode, the latency
    DELETE /__mock/faults[/ID]                               clear the rules (or one)
    PUT    /__mock/latency     {"latency": "250ms"}          the latency every generation gets (null: none)
    GET    /__mock/requests?path=&status=&model=&limit=      the journal, newest first
    DELETE /__mock/requests                                  clear it
    GET    /__mock/images?downloaded=true|false              images generated, and whether each was fetched
    GET    /__mock/export                                    the journal as a zipped cassette (`serve --replay`)
    DELETE /__mock/images
    POST   /__mock/reset                                     all of the above cleared, the random faults restarted
    GET    /__mock/ui                                        the dashboard (aiml_mock/web/dashboard.py)

`--no-admin` leaves these routes out (they answer 404); `--admin-token T` requires `Authorization: Bearer T`.
Admin requests are not journaled. Mistakes get a 4xx in the configured error dialect, naming what is wrong.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from aiml_mock.core.errors import ApiError, StoreUnavailable, unreachable_error
from aiml_mock.core.faults import FaultRule, parse_latency
from aiml_mock.core.journal import cap_text, filter_entries
from aiml_mock.core.settings import Settings
from aiml_mock.core.validation import parse_json
from aiml_mock.web._origin import content_type_refusal, origin_refusal
from aiml_mock.web.dashboard import dashboard_routes
from aiml_mock.web.recording import ADMIN_PREFIX
from aiml_mock.web.responses import error_response, json_response
from aiml_mock.web.state import state_of
from aiml_mock.web.transport import hold

MAX_ADMIN_BODY = 64 * 1024
Handler = Callable[[Request], Awaitable[Response]]


def _bad(message: str) -> ApiError:
    return ApiError(400, message, openai_message=message, type="invalid_request_error")


def _guarded(handler: Handler) -> Handler:
    """The handler behind the admin token (when one is set), with every `ApiError` rendered in the dialect."""

    async def guarded(request: Request) -> Response:
        settings = state_of(request).settings
        token = settings.admin_token
        try:
            refusal = _cross_site_refusal(request, settings)
            if refusal is not None:
                raise refusal
            if token:
                scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                    message = "The admin API requires the admin token: send Authorization: Bearer <admin token>"
                    raise ApiError(401, message, openai_message=message, type="invalid_request_error")
            return await handler(request)
        except ApiError as error:
            return error_response(error, request)
        except StoreUnavailable as error:  # `--state`: the store is away; say so at once
            return error_response(unreachable_error(error), request)

    return guarded


def _cross_site_refusal(request: Request, settings: Settings) -> ApiError | None:
    """403 for a state change sent by another origin's page, 415 for one whose body is not JSON (`_origin`)."""
    headers, method = request.headers, request.method
    refusal = origin_refusal(method, headers.get("origin"), headers.get("host"), request.url.scheme, settings)
    if refusal is None:
        length = headers.get("content-length")
        has_body = (length is not None and length.strip() not in ("", "0")) or "transfer-encoding" in headers
        refusal = content_type_refusal(method, headers.get("content-type"), has_body)
    return refusal


def _query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    params = dict(request.query_params)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise _bad(f"Unknown query parameter(s) {', '.join(map(repr, unknown))}; use {', '.join(allowed)}")
    return params


def _int(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # `int('²')` raises: ASCII digits only
        raise _bad(f"Query parameter {name!r} must be a whole number, not {cap_text(value, 40)!r}")
    return int(value)


async def _body(request: Request) -> Any:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ADMIN_BODY:
            raise ApiError(413, f"Admin request bodies are limited to {MAX_ADMIN_BODY} bytes")
        chunks.append(chunk)
    hold(request.scope)  # the whole body is in: no read timeout while the handler works
    return parse_json(b"".join(chunks))


# -- faults ----------------------------------------------------------------------------------------


def _rule(data: Any, index: int | None = None) -> FaultRule:
    try:
        return FaultRule.from_dict(data)
    except (ValueError, TypeError) as error:
        where = f" (rule {index})" if index is not None else ""
        raise _bad(f"Invalid fault rule{where}: {error}") from None


async def add_faults(request: Request) -> Response:
    data = await _body(request)
    state = state_of(request)
    faults = state.faults
    rules = [_rule(item, index) for index, item in enumerate(data)] if isinstance(data, list) else [_rule(data)]
    added = [faults.add(rule) for rule in rules] if state.shared is None else await state.shared.add_rules(rules)
    if isinstance(data, list):
        return json_response(201, {"rules": [rule.to_dict() for rule in added]})
    return json_response(201, added[0].to_dict())


async def list_faults(request: Request) -> Response:
    state = state_of(request)
    faults = state.faults
    if state.shared is None:
        rules = faults.rules()
    else:  # the rules and the latency set through any replica
        rules = await state.shared.rules()
        await state.shared.refresh_latency(faults)
    return json_response(200, {"rules": [rule.to_dict() for rule in rules], **faults.describe()})


async def clear_faults(request: Request) -> Response:
    shared = state_of(request).shared
    return json_response(200, {"cleared": state_of(request).faults.clear() if shared is None
                               else await shared.clear_rules()})


async def delete_fault(request: Request) -> Response:
    rule_id = request.path_params["rule_id"]
    shared = state_of(request).shared
    if not (state_of(request).faults.remove(rule_id) if shared is None else await shared.remove_rule(rule_id)):
        raise ApiError(404, f"No fault rule with id {rule_id}", openai_message=f"No fault rule with id {rule_id}.")
    return json_response(200, {"cleared": 1})


async def set_latency(request: Request) -> Response:
    data = await _body(request)
    if not isinstance(data, dict) or set(data) != {"latency"}:
        raise _bad('Send {"latency": "250ms"} ("100ms-400ms", "300ms+-50ms", "realistic[:SCALE]", or null for none)')
    try:
        latency = parse_latency(data["latency"])
    except ValueError as error:
        raise _bad(f"Invalid latency: {error}") from None
    state = state_of(request)
    if state.shared is None:
        state.faults.set_latency(latency)
    else:
        await state.shared.set_latency(state.faults, latency)
    return json_response(200, {"latency": str(latency) if latency else None})


# -- the journal and the images --------------------------------------------------------------------


async def list_requests(request: Request) -> Response:
    params = _query(request, ("path", "status", "model", "limit"))
    path, status, model = params.get("path") or None, _int(params, "status"), params.get("model") or None
    limit = _int(params, "limit")
    shared = state_of(request).shared
    extra: dict[str, Any] = {}
    if shared is None:
        entries = state_of(request).journal.entries(path=path, status=status, model=model)
    else:  # every replica's entries; `unrecorded`: requests answered while the store was away
        every, extra["unrecorded"] = await shared.entries()
        entries = filter_entries(every, path=path, status=status, model=model)
    total = len(entries)
    if limit is not None:
        entries = entries[:limit]
    return json_response(200, {"total": total, "requests": [entry.to_dict() for entry in entries], **extra})


async def clear_requests(request: Request) -> Response:
    shared = state_of(request).shared
    if shared is not None:
        return json_response(200, {"cleared": await shared.clear_journal()})
    journal = state_of(request).journal
    count = len(journal)
    journal.clear()
    state_of(request).ledger.clear()  # the spend goes with the requests it was booked for
    return json_response(200, {"cleared": count})


async def usage(request: Request) -> Response:
    """What the answered requests would have cost on the real API: in all, per key, per model, per test."""
    state = state_of(request)
    if state.shared is not None:
        return json_response(200, await state.shared.usage(state.ledger.credits_per_usd, state.ledger.budget_usd))
    return json_response(200, state.ledger.usage())


async def list_images(request: Request) -> Response:
    params = _query(request, ("downloaded",))
    flag = params.get("downloaded")
    if flag is not None and flag.lower() not in ("true", "false"):
        raise _bad(f"Query parameter 'downloaded' must be true or false, not {flag!r}")
    wanted = None if flag is None else flag.lower() == "true"
    shared = state_of(request).shared
    images = state_of(request).images.images(downloaded=wanted) if shared is None else await shared.images(wanted)
    return json_response(200, {"total": len(images), "images": [image.to_dict() for image in images]})


async def clear_images(request: Request) -> Response:
    shared = state_of(request).shared
    if shared is not None:
        return json_response(200, {"cleared": await shared.clear_images()})
    registry = state_of(request).images
    count = len(registry)
    registry.clear()
    return json_response(200, {"cleared": count})


async def export_cassette(request: Request) -> Response:
    """The journal (every replica's with `--state`) as a zipped cassette, for `serve --replay` (export.py)."""
    from aiml_mock.core.export import Renderer, write_archive

    state = state_of(request)
    entries = state.journal.entries() if state.shared is None else (await state.shared.entries())[0]
    renderer = Renderer(state.contract, state.cache, state.settings.seed)
    path, report = await anyio.to_thread.run_sync(write_archive, entries, renderer)
    name = time.strftime("aiml-mock-cassette-%Y%m%d-%H%M%S.zip")
    headers = {"content-disposition": f'attachment; filename="{name}"', "x-mock-exported": str(report.written),
               "x-mock-left-out": str(len(report.left_out)), "cache-control": "no-store"}
    return FileResponse(path, headers=headers, media_type="application/zip",
                        background=BackgroundTask(path.unlink, missing_ok=True))


async def reset(request: Request) -> Response:
    state = state_of(request)
    if state.shared is not None:
        await state.shared.reset()
    state.reset()
    return json_response(200, {"reset": True})


async def index(request: Request) -> Response:
    return json_response(200, {"endpoints": [f"{method} {ADMIN_PREFIX}{path}" for method, path in _ENDPOINTS]})


_ENDPOINTS = (
    ("GET", "/faults"), ("POST", "/faults"), ("DELETE", "/faults"), ("DELETE", "/faults/{id}"), ("PUT", "/latency"),
    ("GET", "/requests"), ("DELETE", "/requests"), ("GET", "/images"), ("DELETE", "/images"), ("POST", "/reset"),
    ("GET", "/usage"), ("GET", "/export"), ("GET", "/ui"),
)


def admin_routes() -> list[Route]:
    """The admin routes, to add to the app unless `--no-admin`."""
    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(ADMIN_PREFIX + path, _guarded(handler), methods=[method])

    return [
        route("", index, "GET"),
        route("/faults", list_faults, "GET"),
        route("/faults", add_faults, "POST"),
        route("/faults", clear_faults, "DELETE"),
        route("/faults/{rule_id:int}", delete_fault, "DELETE"),
        route("/latency", set_latency, "PUT"),
        route("/requests", list_requests, "GET"),
        route("/requests", clear_requests, "DELETE"),
        route("/images", list_images, "GET"),
        route("/images", clear_images, "DELETE"),
        route("/reset", reset, "POST"),
        route("/usage", usage, "GET"),
        route("/export", export_cassette, "GET"),
        *dashboard_routes({"add_faults": add_faults, "clear_faults": clear_faults, "delete_fault": delete_fault,
                           "set_latency": set_latency, "clear_requests": clear_requests,
                           "export_cassette": export_cassette}),
    ]
