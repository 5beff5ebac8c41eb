"""bench/wan_export.py at a tiny size, on the sandbox's link model: both clients write every result,
ours over parallel streams with the single walk's pages plus the metadata page, and the rows carry
the figures they claim."""

from __future__ import annotations

from bench.wan_export import rows, run


def test_wan_export_tiny() -> None:
    result = run(400, rss_sizes=(400,), plan_jobs=200, mean_bytes=10_000)
    ours, sdk = result["ours"], result["sdk"]
    assert result["streams"] == 2  # 4 pages: 2 a connection
    assert (ours["written"], sdk["written"]) == (400, 400)
    assert ours["bytes"] == sdk["bytes"] > 0
    # 4 pages of bodies + 1 metadata page of 1,000, against the SDK's 4 pages
    assert (ours["pages"], sdk["pages"]) == (5, 4)
    assert result["plan"]["written"] == 200
    versus_sdk, floor, requests, plan, memory = rows(result)
    assert (versus_sdk.ours, versus_sdk.reference) == (ours["seconds"], sdk["seconds"])
    assert (floor.reference, plan.reference) == (result["floor_s"], result["plan"]["rate_floor_s"])
    assert (requests.ours, requests.reference) == (ours["requests"], sdk["requests"])
    assert memory.target == "—"  # one size only: no RSS ratio row, the info row remains
