"""bench/watchers.py at a tiny size: 5 watchers on one collection. The request counts follow from the
poll loops (one shared vs one per watcher), not from the machine's speed."""

from __future__ import annotations

from bench.watchers import rows, run


def test_watchers_tiny() -> None:
    result = run(watchers=5, seconds=2.0, poll_interval=1.0)
    unshared, shared = result["unshared"], result["shared"]
    assert unshared["events"] == 0  # both runs finished before the watchers began: the baseline
    assert 4.0 <= unshared["per_poll_interval"] <= 5.5  # one poll loop per watcher
    measured = rows(result)
    if shared is None:  # Airflow < 3.3
        assert measured[0].passed is None and "no shared stream" in measured[0].note
    else:
        assert shared["events"] == 0
        assert shared["per_poll_interval"] <= 1.5  # one loop for all five
        assert measured[0].passed is True
    assert all(row.unit for row in measured)
