"""The dashboard under `/__mock/ui`: the journal, the images and the faults of a running mock, in a browser.

    GET  /__mock/ui                     the live request list (polls `api/requests`), filterable
    GET  /__mock/ui/requests/{id}       one exchange: request, answer, violations, images and their downloads
    GET  /__mock/ui/images              the gallery of the images served
    GET  /__mock/ui/controls            fault rules, latency, clearing and exporting the journal, the spend
    GET  /__mock/ui/export.json         the journal as a JSON download
    GET  /__mock/ui/export.zip          the journal as a zipped cassette (`serve --replay` answers it again)
    GET|POST /__mock/ui/login, POST /__mock/ui/logout   the admin token as an HttpOnly, SameSite=Strict cookie

Pages are Jinja2 templates (autoescaped: every prompt, header and body a client sent is shown as text) and
one small script, served from the package with a Content-Security-Policy that forbids inline script and any
origin but this one. The routes exist only with the admin API (`--no-admin`: 404) and ask for the admin
token when one is set (the cookie, or `Authorization: Bearer`). Writes take JSON bodies and are refused
when a browser says they come from another site. Listing work runs in a worker thread, one page at a time,
so a full journal (10,000 entries) neither reaches the browser whole nor stalls the mock's event loop.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from aiml_mock.core.errors import ApiError, StoreUnavailable, unreachable_error
from aiml_mock.core.journal import Brief, Entry, ImageRecord, image_name
from aiml_mock.core.ledger import TEST_HEADER
from aiml_mock.web.recording import ADMIN_PREFIX
from aiml_mock.web.responses import error_response
from aiml_mock.web.state import MockState, state_of

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

UI_PREFIX = ADMIN_PREFIX + "/ui"
COOKIE = "aiml_mock_ui"
PAGE_SIZE = 50
GALLERY_PAGE = 48
MAX_FORM_BYTES = 4096
_HERE = Path(__file__).parent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP, "x-content-type-options": "nosniff", "referrer-policy": "same-origin",
    "x-frame-options": "DENY", "cache-control": "no-store",
}
Handler = Callable[[Request], Awaitable[Response]]


_state = state_of


@functools.cache
def _templates() -> Jinja2Templates:
    """The templates, loaded on the first page (Jinja2 is not imported by a mock nobody looks at)."""
    import jinja2
    from starlette.templating import Jinja2Templates

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["json"] = lambda value: orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()
    env.filters["datetime"] = lambda value: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    return Jinja2Templates(env=env)


def status_class(status: int) -> str:
    """The CSS class of a status: `s2` for 2xx ... `s5` for 5xx, `s0` for no answer (0) and client gone (499)."""
    return "s0" if status in (0, 499) else f"s{status // 100}"


# -- access ----------------------------------------------------------------------------------------


def cookie_value(token: str) -> str:
    """What the login cookie holds: a digest of the token (the same in every worker process), never the token."""
    return hashlib.sha256(b"aiml-mock-ui\0" + token.encode()).hexdigest()


def authorized(request: Request) -> bool:
    """Whether the request may see the dashboard: no admin token set, its bearer header, or the login cookie."""
    token = _state(request).settings.admin_token
    if not token:
        return True
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    return hmac.compare_digest((request.cookies.get(COOKIE) or "").encode(), cookie_value(token).encode())


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (`Sec-Fetch-Site`, `Origin`).

    Clients that send neither (curl, scripts) are not browsers driven by another site's page.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host") or ""
    return origin in (f"{request.url.scheme}://{host}", f"http://{host}", f"https://{host}")


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")) + UI_PREFIX


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    state = _state(request)
    context = {"root": _root(request), "token_set": bool(state.settings.admin_token),
               "profile": state.settings.profile, "shared": state.shared.shown_url if state.shared else None,
               **context}
    return _secure(_templates().TemplateResponse(request, template, context, status_code=status))


def _json(status: int, payload: Any) -> Response:
    return _secure(Response(orjson.dumps(payload, default=str), status, media_type="application/json"))


def _error(request: Request, error: ApiError) -> Response:
    return _secure(error_response(error, request))


def _bad(message: str, status: int = 400) -> ApiError:
    return ApiError(status, message, openai_message=message, type="invalid_request_error")


def page(handler: Handler) -> Handler:
    """A page: the login form first when the admin token is set and not given."""

    async def guarded(request: Request) -> Response:
        if not authorized(request):
            return RedirectResponse(f"{_root(request)}/login?next={quote(request.url.path)}", 303)
        try:
            return await handler(request)
        except ApiError as error:
            return _page(request, "error.html", {"status": error.status, "message": error.message}, error.status)
        except StoreUnavailable as error:  # `--state`: the store is away; said at once, as the admin API says it
            message = unreachable_error(error).message
            return _page(request, "error.html", {"status": 503, "message": message}, 503)

    return guarded


def api(handler: Handler, *, write: bool = False) -> Handler:
    """A JSON endpoint: 401 without the token; writes only same-origin, with a JSON body (a cross-site form
    cannot send one, and a cross-site script must ask first, which the origin check then refuses)."""

    async def guarded(request: Request) -> Response:
        try:
            if not authorized(request):
                raise _bad("The dashboard requires the admin token: log in, or send Authorization: Bearer <token>",
                           401)
            if write:
                if not same_origin(request):
                    raise _bad("Cross-site requests cannot change the mock", 403)
                if (request.headers.get("content-type") or "").split(";")[0].strip() != "application/json":
                    raise _bad("Dashboard writes take a JSON body (Content-Type: application/json)", 415)
            return _secure(await handler(request))
        except ApiError as error:
            return _error(request, error)
        except StoreUnavailable as error:  # `--state`: the store is away; said at once, as the admin API says it
            return _error(request, unreachable_error(error))

    return guarded


async def _body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _bad(f"Request bodies are limited to {limit} bytes here", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _next(target: str | None, root: str) -> str:
    """Where to go after logging in: a dashboard path only (no open redirect)."""
    if target and target.startswith(root) and "//" not in target and "\\" not in target:
        return target
    return root


async def login_form(request: Request) -> Response:
    return _page(request, "login.html", {"next": _next(request.query_params.get("next"), _root(request)),
                                         "failed": False})


async def login(request: Request) -> Response:
    """The login form's post: the token checked, then the cookie set (HttpOnly, SameSite=Strict)."""
    root = _root(request)
    if not same_origin(request):
        return _page(request, "error.html", {"status": 403, "message": "Cross-site logins are refused"}, 403)
    try:
        form = parse_qs((await _body(request, MAX_FORM_BYTES)).decode("utf-8", "replace"))
    except ApiError as error:
        return _page(request, "error.html", {"status": error.status, "message": error.message}, error.status)
    target = _next((form.get("next") or [""])[0], root)
    token = _state(request).settings.admin_token
    given = (form.get("token") or [""])[0]
    if not token:
        return RedirectResponse(target, 303)
    if not hmac.compare_digest(given.encode(), token.encode()):
        return _page(request, "login.html", {"next": target, "failed": True}, 401)
    response = RedirectResponse(target, 303)
    response.set_cookie(COOKIE, cookie_value(token), path=root, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return _secure(response)


async def logout(request: Request) -> Response:
    root = _root(request)
    if not same_origin(request):
        return _page(request, "error.html", {"status": 403, "message": "Cross-site requests are refused"}, 403)
    response = RedirectResponse(f"{root}/login", 303)
    response.delete_cookie(COOKIE, path=root, httponly=True, samesite="strict")
    return _secure(response)


# -- the request list ------------------------------------------------------------------------------

LIST_FILTERS = ("model", "status", "key", "verdict", "test", "path")


def test_of(entry: Entry) -> str | None:
    """The test that sent the request, when its client named it in the `X-Mock-Test` header."""
    return entry.headers.get(TEST_HEADER)


def cost_of(entry: Entry) -> str | None:
    """What the request would have cost on the real API (the ledger's price), or None when it was not billed."""
    cost = entry.cost
    if cost is None:
        return None
    return f"${cost.usd:.4f}" if cost.usd >= 0.0001 or not cost.usd else f"${cost.usd:.2g}"


def row(entry: Entry) -> dict[str, Any]:
    """One line of the request list."""
    return {
        "id": entry.id, "time": entry.time, "method": entry.method, "path": entry.path, "model": entry.model,
        "status": entry.status, "ms": round(entry.duration_ms, 1), "fault": entry.fault, "valid": entry.valid,
        "violations": len(entry.violations), "cost": cost_of(entry), "key": entry.key, "test": test_of(entry),
        "prompt": _prompt(entry),
    }


def _prompt(entry: Entry) -> str | None:
    prompt = entry.json.get("prompt") if isinstance(entry.json, dict) else None
    return prompt[:200] if isinstance(prompt, str) else None


def _status_matches(wanted: str, status: int) -> bool:
    wanted = wanted.strip().lower()
    if wanted in ("error", "errors"):
        return status >= 400 or status == 0
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0].isdigit():
        return status // 100 == int(wanted[0])
    return wanted == str(status)


