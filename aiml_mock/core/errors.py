"""Every error the mock answers: one exception type that carries data, one builder per error dialect.

The AI/ML API answers `{"message", "path", "requestId", "statusCode", "timestamp"}`; OpenAI answers
`{"error": {"message", "type", "param", "code"}}`. An `ApiError` holds both wordings where they differ, and
`error_body()` renders the one the server is configured for. Validation messages always name the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiml_mock.core.contract import ErrorStyle, Violation

AIML_MESSAGES: Mapping[int, str] = {
    400: "Bad request",
    401: (
        "This request requires a valid API key. "
        "You can create a new API key on the Billing page: https://aimlapi.com/app/keys"
    ),
    403: "You've run out of credits. Please top up your balance to continue: https://aimlapi.com/app/billing",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body is too large",
    415: "Unsupported media type",
    429: "Too Many Requests",
    431: "Request header fields too large",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service unavailable",
    504: "Generation timeout",
}

OPENAI_DEFAULTS: Mapping[int, tuple[str, str, str | None]] = {
    # status: (message, type, code)
    400: ("Bad request.", "invalid_request_error", None),
    401: (
        "You didn't provide an API key. You need to provide your API key in an Authorization header using "
        "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) "
        "if you're accessing the API from your browser and are prompted for a username. You can obtain an "
        "API key from https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        None,
    ),
    403: ("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota",
          "insufficient_quota"),
    404: ("Not found.", "invalid_request_error", None),
    405: ("Method not allowed.", "invalid_request_error", None),
    413: ("Request body is too large.", "invalid_request_error", None),
    415: ("Unsupported content type.", "invalid_request_error", None),
    431: ("Request header fields too large.", "invalid_request_error", None),
    429: ("Rate limit exceeded for images per minute. Please try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
    504: ("Generation timed out.", "server_error", None),
}

CONTENT_POLICY_MESSAGE = (
    "Your request was rejected as a result of our safety system. Your prompt may contain text that is not "
    "allowed by our safety system."
)


@dataclass(slots=True)
class ApiError(Exception):
    """An error answer: status, the AI/ML API wording, and OpenAI's wording/type/code where they differ."""

    status: int
    message: str = ""
    param: str | None = None
    code: str | None = None
    type: str | None = None
    openai_message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.message:
            self.message = AIML_MESSAGES.get(self.status, f"HTTP {self.status}")

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"

    def openai_fields(self) -> tuple[str, str, str | None]:
        default_message, default_type, default_code = OPENAI_DEFAULTS.get(
            self.status, (self.message, "invalid_request_error" if self.status < 500 else "server_error", None)
        )
        if self.openai_message:
            message = self.openai_message
        elif self.message != AIML_MESSAGES.get(self.status):
            message = self.message
        else:
            message = default_message
        return message, self.type or default_type, self.code if self.code is not None else default_code


