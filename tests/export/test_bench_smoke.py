"""bench/export.py end to end at a tiny size: exact request counts, every result exported by each
client; timings and memory are the benchmark's business, not asserted here."""

from __future__ import annotations

from bench.export import run


def test_bench_export_smoke() -> None:
    report = run(150)
    for client in ("sdk", "ours_files", "ours_jsonl", "walk", "bare"):
        assert report[client]["results"] == 150, report
    for client in ("ours_files", "ours_jsonl"):
        # 2 pages + 1 run poll (no body over the inline cap below 2,500 jobs)
        assert (report[client]["requests"], report[client]["pages"], report[client]["run_polls"]) == (3, 2, 1)
    for yardstick in ("walk", "bare"):  # the same 2 pages, no run poll
        assert (report[yardstick]["requests"], report[yardstick]["pages"]) == (2, 2)
    assert report["targets"]["requests"] is True
    assert report["speedup_files"] > 0 and report["speedup_jsonl"] > 0
    assert report["ceiling"] > 0 and report["speedup_bare"] > 0
