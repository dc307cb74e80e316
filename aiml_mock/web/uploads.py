"""Reading a `multipart/form-data` upload (image edits, variations) as it streams in, with limits applied on the way.

Parsing is `python-multipart`'s (the parser Starlette's own forms use), fed chunk by chunk from the ASGI `receive`.
Each file part goes to a `SpooledTemporaryFile` (in memory up to 1 MiB, then on disk), and stops being kept as
soon as it passes its limit: an oversize upload is read to its end (so the client sees the answer, not a broken
pipe) but never held, so the server's memory does not grow by its size. Text fields are capped too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from aiml_mock.core.errors import ApiError, form_error
from aiml_mock.core.forms import Form, Upload

IN_MEMORY = 1024 * 1024  # bytes of a file part held in memory before it spools to disk
FIELD_MAX = 64 * 1024  # bytes of one text field (a 32000-character prompt is at most ~128 KB of UTF-8: see below)
PROMPT_MAX = 4 * 32000 + 16  # the prompt's own cap: 32000 characters of up to 4 UTF-8 bytes
FIELDS_MAX = 64  # parts that are not files
DRAIN_MAX = 1024 * 1024 * 1024  # bytes read past a limit before the connection is given up on


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary, or a 415 that says what the endpoint takes."""
    media, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        shown = media.decode("latin-1") or "none"
        raise ApiError(415, f"Unsupported content type {shown!r}: send the edit as multipart/form-data",
                       openai_message=f"Invalid Content-Type header ({shown}), expected multipart/form-data.")
    return boundary


async def read_form(receive: Receive, content_type: str | None, file_limit: Callable[[Form, str], int],
                    total_limit: int) -> Form:
    """The form, read from `receive` as it arrives. `file_limit(form_so_far, field_name)` is the most bytes a file
    part may have (the model's limit, when the `model` field came first; else the largest); a part over it is
    marked `over` and its bytes dropped. A body over `total_limit` is refused with 413 once that many bytes came."""
    boundary = boundary_of(content_type)
    form = Form()
    state: dict[str, Any] = {"headers": {}, "name": "", "value": bytearray(), "upload": None, "limit": 0,
                             "header_field": b"", "header_value": b""}

    def on_part_begin() -> None:
        state["headers"], state["value"], state["upload"] = {}, bytearray(), None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["header_value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["header_field"].lower()] = state["header_value"]
        state["header_field"], state["header_value"] = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if b"filename" in options:
            upload = Upload(name, options[b"filename"].decode("utf-8", "replace"),
                            state["headers"].get(b"content-type", b"").decode("latin-1"),
                            file=tempfile.SpooledTemporaryFile(max_size=IN_MEMORY))  # noqa: SIM115 (closed by Form)
            state["upload"], state["limit"] = upload, file_limit(form, name)
            form.files.append(upload)
        elif len(form.fields) >= FIELDS_MAX:
            raise form_error(f"Too many form fields: at most {FIELDS_MAX} are accepted")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        upload: Upload | None = state["upload"]
        if upload is None:
            value: bytearray = state["value"]
            value += data[start:end]
            if len(value) > (PROMPT_MAX if state["name"] == "prompt" else FIELD_MAX):
                raise form_error(f"The form field {state['name']!r} is too long", param=state["name"])
            return
        upload.size += end - start
        if upload.over:
            return
        if upload.size > state["limit"]:
            upload.over = True  # dropped from here on: never held whole
            upload.close()
            upload.file = None
            return
        assert upload.file is not None
        upload.file.write(data[start:end])

    def on_part_end() -> None:
        if state["upload"] is None:
            form.fields[state["name"]] = bytes(state["value"]).decode("utf-8", "replace")

    callbacks: Any = {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
    }
    parser = MultipartParser(boundary, callbacks)
    received = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > total_limit:
                raise ApiError(413, f"Request body is too large: more than {total_limit} bytes")
            parser.write(chunk)
            if not message.get("more_body", False):
                break
        parser.finalize()
    except MultipartParseError as error:
        form.close()
        raise form_error(f"The multipart body could not be parsed: {error}",
                         openai_message="Could not parse multipart form") from None
    except BaseException:
        form.close()
        raise
    return form
