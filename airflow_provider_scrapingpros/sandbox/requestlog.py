"""The request log and per-route counts (docs/sandbox.md#s5-request-log).

Only `/v1` requests are recorded, including 401s, 429s, faulted and dropped ones; tokens are stored
masked. Items are kept in a bounded deque (a long benchmark must not grow memory without limit);
the counts are exact over the whole life since the last reset/clear. Own lock: it is written after
the response is sent, outside the engine lock.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

MAX_ITEMS = 200_000


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[dict[str, Any]] = deque(maxlen=MAX_ITEMS)
        self._seq = 0
        self._by_route: dict[str, int] = {}
        self._by_route_status: dict[str, dict[str, int]] = {}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._by_route.clear()
            self._by_route_status.clear()
            # seq keeps growing: `since_seq` pollers must never see a number twice

    def record(self, entry: dict[str, Any]) -> None:
        """`entry` has every item key but `seq`; status None means the connection was dropped."""
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._items.append(entry)
            route = entry["route"]
            self._by_route[route] = self._by_route.get(route, 0) + 1
            statuses = self._by_route_status.setdefault(route, {})
            key = "dropped" if entry["status"] is None else str(entry["status"])
            statuses[key] = statuses.get(key, 0) + 1

    def items(self, route: str | None = None, since_seq: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(item)
                for item in self._items
                if (route is None or item["route"] == route)
                and (since_seq is None or item["seq"] > since_seq)
            ]

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._by_route.values()),
                "by_route": dict(self._by_route),
                "by_route_status": {r: dict(s) for r, s in self._by_route_status.items()},
            }
