"""Hosting: the uvicorn server (`MockServer`, graceful draining), the fast HTTP protocol, and the `aiml-mock` CLI."""
