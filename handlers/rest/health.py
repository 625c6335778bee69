"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from handlers.rest.deps import NodeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Storage and fan-out are reachable (503 names what is down)")
async def readyz(node: NodeDep) -> JSONResponse:
    checks = await node.readiness()
    if all(value == "ok" for value in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks})
    down = ", ".join(f"{name} ({value})" for name, value in checks.items() if value != "ok")
    body = {
        "ok": False,
        "error": {
            "code": "UNAVAILABLE",
            "message": f"Not ready: {down}",
            "retryable": True,
            "details": checks,
        },
    }
    return JSONResponse(body, status_code=503)
