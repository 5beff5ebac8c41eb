"""The sandbox benchmark runs end to end at a tiny size; counts are exact, timings are not asserted."""

from __future__ import annotations

from bench.sandbox import BODY_BYTES, run


def test_bench_smoke() -> None:
    metrics = run(jobs=200)
    assert (metrics["jobs"], metrics["results"], metrics["pages"]) == (200, 200, 2)
    assert metrics["body_bytes"] == 200 * BODY_BYTES
    assert metrics["drain_s"] > 0 and metrics["results_per_s"] > 0