def matches(entry: Entry | Brief, filters: Mapping[str, str]) -> bool:
    """Whether an entry (or its brief) passes the list's filters (model exact; key, test and path substrings)."""
    model, status, key = filters.get("model"), filters.get("status"), filters.get("key")
    verdict, test, path = filters.get("verdict"), filters.get("test"), filters.get("path")
    return (
        (not model or entry.model == model)
        and (not status or _status_matches(status, entry.status))
        and (not key or key in (entry.key or ""))
        and (not verdict or (verdict == "valid") == entry.valid)
        and (not path or path in entry.path)
        and (not test or test in ((entry.test if isinstance(entry, Brief) else test_of(entry)) or ""))
    )


async def journal_version(state: MockState) -> str:
    """Changes whenever the journal does (a new entry, a clear): the list's poll is cheap when it has not.
    With `--state`, every replica's journal (one pipelined read)."""
    if state.shared is not None:
        newest, length = await state.shared.journal_head()
        return f"{newest}-{length}"
    return f"{state.journal.newest_id()}-{len(state.journal)}"


CHUNK = 500  # entries read at a time by a filtered scan
COUNT_AHEAD = 1000  # entries examined past a full page to count its matches; beyond, the count is "at least"


class PageScan:
    """One filtered page of the shared journal, fed newest first a slice at a time until the page is full and
    `COUNT_AHEAD` more entries have been counted (or the journal ends): a filtered poll of a full journal
    builds what one page needs, not a list of every match. (In process, `Journal.select` does the same over
    entries' briefs.)"""

    def __init__(self, filters: Mapping[str, str], offset: int, limit: int) -> None:
        self.filters, self.offset, self.limit = filters, offset, limit
        self.matching = 0
        self.shown: list[Entry] = []
        self.ahead = 0  # entries examined since the page filled
        self.last_id: int | None = None  # ids only fall, newest first: one seen again (the journal moved) is skipped
        self.complete = False  # the journal's end was reached: `matching` is exact

    def feed(self, entries: Iterable[Entry]) -> bool:
        """Examine entries (newest first); True once the scan may stop."""
        end = self.offset + self.limit
        for entry in entries:
            if self.last_id is not None and entry.id >= self.last_id:
                continue
            self.last_id = entry.id
            if self.matching >= end:
                self.ahead += 1
                if self.ahead > COUNT_AHEAD:
                    return True
            if matches(entry, self.filters):
                if self.offset <= self.matching < end:
                    self.shown.append(entry)
                self.matching += 1
        return False


