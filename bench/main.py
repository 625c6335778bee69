"""The `run` command: choose a profile, run the benchmarks, print the table, write the JSON."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench.loadgen import raise_fd_limit
from bench.machine import describe
from bench.profiles import PROFILES
from bench.report import table
from bench.run import Run
from bench.stats import clean

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def profile_command(args: argparse.Namespace) -> int:
    from bench.profile_run import profile_command as run_profile

    raise_fd_limit()
    path = run_profile(args, RESULTS_DIR)
    print(f"profile: {path}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    raise_fd_limit()
    profile = PROFILES[args.profile or ("quick" if args.quick else "full")]
    if args.only:
        profile = dataclasses.replace(profile, benchmarks=tuple(args.only.split(",")))
    result: dict[str, Any] = {
        "command": "python -m bench " + shlex.join(sys.argv[1:]),
        "profile": dataclasses.asdict(profile),
        "machine": describe(),
        "startedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "benchmarks": {},
    }
    before = Path(args.before_tree).resolve() if args.before_tree else None
    out_dir = Path(args.out) if args.out else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-{profile.name}-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def checkpoint(benchmarks: dict[str, Any]) -> None:
        path.write_text(json.dumps(clean({**result, "benchmarks": benchmarks, "partial": True}), indent=2))

    run = Run(profile, log, keep=args.keep, before_tree=before)
    try:
        result["benchmarks"] = run.all(checkpoint)
    finally:
        run.close()
    result["finishedAt"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result = clean(result)
    path.write_text(json.dumps(result, indent=2))
    print(table(result))
    print(f"\nJSON: {path}")
    return 0
