"""Baseline servers measured in the same run as ConnectNow (each runs as its own process)."""
