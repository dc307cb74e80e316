"""The baseline the server bench measures the mock against: the least a Starlette app must do for the same
request. It checks the bearer header, parses the JSON body and answers a fixed 201 body; no contract, no
images, no journal. Run under uvicorn with uvloop and httptools, one worker, like the mock.

    python -m uvicorn bare_app:app --app-dir bench --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CREATED = orjson.dumps(
    {"created": 1700000000, "data": [{"url": "http://127.0.0.1:8000/images/img-placeholder.png?se=1&sp=r&sig=x"}]}
)
UNAUTHORIZED = b'{"error": {"message": "missing bearer key"}}'
BAD_JSON = b'{"error": {"message": "the body is not a JSON object"}}'


async def generate(request: Request) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Response(UNAUTHORIZED, 401, media_type="application/json")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return Response(BAD_JSON, 400, media_type="application/json")
    return Response(CREATED, 201, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status": "ok"}', 200, media_type="application/json")


app = Starlette(routes=[
    Route("/v1/images/generations", generate, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
])
