"""Thin edges: Socket.IO event handlers and REST routers. Validate, call one service, answer."""
