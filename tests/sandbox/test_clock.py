"""The sandbox clock (docs/sandbox.md#s4-clock): manual time moves only when told, a frozen real
clock resumes without a jump, and time never runs backwards."""

from __future__ import annotations

import time

import pytest

from airflow_provider_scrapingpros.sandbox.clock import Clock


def test_manual_clock_moves_only_forward_and_only_when_told() -> None:
    clock = Clock("manual")
    start = clock.now()
    time.sleep(0.02)
    assert clock.now() == start
    assert clock.frozen is True
    assert clock.advance(1.5) == start + 1.5
    clock.move_to(start)  # the past is ignored
    assert clock.now() == start + 1.5
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock.snapshot()["mode"] == "manual"


def test_real_clock_freeze_pins_and_resume_continues_without_a_jump() -> None:
    clock = Clock("real")
    clock.advance(3600)
    assert abs(clock.now() - (time.time() + 3600)) < 0.5
    clock.freeze()
    pinned = clock.now()
    time.sleep(0.03)
    assert clock.now() == pinned
    clock.resume()
    assert pinned <= clock.now() < pinned + 0.02
    clock.reset()
    assert abs(clock.now() - time.time()) < 0.05
