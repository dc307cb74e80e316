"""The HTTP layer: thin ASGI/Starlette handlers over the core.

The generation and edit routes, the admin API and dashboard, the recording middleware and the answers it sends,
CORS and origin checks, the multipart reader, the validating proxy and replay, and the running mock's state (in
memory or shared on Redis).
"""