def needles(filters: Mapping[str, str]) -> list[bytes]:
    """Bytes a stored entry's JSON (`Entry.to_dict`, compact) must contain to pass the filters: the shared
    store's scan skips the others without parsing them."""
    found = []
    if filters.get("model"):
        found.append(b'"model":' + orjson.dumps(filters["model"]))
    for name in ("key", "test", "path"):
        if filters.get(name):
            found.append(orjson.dumps(filters[name])[1:-1])
    if filters.get("verdict"):
        found.append(b'"valid":' + (b"true" if filters["verdict"] == "valid" else b"false"))
    status = (filters.get("status") or "").strip()
    if status.isascii() and status.isdigit():
        found.append(b'"status":' + status.encode())
    return found


def _page_of(scan: PageScan, state: MockState, version: str, total: int) -> dict[str, Any]:
    return {
        "version": version, "total": total, "matching": scan.matching, "complete": scan.complete,
        "offset": scan.offset, "limit": scan.limit, "rows": [row(entry) for entry in scan.shown],
        "models": list(state.contract.models),
    }


def list_page(state: MockState, filters: Mapping[str, str], offset: int, limit: int, version: str = ""
              ) -> dict[str, Any]:
    """One page of the filtered (in-process) journal, newest first, with the counts and the models seen."""
    journal = state.journal
    total = len(journal)
    scan = PageScan(filters, offset, limit)
    if not any(filters.values()):  # the common view: only the page's entries are built
        scan.shown, scan.matching, scan.complete = journal.newest(offset, limit), total, True
        return _page_of(scan, state, version, total)
    scan.shown, scan.matching, scan.complete = journal.select(lambda brief: matches(brief, filters), offset, limit,
                                                              COUNT_AHEAD)
    return _page_of(scan, state, version, total)


