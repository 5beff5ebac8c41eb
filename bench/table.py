"""The one table `make bench` prints: metric, ours, reference, ratio, target, PASS/FAIL.

Each benchmark module turns its raw figures into `Row`s (its `rows()` function); this module only
formats them and writes the JSON record. A row's verdict is computed by the benchmark that knows
the target, not here: targets differ in kind (a ratio to the SDK, an absolute ceiling, a count that
must be zero), so a row carries its own `passed` and a human-readable `target`.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
HEADERS = ("metric", "ours", "reference", "ratio", "target", "result")


@dataclass(frozen=True)
class Row:
    metric: str
    ours: float | None
    reference: float | None = None
    unit: str = ""
    target: str = ""
    passed: bool | None = None  # None: reported for information, no target
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.reference:
            return None
        return self.ours / self.reference

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "info"}[self.passed]


def error_row(bench: str, exc: BaseException) -> Row:
    return Row(f"{bench}: did not run", None, passed=False, note=f"{type(exc).__name__}: {exc}"[:300])


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    magnitude = abs(value)
    if magnitude >= 100 or float(value).is_integer():
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:,.1f}"
    else:
        text = f"{value:,.2f}"
    return f"{text} {unit}".rstrip()


def cells(row: Row) -> tuple[str, ...]:
    ratio = row.ratio
    return (
        row.metric,
        fmt(row.ours, row.unit),
        fmt(row.reference, row.unit),
        "—" if ratio is None else f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2f}x",
        row.target or "—",
        row.verdict,
    )


def render(rows: Sequence[Row]) -> str:
    table = [HEADERS, *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    numeric = {1, 2, 3}  # right-aligned columns

    def line(values: Sequence[str]) -> str:
        padded = (
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    out = [line(HEADERS), "  ".join("-" * w for w in widths)]
    out += [line(c) for c in table[1:]]
    notes = [f"  [{r.metric}] {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    passed = sum(r.passed is True for r in rows)
    failed = sum(r.passed is False for r in rows)
    out += ["", f"{passed} PASS, {failed} FAIL, {len(rows) - passed - failed} info"]
    return "\n".join(out)


def record(rows: Sequence[Row], raw: dict[str, Any], path: Path | None = None) -> Path:
    """Write rows and every bench's raw figures as JSON (bench/results/ is git-ignored)."""
    path = path or RESULTS / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": _cpus()},
        "rows": [{**asdict(r), "ratio": r.ratio, "result": r.verdict} for r in rows],
        "raw": raw,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
