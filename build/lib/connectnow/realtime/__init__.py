"""Realtime plumbing: cross-worker fan-out (broker_*.py) and this worker's sockets and rooms (hub.py)."""
