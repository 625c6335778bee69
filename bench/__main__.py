"""`python -m bench run [--quick|--profile NAME] [--only a,b] [--out DIR]`: see BENCHMARKS.md."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="ConnectNow benchmarks with same-run baselines"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmarks, print a table, write JSON under bench/results/")
    run.add_argument("--quick", action="store_true", help="smoke run of a couple of minutes")
    run.add_argument(
        "--profile",
        choices=["full", "quick", "contended", "tiny"],
        help="explicit profile (tiny: tests; contended: rooms of 100 and 1,000 on a busy machine)",
    )
    run.add_argument("--only", help="comma-separated: fanout,latency,crossworker,persist,memory,lateness,cpu,storm")
    run.add_argument("--out", help="results directory (default bench/results)")
    run.add_argument("--keep", action="store_true", help="keep the work directory (server logs, database)")
    run.add_argument("--before-tree", help="a checkout of an older commit: its ConnectNow runs too, as server 'before'")
    prof = sub.add_parser("profile", help="ConnectNow under pyinstrument while the full path is loaded")
    prof.add_argument("--room-size", type=int, default=100)
    prof.add_argument("--rooms", type=int, default=2)
    prof.add_argument("--rate", type=float, default=100.0, help="messages/s over all rooms")
    prof.add_argument("--seconds", type=float, default=10.0)
    rep = sub.add_parser("report", help="print the Markdown tables of a results JSON (for BENCHMARKS.md)")
    rep.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "report":
        import json
        from pathlib import Path

        from bench.report import markdown

        print(markdown(json.loads(Path(args.file).read_text())))
        return 0
    try:
        import psutil  # type: ignore[import-untyped]  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as exc:
        print(f"missing {exc.name}: install the bench extra with  pip install -e '.[bench]'", file=sys.stderr)
        return 2
    from bench.main import profile_command, run_command

    return run_command(args) if args.command == "run" else profile_command(args)


if __name__ == "__main__":
    sys.exit(main())
