"""Who may change the mock through the admin API: not a web page of another site.

A browser lets any page send a "simple" request (a form post, `text/plain`, no custom headers) to any address,
the mock's included, without asking first. So the admin API's state-changing calls take only JSON bodies (which
a cross-site page cannot send without a CORS preflight, and the admin API answers no preflight), and refuse an
`Origin` that is not the mock's own or one configured with `--admin-origin`. Clients that are not browsers (SDKs,
curl, the pytest plugin) send no `Origin` and are not affected.

The mock's own origin is the one the request names in its `Host` header, trusted only for a loopback name, the
bound address, the `--public-url` host, or when an admin token is required: a page that rebinds its own domain's
DNS to 127.0.0.1 is same-origin with itself, not with the mock.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiml_mock.core.errors import ApiError
from aiml_mock.core.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _normal(origin: str) -> str:
    """`scheme://host[:port]` lower-cased, the scheme's default port left out."""
    parts = urlsplit(origin.strip().lower())
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = str(parts.port) if parts.port is not None and str(parts.port) != _DEFAULT_PORTS.get(parts.scheme) else ""
    return f"{parts.scheme}://{host}{':' + port if port else ''}"


def _trusted_host(host: str, settings: Settings) -> bool:
    if settings.admin_token:
        return True
    public = urlsplit(settings.public_url).hostname if settings.public_url else None
    name = host.lower()
    return name in LOOPBACK_HOSTS or name.startswith("127.") or name in (settings.host.lower(), public)


def origin_refusal(method: str, origin: str | None, host: str | None, scheme: str, settings: Settings
                   ) -> ApiError | None:
    """A 403 for a state-changing admin call sent by a page of another origin; None when it may go ahead."""
    if method in SAFE_METHODS or origin is None:
        return None
    try:
        given = _normal(origin)
        own = _normal(f"{scheme}://{host}") if host else None
        own_host = urlsplit(f"{scheme}://{host}").hostname if host else None
    except ValueError:  # a malformed Origin or Host (a bad port): nothing to match
        given, own, own_host = origin, None, None
    if given in settings.admin_origins or origin.strip().lower() in settings.admin_origins:
        return None
    if own is not None and given == own and own_host is not None and _trusted_host(own_host, settings):
        return None
    shown = origin if len(origin) <= 100 else origin[:97] + "..."
    message = (f"The admin API refuses state changes sent from another web origin ({shown!r}); a page of that "
               "origin would need --admin-origin to be allowed")
    return ApiError(403, message, openai_message=message + ".", type="invalid_request_error")


def content_type_refusal(method: str, content_type: str | None, has_body: bool) -> ApiError | None:
    """A 415 for a state-changing admin call whose body is not JSON (`text/plain`, a form): what a cross-site page
    can send without asking first. A call without a body and without a content type (`curl -X POST`) may go."""
    if method in SAFE_METHODS or (content_type is None and not has_body):
        return None
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return None
    shown = media or "none"
    message = (f"The admin API takes JSON bodies only, not {shown!r}: send Content-Type: application/json "
               "(curl: -H 'Content-Type: application/json')")
    return ApiError(415, message, openai_message=message + ".", type="invalid_request_error")
