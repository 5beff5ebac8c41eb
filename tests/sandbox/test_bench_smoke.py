"""The sandbox benchmark runs end to end at a tiny size; counts are exact, timings are not asserted."""

from __future__ import annotations

from bench.sandbox import BODY_BYTES, run

from .helpers import TOKEN
from .invariants import assert_run_invariants


def test_bench_smoke() -> None:
    checked: list[int] = []

    def check(base_url: str, cid: str, rid: str) -> None:
        result = assert_run_invariants(base_url, TOKEN, cid, rid, page_size=37)
        checked.append(result.run["success_requests"])

    metrics = run(jobs=200, on_complete=check)

    assert (metrics["jobs"], metrics["results"], metrics["pages"]) == (200, 200, 2)
    assert metrics["body_bytes"] == 200 * BODY_BYTES
    assert metrics["drain_s"] > 0 and metrics["results_per_s"] > 0
    assert checked == [200]
