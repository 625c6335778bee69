"""Test support: real services (Redis, uvicorn) and the one MongoDB test shim."""
