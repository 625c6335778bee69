"""Services: the rules of ConnectNow (authorization, validation beyond shape, sequencing), one module per area.

Handlers call services; services call repositories and emit through the hub (see docs/ARCHITECTURE.md).
"""
