"""bench/ratelimited_export.py at a tiny size. With a window about to roll over, both clients start
with it spent: the export must still finish, every result written, each 429 answered by a re-send."""

from __future__ import annotations

from bench.ratelimited_export import rows, run


def test_ratelimited_export_tiny() -> None:
    result = run(jobs=250, rpm=30, lead_s=3.0)
    ours, sdk = result["ours"], result["sdk"]
    assert (result["jobs"], result["rpm"], result["floor_s"]) == (250, 30, 6.0)
    assert result["spent_before_start"]["ours"] >= 1 and result["spent_before_start"]["sdk"] >= 1
    for side in (ours, sdk):
        assert (side["error"], side["written"], side["pages"], side["result_fetches"]) == (None, 250, 3, 0)
    # 3 pages + 1 run poll, plus one re-send per 429 (a fresh process does not know the window is spent)
    assert ours["requests"] == 4 + ours["answered_429"]
    assert ours["run_polls"] == 1 + ours["answered_429"]
    floor, versus_sdk, requests = rows(result)
    assert (floor.reference, floor.unit, floor.target) == (6.0, "s", "≤ 1.15x floor, 0 failed")
    assert (versus_sdk.ours, versus_sdk.reference) == (ours["seconds"], sdk["seconds"])
    assert (requests.ours, requests.reference) == (ours["requests"], sdk["requests"])
