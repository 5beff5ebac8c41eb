"""The table, the JSON record, the row adapters of the earlier benchmarks and `python -m bench`'s
error handling: pure, exact, no sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import __main__ as entry
from bench import suite
from bench.suite import Bench, export_rows, sandbox_rows
from bench.table import Row, error_row, fmt, record, render


def test_fmt_picks_precision_by_magnitude() -> None:
    assert [
        fmt(v, u) for v, u in [(1234.5, "ms"), (12.345, "s"), (1.2345, ""), (3.0, "MB"), (None, "s")]
    ] == [
        "1,234 ms",
        "12.3 s",
        "1.23",
        "3 MB",
        "—",
    ]


def test_render_aligns_columns_and_counts_verdicts() -> None:
    rows = [
        Row("polls", 6, 5, target="≤ 1.00x SDK", passed=False, note="one extra check"),
        Row("stall", 28.4, unit="ms", target="< 50 ms", passed=True),
        Row("info only", 2.5, 4.0, unit="s"),
        Row("far off", 353.0, 1.6, unit="ms"),
    ]
    assert render(rows).splitlines() == [
        "metric        ours  reference  ratio  target       result",
        "---------  -------  ---------  -----  -----------  ------",
        "polls            6          5  1.20x  ≤ 1.00x SDK  FAIL",
        "stall      28.4 ms          —      —  < 50 ms      PASS",
        "info only   2.50 s        4 s  0.62x  —            info",
        "far off     353 ms    1.60 ms   221x  —            info",
        "",
        "notes:",
        "  [polls] one extra check",
        "",
        "1 PASS, 1 FAIL, 2 info",
    ]


def test_record_writes_rows_with_ratio_and_verdict(tmp_path: Path) -> None:
    path = record(
        [Row("x", 3.0, 2.0, passed=True), error_row("y", ValueError("boom"))],
        {"x": {"n": 1}},
        tmp_path / "r.json",
    )
    document = json.loads(path.read_text())
    assert [(r["metric"], r["ratio"], r["result"], r["note"]) for r in document["rows"]] == [
        ("x", 1.5, "PASS", ""),
        ("y: did not run", None, "FAIL", "ValueError: boom"),
    ]
    assert document["raw"] == {"x": {"n": 1}}
    assert document["host"]["cpus"] >= 1


def test_sandbox_rows_apply_the_3000_per_s_target() -> None:
    [row] = sandbox_rows({"jobs": 200.0, "results": 200.0, "results_per_s": 2999.0})
    assert (row.ours, row.target, row.passed) == (2999.0, "≥ 3,000/s", False)


def _export_report() -> dict[str, Any]:
    client = {"results_per_s": 900.0, "requests": 21}
    return {
        "jobs": 2000,
        "sdk": {"results_per_s": 300.0},
        "ours_files": client,
        "ours_jsonl": {**client, "results_per_s": 500.0},
        "walk": {"results_per_s": 1200.0},
        "bare": {"results_per_s": 1000.0},
        "request_budget": 22.0,
        "targets": {"requests": True, "throughput_2x_files": True, "throughput_2x_jsonl": False, "rss": True},
        "subprocess_exports": {
            "2000": {"peak_rss_mb": 150.0},
            "50000": {"peak_rss_mb": 160.0, "requests": 526, "request_budget": 526.0},
        },
    }


def test_export_rows_map_every_target_of_bench_export() -> None:
    rows = export_rows(_export_report())
    assert [(r.metric, r.ours, r.reference, r.passed) for r in rows] == [
        # loopback throughput is information since the WAN rows (bench/wan_export.py)
        ("export 2,000 jobs (files): results/s vs SDK iter_results", 900.0, 300.0, None),
        ("export 2,000 jobs (jsonl): results/s vs SDK iter_results", 500.0, 300.0, None),
        ("export 2,000 jobs: export's page walk alone, nothing written (ceiling)", 1200.0, 300.0, None),
        ("export 2,000 jobs: bare loop: walk + sha256 + one file + manifest line", 1000.0, 300.0, None),
        ("export 2,000 jobs: API requests vs budget (1.05 x pages + run polls)", 21, 22.0, True),
        ("export: peak RSS 50,000 vs 2,000 jobs", 160.0, 150.0, True),
    ]


def test_main_turns_a_crashing_bench_into_a_fail_row(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash() -> dict[str, Any]:
        raise RuntimeError("sandbox would not start")

    fake = (
        Bench("ok", lambda: {"v": 1.0}, lambda r: [Row("ok row", r["v"], target="any", passed=True)]),
        Bench("broken", crash, lambda r: []),
    )
    monkeypatch.setattr(suite, "SUITE", fake)
    status = entry.main(["--json", str(tmp_path / "out.json")])
    out = capsys.readouterr().out
    assert status == 1
    assert "ok row" in out and "broken: did not run" in out and "RuntimeError: sandbox would not start" in out
    raw = json.loads((tmp_path / "out.json").read_text())["raw"]
    assert raw == {"ok": {"v": 1.0}, "broken": {"error": "RuntimeError: sandbox would not start"}}


def test_main_rejects_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exited:
        entry.main(["--only", "nope"])
    assert exited.value.code == 2
