"""The sandbox clock (docs/sandbox.md#s4-clock): every API time, stamp, header and window reads it.

Two modes:

* `real`: wall time plus the sum of all advances. `freeze()` pins the current reading; `resume()`
  continues from the pinned reading (the offset absorbs the pause), so time never jumps backwards.
* `manual`: starts at the wall time of creation/reset and moves only by `advance()`; it always
  stands still, so `frozen` reads true.

The clock only moves forward: `advance` refuses negative values and `move_to` ignores the past. The
engine uses `move_to` while it replays due events in time order during an advance, so a webhook
receiver that reads the clock mid-advance sees the time of the attempt it is handling.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from .timefmt import iso_ms, to_ms

ClockMode = Literal["real", "manual"]


class Clock:
    def __init__(self, mode: ClockMode = "real") -> None:
        self.mode: ClockMode = mode
        self._lock = threading.Lock()
        self._offset = 0.0
        self._pinned: float | None = None
        self.reset()

    def reset(self) -> None:
        """Back to wall time (docs/sandbox.md#s6-reset), unfrozen."""
        with self._lock:
            self._offset = 0.0
            self._pinned = time.time() if self.mode == "manual" else None

    def now(self) -> float:
        pinned = self._pinned
        if pinned is not None:
            return pinned
        return time.time() + self._offset

    @property
    def frozen(self) -> bool:
        return self._pinned is not None

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward: 'seconds' must be >= 0")
        with self._lock:
            if self._pinned is not None:
                self._pinned += seconds
                return self._pinned
            self._offset += seconds
            return time.time() + self._offset

    def move_to(self, epoch: float) -> None:
        """Forward to `epoch` if it is ahead; a reading already past it is left alone."""
        with self._lock:
            if self._pinned is not None:
                self._pinned = max(self._pinned, epoch)
            else:
                self._offset += max(0.0, epoch - (time.time() + self._offset))

    def freeze(self) -> None:
        with self._lock:
            if self._pinned is None:
                self._pinned = time.time() + self._offset

    def resume(self) -> None:
        """Real mode: continue from the frozen reading. Manual mode: nothing to resume."""
        with self._lock:
            if self.mode == "real" and self._pinned is not None:
                self._offset = self._pinned - time.time()
                self._pinned = None

    def snapshot(self) -> dict[str, Any]:
        now = self.now()
        return {"epoch": now, "iso": iso_ms(to_ms(now)), "mode": self.mode, "frozen": self.frozen}
