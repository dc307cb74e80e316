"""Replay: a recorded answer as the mock sends it again, and the cassette's stored images as signed URLs.

A recorded `b64_json` image is put back from its stored file (the same base64, byte for byte); a recorded
`url` image becomes the mock's own signed URL for the stored file (`/cassette/<sha>.<ext>?se=..&sig=..`),
signed at replay time, so it resolves as long as the cassette exists, where the provider's expired an hour
after the recording. A recorded event stream goes out event by event, the same bytes, each image put back.
A request with no recording gets `miss_error`: the API's error shape, naming the closest recording and what
differed.
"""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from aiml_mock.core.cassette import Cassette, Recording, event_stream_frames, media_type
from aiml_mock.core.errors import ApiError, cassette_miss_error
from aiml_mock.core.urls import UrlSigner
from aiml_mock.web.responses import api_headers, error_response, new_request_id

CASSETTE_ROUTE = "/cassette/"
REPLAYED_HEADER = "x-mock-replayed"


def replay_answer(recording: Recording, cassette: Cassette, base_url: str, signer: UrlSigner, now: float
                  ) -> tuple[int, dict[str, str], bytes]:
    """The recorded answer: status, headers (the recording's name added) and the body, images put back."""
    response = recording.response
    headers = {name: value for name, value in response.get("headers", {}).items()}
    headers[REPLAYED_HEADER] = recording.path.name
    if "body" in response:
        body = copy.deepcopy(response["body"])
        for image in response.get("images", ()):
            item = body[image.get("list", "data")][image["index"]]
            name = image.get("file")
            if name is None:
                continue  # a url image that could not be downloaded at recording time: kept as recorded
            if image["field"] == "b64_json":
                item["b64_json"] = base64.b64encode((cassette.root / name).read_bytes()).decode("ascii")
            else:
                base = name.rsplit("/", 1)[-1]
                item["url"] = f"{base_url}{CASSETTE_ROUTE}{base}?{signer.query(base, now)}"
        content = orjson.dumps(body) if body is not None else b""
    elif "events" in response:
        content = b"".join(event_stream_frames(response, cassette))
    elif "body_file" in response:
        content = (cassette.root / response["body_file"]).read_bytes()
    else:
        content = str(response.get("body_text", "")).encode()
    return int(response["status"]), headers, content


def replay_events(recording: Recording, cassette: Cassette) -> list[tuple[bytes, float]] | None:
    """A recorded event stream's events (byte for byte, images put back), each with when it had arrived (ms after
    the request went), or None for an answer that was not streamed."""
    response = recording.response
    if "events" not in response:
        return None
    frames = event_stream_frames(response, cassette)
    times = list(response.get("event_ms", ())) + [0.0] * len(frames)
    return [(frame, float(times[index])) for index, frame in enumerate(frames)]


def miss_error(message: str) -> ApiError:
    """No recording for the request: `errors.cassette_miss_error`, rendered in the profile's dialect."""
    return cassette_miss_error(message)


async def serve_file(cassette: Cassette, clock: Callable[[], float], scope: Scope, receive: Receive, send: Send
                     ) -> None:
    """`GET /cassette/<sha>.<ext>?se=..&sig=..`: a stored image, for a URL this mock signed."""
    request = Request(scope, receive)
    started = time.perf_counter()
    name = scope["path"][len(CASSETTE_ROUTE):]
    state = scope["app"].state.mock
    try:
        if scope["method"] not in ("GET", "HEAD"):
            raise ApiError(405, f"Method {scope['method']} is not allowed on {scope['path']}")
        state.signer.verify(name, request.query_params.get("se"), request.query_params.get("sig"), clock())
        path = cassette.file(name)
        if path is None:
            raise ApiError(404, f"The cassette has no file {name}")
    except ApiError as error:
        await error_response(error, request)(scope, receive, send)
        return
    headers = api_headers(new_request_id(), started, {"cache-control": "private, max-age=3600"})
    await Response(path.read_bytes(), 200, headers, media_type(name))(scope, receive, send)


def recorded_body(recording: Recording) -> Any:
    """The recorded JSON answer as stored (images as file notes), for reports."""
    return recording.response.get("body")
