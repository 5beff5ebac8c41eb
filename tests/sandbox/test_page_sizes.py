"""Page sizes (docs/sandbox.md#link-model): with `body_size_mean` a page without `sp_bytes` gets a
lognormal size with that mean, drawn from (seed, URL), clamped to 1 KB-5 MB, the same on every read;
without it pages stay 1-1.5 KB. Served bodies have exactly the size `body_size()` promises."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from airflow_provider_scrapingpros.sandbox import Sandbox, SandboxConfig
from airflow_provider_scrapingpros.sandbox.cli import build_parser
from airflow_provider_scrapingpros.sandbox.outcomes import outcome_for
from airflow_provider_scrapingpros.sandbox.results import (
    MAX_DRAWN_BYTES,
    MIN_DRAWN_BYTES,
    PageSizes,
    body_size,
)

from .helpers import http, list_jobs, submit, url, wait_run

URLS = [url(f"sizes/{i}") for i in range(2000)]


def sizes_of(model: PageSizes, urls: list[str] = URLS) -> list[int]:
    return [body_size(u, outcome_for(u, []), model) for u in urls]


def test_the_mean_of_drawn_sizes_is_the_configured_mean() -> None:
    drawn = sizes_of(PageSizes(mean=100_000))
    assert abs(statistics.fmean(drawn) - 100_000) < 5_000
    # lognormal, not constant: the median sits below the mean at exp(mu) = mean * exp(-sigma**2 / 2)
    assert 80_000 < statistics.median(drawn) < 96_000
    assert len(set(drawn)) > 1900


def test_sizes_are_deterministic_per_seed_and_url() -> None:
    model = PageSizes(mean=100_000, sigma=0.5, seed=3)
    assert sizes_of(model) == sizes_of(PageSizes(mean=100_000, sigma=0.5, seed=3))
    assert sizes_of(model) != sizes_of(PageSizes(mean=100_000, sigma=0.5, seed=4))
    config = SandboxConfig(body_size_mean=100_000, seed=3)
    assert PageSizes.from_config(config) == model
    assert PageSizes(mean=50_000, sigma=0).default_size(URLS[0]) == 50_000


def test_sizes_are_clamped_to_1kb_and_5mb() -> None:
    wide = sizes_of(PageSizes(mean=100_000, sigma=4))
    assert min(wide) == MIN_DRAWN_BYTES == 1024 and max(wide) == MAX_DRAWN_BYTES == 5 * 1024 * 1024
    assert set(sizes_of(PageSizes(mean=10), URLS[:50])) == {MIN_DRAWN_BYTES}
    assert set(sizes_of(PageSizes(mean=10**12), URLS[:50])) == {MAX_DRAWN_BYTES}
    assert 0 < PageSizes(mean=100_000, sigma=1e6).default_size(URLS[0]) <= MAX_DRAWN_BYTES  # no overflow


def test_sp_bytes_wins_and_no_mean_keeps_the_old_sizes() -> None:
    hinted = url("sizes/hinted", sp_bytes=5000)
    assert body_size(hinted, outcome_for(hinted, []), PageSizes(mean=100_000)) == 5000
    old = sizes_of(PageSizes())
    assert all(1024 <= size < 1536 for size in old)
    assert old == [body_size(u, outcome_for(u, [])) for u in URLS]


def test_served_bodies_have_the_drawn_sizes(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(body_size_mean=60_000, body_size_sigma=0.8, seed=5, time_scale=0.01,
                         inline_result_cap_bytes=60_000)  # fmt: skip
    model = PageSizes(mean=60_000, sigma=0.8, seed=5)
    targets = [url(f"served/{i}") for i in range(12)] + [url("served/hint", sp_bytes=2000)]
    with http(sb.base_url) as api:
        cid, rid = submit(api, [{"url": target} for target in targets])
        wait_run(api, cid, rid)
        jobs = list_jobs(api, cid, rid, include_results="true")
        assert len(jobs) == len(targets)
        inlined = 0
        for job in jobs:
            target = job["url"]
            expected = 2000 if "sp_bytes" in target else model.default_size(target)
            result = api.get(f"/v1/async/collections/{cid}/runs/{rid}/jobs/{job['job_public_id']}/result")
            assert len(result.json()["html"]) == expected
            # the jobs page inlines exactly the bodies the cap allows, judged on the same size
            assert (job["result"] is not None) == (expected <= 60_000), (target, expected)
            inlined += job["result"] is not None
        assert 0 < inlined < len(targets)
        sync = api.post("/v1/sync/scrape", json={"url": targets[0]}).json()
        assert len(sync["html"]) == model.default_size(sync["url"]) == model.default_size(targets[0])
    config = sb.control.config()
    assert (config["body_size_mean"], config["body_size_sigma"], config["seed"]) == (60_000, 0.8, 5)


def test_size_options_from_the_command_line_and_the_environment() -> None:
    args = build_parser().parse_args(["--body-size-mean", "50000", "--body-size-sigma", "0.25"])
    config = SandboxConfig.from_env({}, **vars(args))
    assert (config.body_size_mean, config.body_size_sigma) == (50_000, 0.25)
    env = {"SP_SANDBOX_BODY_SIZE_MEAN": "100000", "SP_SANDBOX_BODY_SIZE_SIGMA": "1"}
    assert (SandboxConfig.from_env(env).body_size_mean, SandboxConfig.from_env(env).body_size_sigma) == (
        100_000,
        1.0,
    )
    assert SandboxConfig.from_env({"SP_SANDBOX_BODY_SIZE_MEAN": ""}).body_size_mean is None
    assert (SandboxConfig().body_size_mean, SandboxConfig().body_size_sigma) == (None, 0.5)
    for name, bad in (("BODY_SIZE_MEAN", "0"), ("BODY_SIZE_MEAN", "1.5"), ("BODY_SIZE_SIGMA", "-1")):
        with pytest.raises(ValidationError, match=name.lower()):
            SandboxConfig.from_env({f"SP_SANDBOX_{name}": bad})
