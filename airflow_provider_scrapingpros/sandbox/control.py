"""`SandboxControl`: a thin `requests` client of the `/_sandbox/` routes (docs/sandbox.md#controls).

Each method is one HTTP call; a non-2xx answer raises `requests.HTTPError` carrying the sandbox's
`detail`, so a test that sends a bad profile sees which field was wrong.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests


class SandboxControl:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._session.request(method, f"{self.base_url}/_sandbox{path}", timeout=120, **kwargs)
        if response.status_code >= 400:
            raise requests.HTTPError(
                f"{method} /_sandbox{path} -> {response.status_code}: {response.text}", response=response
            )
        return response.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/clock")
        return result

    def advance(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock/advance", json={"seconds": seconds})
        return result

    def freeze(self) -> None:
        self._call("POST", "/clock/freeze")

    def resume(self) -> None:
        self._call("POST", "/clock/resume")

    def set_faults(self, profile: dict[str, Any]) -> None:
        self._call("PUT", "/faults", json=profile)

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/faults")
        return result

    def script_fault(self, match: str, fault: str, count: int = 1) -> None:
        self._call("POST", "/faults/script", json={"match": match, "fault": fault, "count": count})

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        self._call("PUT", "/rules", json=rules)

    def clear_rules(self) -> None:
        self._call("DELETE", "/rules")

    def set_token(self, token: str, **settings: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/tokens/{quote(token, safe='')}", json=settings)
        return result

    def token(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/tokens/{quote(token, safe='')}")
        return result

    def requests(self, route: str | None = None, since_seq: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        if route is not None:
            params["route"] = route
        if since_seq is not None:
            params["since_seq"] = since_seq
        items: list[dict[str, Any]] = self._call("GET", "/requests", params=params)["items"]
        return items

    def counts(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/requests/counts")
        return result

    def count(self, route: str | None = None, status: int | None = None) -> int:
        """Requests logged for `route` (all routes if None), optionally only those answered `status`."""
        counts = self.counts()
        if status is None:
            return int(counts["total"] if route is None else counts["by_route"].get(route, 0))
        per_route = counts["by_route_status"]
        routes = [route] if route is not None else list(per_route)
        return sum(int(per_route.get(r, {}).get(str(status), 0)) for r in routes)

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def webhooks(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("GET", "/webhooks")["items"]
        return items

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats")
        return result
