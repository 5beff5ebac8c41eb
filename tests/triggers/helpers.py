"""Runs started straight over HTTP, so the trigger under test shares no state with the setup."""

from __future__ import annotations

import requests

from tests.conftest import DEV_TOKEN


def start_run(base_url: str, urls: list[str]) -> tuple[str, str]:
    """Straight HTTP, not our hook: the trigger under test should not share state with the setup."""
    headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
    cid = requests.post(
        f"{base_url}/v1/async/collections",
        json={"name": "t", "requests": [{"url": u} for u in urls]},
        headers=headers,
        timeout=10,
    ).json()["id"]
    rid = requests.post(f"{base_url}/v1/async/collections/{cid}/run", headers=headers, timeout=10).json()[
        "run_id"
    ]
    return cid, rid
