"""What `make bench` runs, at what size, and how each benchmark's figures become table rows.

Order matters a little on a shared 2-core machine: the CPU-bound measurements (parse cost, sandbox
drain, export throughput) run first, the sleep-dominated ones (polling, rate-limited export) next,
and the triggerer passes last. `bench/sandbox.py` and `bench/export.py` belong to earlier issues;
they are called as they are and only their reports are mapped to rows here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import export, parse_cost, polling, ratelimited_export, sandbox, triggerer, wan_export, watchers
from .table import Row

SANDBOX_TARGET_PER_S = 3000.0  # bench/sandbox.py's own target (issue 2)


@dataclass(frozen=True)
class Bench:
    name: str
    run: Callable[[], dict[str, Any]]
    rows: Callable[[dict[str, Any]], list[Row]]


def sandbox_rows(result: dict[str, Any]) -> list[Row]:
    per_s = float(result["results_per_s"])
    return [
        Row(
            f"sandbox: results/s draining a finished run ({result['jobs']:,.0f} jobs)",
            per_s,
            unit="/s",
            target=f"≥ {SANDBOX_TARGET_PER_S:,.0f}/s",
            passed=per_s >= SANDBOX_TARGET_PER_S and result["results"] == result["jobs"],
        )
    ]


def export_rows(result: dict[str, Any]) -> list[Row]:
    """bench/export.py's report (issue 5 targets) as rows; tolerant of fields it may not have yet."""
    targets = result.get("targets", {})
    sdk = result["sdk"]
    jobs = result["jobs"]
    rows = []
    for layout in ("files", "jsonl"):
        ours = result.get(f"ours_{layout}")
        if ours is None:
            continue
        rows.append(
            Row(
                f"export {jobs:,} jobs ({layout}): results/s vs SDK iter_results",
                ours["results_per_s"],
                sdk["results_per_s"],
                unit="/s",
                # loopback with 1 KB bodies is CPU-bound on both sides: information since the WAN rows
                target="— (was ≥ 2.00x SDK)",
            )
        )
    yardsticks = (
        ("walk", "export's page walk alone, nothing written (ceiling)"),
        ("bare", "bare loop: walk + sha256 + one file + manifest line"),
    )
    for name, what in yardsticks:
        if name in result:
            rows.append(
                Row(
                    f"export {jobs:,} jobs: {what}",
                    result[name]["results_per_s"],
                    sdk["results_per_s"],
                    unit="/s",
                    target="—",
                )
            )
    files = result.get("ours_files")
    if files is not None and "request_budget" in result:
        rows.append(
            Row(
                f"export {jobs:,} jobs: API requests vs budget (1.05 x pages + run polls)",
                max(files["requests"], result.get("ours_jsonl", files)["requests"]),
                result["request_budget"],
                target="≤ 1.00x budget",
                passed=targets.get("requests"),
            )
        )
    big = result.get("subprocess_exports", {})
    if len(big) >= 2:
        small, large = min(big, key=int), max(big, key=int)
        rows.append(
            Row(
                f"export: peak RSS {int(large):,} vs {int(small):,} jobs",
                big[large]["peak_rss_mb"],
                big[small]["peak_rss_mb"],
                unit="MB",
                target="≤ 1.20x and < 300 MB",
                passed=targets.get("rss"),
            )
        )
        if "requests_large" in targets:
            rows.append(
                Row(
                    f"export {int(large):,} jobs: API requests vs budget",
                    big[large]["requests"],
                    big[large]["request_budget"],
                    target="≤ 1.00x budget",
                    passed=targets["requests_large"],
                )
            )
    return rows


SUITE = (
    Bench("parse_cost", lambda: parse_cost.run(samples=7), parse_cost.rows),
    Bench("sandbox", lambda: dict(sandbox.run(jobs=3000)), sandbox_rows),
    Bench("export", lambda: export.run(2000, rss_sizes=(2000, 50_000)), export_rows),
    Bench("wan_export", wan_export.run, wan_export.rows),
    Bench("polling", polling.run, polling.rows),
    Bench("ratelimited_export", ratelimited_export.run, ratelimited_export.rows),
    Bench("triggerer", lambda: triggerer.run(debug=False), triggerer.rows),
    Bench("triggerer_debug", lambda: triggerer.run(debug=True), triggerer.debug_rows),
    Bench("watchers", watchers.run, watchers.rows),
)
