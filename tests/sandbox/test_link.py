"""The link cap (docs/sandbox.md#link-model): `/v1` response bodies leave at `link_mbps` per
connection, so 1 MB at 8 Mbit/s takes a second; parallel connections are not slowed by each other,
`/_sandbox/` routes are never slowed, latency faults add to the link time, and a fault profile's
`link_mbps` overrides the config's while it is set.

Lower bounds are tight (pacing guarantees them); upper bounds leave room for a loaded machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from airflow_provider_scrapingpros.sandbox import Sandbox, SandboxConfig
from airflow_provider_scrapingpros.sandbox.cli import build_parser

from .helpers import R_RESULT, http, list_jobs, run_path, submit, url, wait_run

BIG = 1_000_000


def big_result_path(api: httpx.Client) -> str:
    """The `/result` path of a finished job whose body is a 1 MB page (about 1,000,400 bytes of JSON)."""
    cid, rid = submit(api, [{"url": url("link/big", sp_bytes=BIG)}])
    wait_run(api, cid, rid)
    (job,) = list_jobs(api, cid, rid)
    return f"{run_path(cid, rid)}/jobs/{job['job_public_id']}/result"


def timed_get(api: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    resp = api.get(path)
    return resp, time.perf_counter() - started


def link_seconds(size: int, mbps: float) -> float:
    return size * 8 / (mbps * 1e6)


def test_a_capped_link_paces_a_large_v1_body(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(link_mbps=8, time_scale=0.01)
    with http(sb.base_url) as api:
        path = big_result_path(api)
        resp, elapsed = timed_get(api, path)
        assert resp.status_code == 200 and len(resp.json()["html"]) == BIG
        assert 0.9 <= elapsed < 2.0, elapsed
        assert elapsed >= 0.98 * link_seconds(len(resp.content), 8)
        # The keep-alive connection is still usable after a chunked write.
        assert api.get("/v1/health").status_code == 200


def test_the_cap_is_per_connection(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(link_mbps=8, time_scale=0.01)
    with http(sb.base_url) as api:
        path = big_result_path(api)
    clients = [http(sb.base_url), http(sb.base_url)]
    for client in clients:  # connect first, so the timed part is the two downloads only
        assert client.get("/v1/health").status_code == 200
    start = threading.Barrier(len(clients))
    took: list[float] = []

    def download(client: httpx.Client) -> None:
        start.wait()
        resp, elapsed = timed_get(client, path)
        assert resp.status_code == 200
        took.append(elapsed)

    threads = [threading.Thread(target=download, args=(client,)) for client in clients]
    begun = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = time.perf_counter() - begun
    for client in clients:
        client.close()
    assert len(took) == 2 and min(took) >= 0.9, took
    # One shared 8 Mbit/s pipe would need 2 s for both; two per-connection links need 1 s.
    assert together < 1.7, (together, took)


def test_sandbox_routes_are_not_slowed(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(link_mbps=0.008)  # 1,000 bytes/s
    # Rules that match nothing, only to make GET /_sandbox/faults a body of about 1 KB.
    sb.control.set_faults({"rules": [{"match": f"GET /nowhere/{i}", "latency_ms": i} for i in range(10)]})
    with http(sb.base_url) as api:
        plans, plans_s = timed_get(api, "/v1/plans")
        assert plans.status_code == 200 and plans_s >= 0.95 * link_seconds(len(plans.content), 0.008)
        for path in ("/_sandbox/config", "/_sandbox/faults"):
            resp, elapsed = timed_get(api, path)
            # 0.45 s or more each if they were paced
            assert resp.status_code == 200 and len(resp.content) > 450, (path, len(resp.content))
            assert elapsed < 0.25, (path, elapsed)
        assert api.get("/_sandbox/config").json()["link_mbps"] == 0.008


def test_without_a_cap_the_download_is_fast_and_a_profile_cap_overrides(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(time_scale=0.01)
    with http(sb.base_url) as api:
        path = big_result_path(api)
        _, uncapped = timed_get(api, path)
        assert uncapped < 0.5, uncapped
        assert sb.control.config()["link_mbps"] is None

        sb.control.set_faults({"link_mbps": 16})
        assert sb.control.faults()["link_mbps"] == 16
        _, capped = timed_get(api, path)
        assert 0.45 <= capped < 1.5, capped

        sb.control.set_faults({})  # a profile without link_mbps: back to the config's (none)
        assert sb.control.faults()["link_mbps"] is None
        _, again = timed_get(api, path)
        assert again < 0.5, again


def test_a_profile_cap_overrides_the_config_cap_until_reset(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(link_mbps=0.01, time_scale=0.01)  # the setup calls are small bodies
    with http(sb.base_url) as api:
        sb.control.set_faults({"link_mbps": 1000})
        path = big_result_path(api)
        _, fast = timed_get(api, path)
        assert fast < 0.5, fast
        sb.control.reset()  # the start-up profile has no link_mbps: the config's 10 kbit/s again
        health, slow = timed_get(api, "/v1/health")
        assert slow >= 0.95 * link_seconds(len(health.content), 0.01)


def test_latency_faults_add_to_the_link_time(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(link_mbps=8, time_scale=0.01)
    with http(sb.base_url) as api:
        path = big_result_path(api)
        sb.control.set_faults({"rules": [{"match": R_RESULT, "latency_ms": 300}]})
        resp, elapsed = timed_get(api, path)
        assert resp.status_code == 200
        assert 0.3 + 0.98 * link_seconds(len(resp.content), 8) <= elapsed < 2.5, elapsed


@pytest.mark.parametrize("bad", [0, -1, "8", True, [8]])
def test_a_bad_profile_link_mbps_is_a_422(sandbox_factory: Callable[..., Sandbox], bad: object) -> None:
    sb = sandbox_factory()
    resp = httpx.put(f"{sb.base_url}/_sandbox/faults", json={"link_mbps": bad})
    assert resp.status_code == 422 and resp.json()["detail"].startswith("link_mbps:"), resp.text
    assert sb.control.faults()["link_mbps"] is None


def test_link_mbps_from_the_command_line_and_the_environment() -> None:
    args = build_parser().parse_args(["--link-mbps", "2.5"])
    assert SandboxConfig.from_env({}, **vars(args)).link_mbps == 2.5
    assert SandboxConfig.from_env({"SP_SANDBOX_LINK_MBPS": " 8 "}).link_mbps == 8.0
    assert SandboxConfig.from_env({"SP_SANDBOX_LINK_MBPS": ""}).link_mbps is None
    assert SandboxConfig().link_mbps is None
    for bad in ("0", "-3", "inf", "fast"):
        with pytest.raises(ValidationError, match="link_mbps"):
            SandboxConfig.from_env({"SP_SANDBOX_LINK_MBPS": bad})
