"""`python -m bench` (`make bench`): run every benchmark, print one table, write the raw figures.

    python -m bench [--only triggerer,polling] [--json PATH]

Benchmarks run one after another (see suite.py). One that crashes becomes a FAIL row naming the
error; the others still run. What the benchmarks and the code under test log goes to bench.log
next to the JSON (bench/results/ by default), so the terminal shows progress lines and the table
only. The exit status is 0 when every row with a target passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .harness import airflow_env
from .table import RESULTS, Row, error_row, record, render


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send fd 1 and 2 (print, structlog, child processes) to `path`; progress goes to the terminal
    through a duplicate of the original stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def main(argv: list[str] | None = None) -> int:
    airflow_env()  # before anything imports Airflow
    from .suite import SUITE

    names = [b.name for b in SUITE]
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(names)}")
    parser.add_argument(
        "--json", type=Path, default=RESULTS / "latest.json", help="where to write raw figures"
    )
    args = parser.parse_args(argv)
    wanted = args.only.split(",") if args.only else names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.json.parent / "bench.log"  # next to the figures
    log_path.write_text("", encoding="utf-8")
    progress = os.fdopen(os.dup(2), "w", buffering=1)
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    for bench in (b for b in SUITE if b.name in wanted):
        started = time.perf_counter()
        progress.write(f"bench: {bench.name} … ")
        progress.flush()
        with output_to(log_path):
            try:
                raw[bench.name] = result = bench.run()
                bench_rows = bench.rows(result)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                traceback.print_exc()
                raw[bench.name] = {"error": f"{type(exc).__name__}: {exc}"}
                bench_rows = [error_row(bench.name, exc)]
        rows += bench_rows
        progress.write(f"{time.perf_counter() - started:.0f} s\n")
    path = record(rows, raw, args.json)
    print(render(rows))
    print(f"\nraw figures: {path}; logs: {log_path}")
    progress.close()
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