def error_body(error: ApiError, style: ErrorStyle, request_id: str, path: str) -> dict[str, Any]:
    """The JSON body of an error in the configured dialect."""
    if style == "openai":
        message, kind, code = error.openai_fields()
        return {"error": {"message": message, "type": kind, "param": error.param, "code": code}}
    return {
        "message": error.message,
        "path": path,
        "requestId": request_id,
        "statusCode": error.status,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


# -- validation errors -------------------------------------------------------------------------------


def _quote(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _short(value: Any, limit: int = 80) -> str:
    text = _quote(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def zod_text(violation: Violation) -> str:
    """One violation in the provider's (zod) wording, ending with the field it is about."""
    where = violation.path.removeprefix("$").lstrip(".") or "body"
    rule, value, expected = violation.rule, violation.value, violation.expected
    if rule == "enum" and isinstance(expected, list):
        options = " | ".join(_quote(option) for option in expected if option is not None)
        text = f"Invalid enum value. Expected {options}, received {_short(value)}"
    elif rule == "const":
        text = f"Invalid literal value, expected {_quote(expected)}, received {_short(value)}"
    elif rule == "type" and violation.path == "$":
        text = f"The request body must be a JSON object, received {_type_name(value)}"
    elif rule == "type":
        text = f"Expected {'integer' if expected == 'integer' else expected}, received {_type_name(value)}"
    elif rule == "required":
        text = "Required"
    elif rule == "maxLength":
        text = f"String must contain at most {expected} character(s) (received {len(value)})"
    elif rule == "minLength":
        text = f"String must contain at least {expected} character(s)"
    elif rule == "maximum":
        text = f"Number must be less than or equal to {expected}, received {_short(value)}"
    elif rule == "minimum":
        text = f"Number must be greater than or equal to {expected}, received {_short(value)}"
    elif rule == "exclusiveMinimum":
        text = f"Number must be greater than {expected}, received {_short(value)}"
    elif rule == "exclusiveMaximum":
        text = f"Number must be less than {expected}, received {_short(value)}"
    elif rule == "maxItems":
        text = f"Array must contain at most {expected} element(s)"
    elif rule == "minItems":
        text = f"Array must contain at least {expected} element(s)"
    elif rule == "pattern":
        text = f"Invalid, {violation.message}; received {_short(value)}"
    elif rule == "format":
        text = f"Invalid {expected}, received {_short(value)}"
    elif rule == "additionalProperties":
        text = "Unrecognized key in object"
    else:
        text = violation.message
    return f'{text} at "{where}"'


def _openai_text(violation: Violation, model: str | None) -> tuple[str, str | None]:
    """OpenAI's wording and code for a violation, as its API answers them."""
    name = violation.field or "body"
    rule, value, expected = violation.rule, violation.value, violation.expected
    if name == "n" and model == "dall-e-3" and rule in ("enum", "maximum", "minimum"):
        return "You must provide n=1 for this model.", None
    if name == "size" and rule == "enum":
        return f"The size is not supported by this model. Received {_short(value)} for 'size'.", "invalid_size"
    if name == "size" and rule in ("pattern", "x-mock-size-rule"):
        return f"Invalid size {_short(value)}: {violation.message}.", "invalid_size"
    if name == "prompt" and rule == "maxLength":
        return (
            f"Prompt must be length {expected} or less. Your prompt length is {len(value)}. "
            "Please reduce your prompt length.",
            None,
        )
    if rule == "required":
        return f"Missing required parameter: '{violation.path.removeprefix('$.')}'.", "missing_required_parameter"
    if rule == "additionalProperties":
        return f"Unrecognized request argument supplied: {name}", "unknown_parameter"
    if rule == "type":
        return f"Invalid type for '{name}': expected {expected}, but got {_type_name(value)} instead.", "invalid_type"
    if rule == "enum" and isinstance(expected, list):
        options = ", ".join(_quote(option) for option in expected if option is not None)
        return f"Invalid value: {_short(value)}. Supported values are: {options} (for '{name}').", "invalid_value"
    if rule in ("maximum", "exclusiveMaximum"):
        return f"Invalid '{name}': expected a value <= {expected}, but got {_short(value)} instead.", "invalid_value"
    if rule in ("minimum", "exclusiveMinimum"):
        return f"Invalid '{name}': expected a value >= {expected}, but got {_short(value)} instead.", "invalid_value"
    return f"Invalid '{violation.path.removeprefix('$.')}': {violation.message}", "invalid_value"


def validation_error(violations: Sequence[Violation], model: str | None, limit: int = 5) -> ApiError:
    """A 400 for broken rules: every rule in the provider's wording, the first in OpenAI's, `param` set."""
    first = violations[0]
    details = "; ".join(zod_text(violation) for violation in violations[:limit])
    more = f" (and {len(violations) - limit} more)" if len(violations) > limit else ""
    openai_message, code = _openai_text(first, model)
    return ApiError(
        400,
        f"Body validation error! {details}{more}",
        param=first.field or None,
        code=code,
        type="invalid_request_error",
        openai_message=openai_message,
    )


def out_of_credits_error(style: ErrorStyle) -> ApiError:
    """The answer to a request its key's balance cannot pay (the mock's `--budget-usd`): the AI/ML API's 403
    "You've run out of credits...", or, in OpenAI's dialect, its 429 `insufficient_quota` (a quota, not a rate)."""
    if style == "openai":
        message, kind, code = OPENAI_DEFAULTS[403]
        return ApiError(429, AIML_MESSAGES[403], code=code, type=kind, openai_message=message)
    return ApiError(403, code="insufficient_quota", type="insufficient_quota")


def cassette_miss_error(message: str) -> ApiError:
    """No recording for a replayed request (`--replay-miss error`): a 404 the SDKs do not retry, its message
    naming the closest recording and what differed; `code: cassette_miss` in OpenAI's dialect (the AI/ML API's
    has no code field: the message says it)."""
    return ApiError(404, message, code="cassette_miss", type="invalid_request_error")


def upstream_error(upstream: str, reason: str, *, timed_out: bool) -> ApiError:
    """The proxy's own answer when the upstream is away: 504 when it did not answer in time, else 502 (refused,
    reset, not resolvable). Both are `server_error`s the SDKs retry, as they would the real API's."""
    if timed_out:
        return ApiError(504, f"The upstream {upstream} did not answer in time: {reason}", type="server_error")
    return ApiError(502, f"The upstream {upstream} could not be reached: {reason}", type="server_error")


def _encodable(text: str) -> str:
    """Text as sent, with any lone surrogate (valid in JSON, not in UTF-8) written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unknown_model_error(message: str, model: Any) -> ApiError:
    return ApiError(
        400,
        f'Body validation error! {message} at "model"',
        param="model",
        code="model_not_found",
        type="invalid_request_error",
        openai_message=f"The model `{_encodable(str(model)[:120])}` does not exist or you do not have access to it. "
                       f"{message}",
    )


def unsupported_operation_error(message: str) -> ApiError:
    """A known model that cannot do this operation (edits, variations): 400 naming `model`, in either dialect."""
    return ApiError(400, f'Body validation error! {message} at "model"', param="model", code="invalid_value",
                    type="invalid_request_error", openai_message=message)


def moderation_blocked_error() -> ApiError:
    """What OpenAI answers when its safety system blocks a GPT image request (`moderation_blocked`)."""
    return ApiError(400, CONTENT_POLICY_MESSAGE, code="moderation_blocked", type="image_generation_user_error",
                    openai_message="Your request was rejected by the safety system. If you believe this is an error, "
                                   "contact us at help.openai.com and include the request ID.")


def stream_error(error: ApiError) -> dict[str, Any]:
    """An error as a streamed answer's `error` frame carries it (OpenAI's fields, whatever the dialect)."""
    message, kind, code = error.openai_fields()
    return {"type": kind, "code": code, "message": message, "param": error.param}


def image_upload_error(code: str, message: str, param: str = "image") -> ApiError:
    """An upload the API refuses (`invalid_image_file`, `invalid_image_format`, `image_too_large`,
    `too_many_images`, `invalid_image_dimensions`): a 400 naming the part; in the AI/ML API's dialect worded as
    its body validation errors (`Body validation error! ... at "image"`)."""
    return ApiError(400, f'Body validation error! {message.rstrip(".")} at "{param}"', param=param, code=code,
                    type="invalid_request_error", openai_message=message)


def form_error(message: str, param: str | None = None, openai_message: str | None = None) -> ApiError:
    """A multipart form the API cannot read (malformed, too many fields, a field too long): a 400, worded as the
    AI/ML API's body validation errors there (naming the field when there is one), as OpenAI's elsewhere."""
    where = f' at "{param}"' if param else ""
    return ApiError(400, f"Body validation error! {message}{where}", param=param, code="invalid_value" if param
                    else None, type="invalid_request_error", openai_message=openai_message or message)


class StoreUnavailable(Exception):
    """The shared state store (`--state`) did not answer: down, unreachable or timed out."""


def unreachable_error(error: StoreUnavailable) -> ApiError:
    """The admin API's answer while the state store is away: 503 in the API's error shape, saying so."""
    message = f"The state store is unreachable: {error}"
    return ApiError(503, message, code="state_store_unreachable", openai_message=message, type="server_error")
