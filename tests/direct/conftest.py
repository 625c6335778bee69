"""Fixtures for the direct-message tests."""

from tests.direct.world import world

__all__ = ["world"]
