"""ConnectNow benchmarks: every figure is a ratio against a baseline measured in the same run.

Run `python -m bench run` (full) or `python -m bench run --quick`; see BENCHMARKS.md. Needs the `bench` extra:
`pip install -e '.[bench]'`.
"""
