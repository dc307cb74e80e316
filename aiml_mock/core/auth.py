"""Bearer authentication: `Authorization: Bearer <key>`, answered with the real API's 401s."""

from __future__ import annotations

import hmac
from collections.abc import Collection

from aiml_mock.core.errors import ApiError

_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
    "accessing the API from your browser and are prompted for a username. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


def redact(key: str, keep: int = 6) -> str:
    """A key as it may be shown or stored: a short prefix and the length, never the whole secret.

    The prefix is at most a third of the key, so short test keys (`sk-test`) do not show nearly all of it.
    """
    keep = min(keep, len(key) // 3) if len(key) > 4 else 0
    if keep == 0:
        return "*" * len(key)
    return f"{key[:keep]}...({len(key)} chars)"


def check_bearer(header: str | None, keys: Collection[str]) -> str:
    """The API key from an Authorization header, or `ApiError(401)`. With no keys configured any key passes."""
    if not header or not header.strip():
        raise ApiError(401, openai_message=_MISSING, type="invalid_request_error")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise ApiError(
            401,
            openai_message=_MISSING.replace("You didn't provide an API key", "The Authorization header is malformed"),
            type="invalid_request_error",
        )
    if keys and not any(hmac.compare_digest(token.encode(), key.encode()) for key in keys):
        shown = f"{token[:3]}{'*' * 10}{token[-4:]}" if len(token) > 8 else "*" * len(token)
        raise ApiError(
            401,
            openai_message=(
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            ),
            code="invalid_api_key",
            type="invalid_request_error",
        )
    return token
