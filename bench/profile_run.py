"""`python -m bench profile`: ConnectNow under pyinstrument while load generators drive the full path.

Rooms of `--room-size` members; senders at `--rate` messages/s for `--seconds`. The text report (the call
tree by wall time of the server's main thread) is written next to the JSON results.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from bench.fleet import Fleet, client_specs
from bench.profiles import QUICK
from bench.run import Run


def profile_command(args: argparse.Namespace, results_dir: Path) -> Path:
    profile = dataclasses.replace(QUICK, rooms=((args.room_size, args.rooms),))
    run = Run(profile, print)
    out = results_dir / f"profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        run.seed_rooms()
        server = run.start_cn(profile_to=out)
        try:
            fleet = Fleet(server, client_specs(server, run.rooms), profile.client_processes)
            try:
                fleet.connect()
                step = fleet.run_step(args.rate, args.seconds, [r.room for r in run.rooms])
                print({k: step[k] for k in ("sent", "deliveries", "lost", "serverCpuUsPerDelivery", "latency")})
            finally:
                fleet.close()
        finally:
            server.stop()
    finally:
        run.close()
    return out