async def shared_page(state: MockState, filters: Mapping[str, str], offset: int, limit: int, version: str
                      ) -> dict[str, Any]:
    """`list_page` over every replica's journal (`--state`), read from the store a slice at a time."""
    assert state.shared is not None
    total = (await state.shared.journal_stats())["entries"]
    scan = PageScan(filters, offset, limit)
    if not any(filters.values()):
        scan.shown, _ = await state.shared.journal_slice(offset, limit)
        scan.matching, scan.complete = total, True
        return _page_of(scan, state, version, total)
    wanted, position = needles(filters), 0
    while True:
        chunk, read = await state.shared.journal_slice(position, CHUNK, wanted)
        if scan.feed(chunk):
            break
        if read < CHUNK:
            scan.complete = True
            break
        position += CHUNK
    return _page_of(scan, state, version, total)


def _whole(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    value = params.get(name) or ""
    if not value:
        return default
    if not value.isdigit():
        raise _bad(f"Query parameter {name!r} must be a whole number, not {value!r}")
    return min(int(value), high)


async def requests_page(request: Request) -> Response:
    return _page(request, "requests.html", {"page": "requests", "filters": LIST_FILTERS})


async def requests_api(request: Request) -> Response:
    params = dict(request.query_params)
    unknown = sorted(set(params) - {*LIST_FILTERS, "offset", "limit", "since"})
    if unknown:
        raise _bad(f"Unknown query parameter(s) {', '.join(map(repr, unknown))}")
    verdict = params.get("verdict") or ""
    if verdict not in ("", "valid", "invalid"):
        raise _bad(f"verdict must be valid or invalid, not {verdict!r}")
    state = _state(request)
    since = params.get("since")
    version = await journal_version(state)
    if since and since == version:
        return _json(200, {"version": since, "unchanged": True})
    offset = _whole(params, "offset", 0, 10**9)
    limit = max(1, _whole(params, "limit", PAGE_SIZE, 200))
    filters = {name: params.get(name, "") for name in LIST_FILTERS}
    if state.shared is not None:
        return _json(200, await shared_page(state, filters, offset, limit, version))
    return _json(200, await anyio.to_thread.run_sync(list_page, state, filters, offset, limit, version))


# -- one request -----------------------------------------------------------------------------------


def pointer(path: str) -> str:
    """A violation's JSONPath (`$.image_size.width`, `$.items[0]`) as a JSON pointer (`/image_size/width`)."""
    text = path.removeprefix("$")
    parts: list[str] = []
    for piece in text.replace("[", ".[").split("."):
        if not piece:
            continue
        if piece.startswith("[") and piece.endswith("]"):
            piece = piece[1:-1].strip("'\"")
        parts.append(piece.replace("~", "~0").replace("/", "~1"))
    return "".join(f"/{part}" for part in parts)


def image_path(url: str | None) -> str | None:
    """The dashboard's own path for an image URL the mock gave out (never another host's URL)."""
    if not url:
        return None
    name = image_name(url)
    return name if name.startswith("img-") and urlsplit(url).path.startswith("/images/") else None


def image_view(record: ImageRecord, now: float) -> dict[str, Any]:
    """An image and its fate: downloaded (before it expired: a download after is refused), pending, expired."""
    if record.response_format == "b64_json":
        fate, label = "inline", "sent inline as b64_json"
    elif record.downloads:
        fate = "downloaded"
        label = f"downloaded {record.downloads}x before it expired"
    elif record.expires is not None and record.expires <= now:
        fate, label = "expired", "expired without being downloaded"
    else:
        left = int((record.expires or now) - now)
        fate, label = "pending", f"not downloaded yet (expires in {left // 60} min {left % 60} s)"
    return {"record": record, "name": image_path(record.url), "fate": fate, "label": label}


def stream_of(entry: Entry) -> dict[str, Any] | None:
    """A streamed answer's record in the journal (its events in order, bytes, how it ended), or None."""
    record = entry.response.get("stream") if isinstance(entry.response, dict) else None
    if not isinstance(record, dict):
        return None
    events = record.get("events")
    return {"events": [str(event) for event in events] if isinstance(events, list) else [],
            "bytes": record.get("bytes", 0), "completed": bool(record.get("completed")),
            "client_read_to_end": bool(record.get("client_read_to_end")), "fault": record.get("fault")}


async def request_page(request: Request) -> Response:
    state = _state(request)
    entry_id: int = request.path_params["entry_id"]
    if state.shared is not None:  # every replica's journal and images
        entry = await state.shared.find_entry(entry_id)
        records = await state.shared.entry_images(entry_id) if entry is not None else []
    else:
        entry = await anyio.to_thread.run_sync(state.journal.find, entry_id)
        records = state.images.images(request=entry_id)
    if entry is None:
        raise ApiError(404, f"No request {entry_id} in the journal (it may have been cleared or evicted)")
    now = time.time()
    images = [image_view(record, now) for record in records]
    violations = [{"pointer": pointer(v.path), "path": v.path, "rule": v.rule, "message": v.message,
                   "value": v.value} for v in entry.violations]
    context = {"page": "requests", "entry": entry, "stream": stream_of(entry), "headers": sorted(entry.headers.items()),
               "violations": violations, "images": images, "cost": cost_of(entry), "test": test_of(entry),
               "status_class": status_class(entry.status)}
    return _page(request, "request.html", context)


# -- images ----------------------------------------------------------------------------------------


async def gallery_page(request: Request) -> Response:
    state = _state(request)
    flag = request.query_params.get("downloaded") or ""
    if flag not in ("", "true", "false"):
        raise _bad(f"downloaded must be true or false, not {flag!r}")
    wanted = None if not flag else flag == "true"
    records = state.images.images(downloaded=wanted) if state.shared is None else await state.shared.images(wanted)
    count = len(records)
    pages = max(1, -(-count // GALLERY_PAGE))
    number = min(max(1, _whole(dict(request.query_params), "page", 1, 10**6)), pages)
    now = time.time()
    shown = [image_view(record, now) for record in records[(number - 1) * GALLERY_PAGE:number * GALLERY_PAGE]]
    return _page(request, "gallery.html", {"page": "images", "images": shown, "count": count, "number": number,
                                           "pages": pages, "downloaded": flag})


async def image_file(request: Request) -> Response:
    """An image's bytes for the dashboard: not counted as the client's download, shown even once expired."""
    from aiml_mock.core.generation import CONTENT_TYPES, image_bytes
    from aiml_mock.core.urls import spec_from_name

    state = _state(request)
    spec = spec_from_name(request.path_params["name"])
    content = await anyio.to_thread.run_sync(image_bytes, spec, state.cache)
    headers = {**SECURITY_HEADERS, "cache-control": "private, max-age=3600"}
    return Response(content, 200, headers, CONTENT_TYPES[spec.fmt])


# -- controls --------------------------------------------------------------------------------------


async def controls_page(request: Request) -> Response:
    return _page(request, "controls.html", {"page": "controls"})


async def state_api(request: Request) -> Response:
    """What the controls show: the rules, the latency and random mode, the journal's fill, the spend. With
    `--state`, the rules, journal, images and ledger every replica shares (as the admin API reads them)."""
    state = _state(request)
    faults, journal, shared = state.faults, state.journal, state.shared
    if shared is None:
        rules, usage = faults.rules(), state.ledger.usage()
        stats, images = {"entries": len(journal), "bytes": journal.nbytes}, len(state.images)
    else:
        rules = await shared.rules()
        await shared.refresh_latency(faults)  # the latency set through any replica
        usage = await shared.usage(state.ledger.credits_per_usd, state.ledger.budget_usd)
        stats, images = await shared.journal_stats(), len(await shared.images())
    return _json(200, {
        "rules": [rule.to_dict() for rule in rules], **faults.describe(),
        "journal": {"entries": stats["entries"], "capacity": journal.capacity, "bytes": stats["bytes"],
                    "max_bytes": journal.max_bytes},
        "images": images, "usage": usage, "spend_usd": usage["total"]["usd"],
        "shared": shared.shown_url if shared is not None else None,
    })


async def journal_entries(state: MockState) -> list[Entry]:
    """The whole journal, newest first: every replica's with `--state`."""
    if state.shared is not None:
        return (await state.shared.entries())[0]
    return await anyio.to_thread.run_sync(lambda: state.journal.entries())


def _export(entries: list[Entry]) -> bytes:
    return orjson.dumps({"exported": time.time(), "total": len(entries),
                         "requests": [entry.to_dict() for entry in entries]}, default=str)


async def export(request: Request) -> Response:
    """The whole journal, newest first, as `GET /__mock/requests` gives it, to save as a file."""
    body = await anyio.to_thread.run_sync(_export, await journal_entries(_state(request)))
    name = time.strftime("aiml-mock-journal-%Y%m%d-%H%M%S.json")
    return _secure(Response(body, 200, {"content-disposition": f'attachment; filename="{name}"'},
                            "application/json"))


STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}


async def static_file(request: Request) -> Response:
    """The dashboard's stylesheet and script (public: the login page needs them too)."""
    name: str = request.path_params["name"]
    path = _HERE / "static" / name
    kind = STATIC_TYPES.get(path.suffix)
    if kind is None or "/" in name or name.startswith(".") or not path.is_file():
        return _json(404, {"error": f"No dashboard file {name!r}"})
    headers = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}
    return FileResponse(path, headers=headers, media_type=kind)


def dashboard_routes(admin: Mapping[str, Handler]) -> list[Route]:
    """The dashboard's routes, served with the admin API (so `--no-admin` leaves them out too). Its controls are
    the admin API's own handlers (`admin`, by name: the admin module includes these routes) behind the
    dashboard's guard: a rule, the latency, a clear or an export acts exactly as through `/__mock/...`, on the
    shared store with `--state`."""

    def at(path: str, handler: Handler, *methods: str) -> Route:
        return Route(UI_PREFIX + path, handler, methods=list(methods))

    return [
        at("", page(requests_page), "GET"),
        at("/requests/{entry_id:int}", page(request_page), "GET"),
        at("/images", page(gallery_page), "GET"),
        at("/image/{name:str}", page(image_file), "GET"),
        at("/controls", page(controls_page), "GET"),
        at("/export.json", page(export), "GET"),
        at("/export.zip", page(admin["export_cassette"]), "GET"),
        at("/login", login_form, "GET"),
        at("/login", login, "POST"),
        at("/logout", logout, "POST"),
        at("/api/requests", api(requests_api), "GET"),
        at("/api/state", api(state_api), "GET"),
        at("/api/faults", api(admin["add_faults"], write=True), "POST"),
        at("/api/faults", api(admin["clear_faults"], write=True), "DELETE"),
        at("/api/faults/{rule_id:int}", api(admin["delete_fault"], write=True), "DELETE"),
        at("/api/latency", api(admin["set_latency"], write=True), "PUT"),
        at("/api/requests", api(admin["clear_requests"], write=True), "DELETE"),
        at("/static/{name:str}", static_file, "GET"),
    ]
