"""A rescrape chain built by hand on the sandbox (original run, round 1, round 2), the expected
merged export computed from the sandbox's own bytes, and a runner for merged exports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.client.cost import CostEstimate
from airflow_provider_scrapingpros.export.chain import ChainRun
from airflow_provider_scrapingpros.export.content import ExportOptions
from airflow_provider_scrapingpros.export.runner import ExportRunner
from airflow_provider_scrapingpros.export.session import OnExpired
from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from tests.export.helpers import LOG, ground_truth, make_run

N = 60
# Flaky targets answer 503 while this rule is set (the original run and round 1), then succeed.
FLAKY_RULE = {"match": "*/flaky/*", "outcome": {"status": 503}}
RESCRAPED = {"blocked", "timeout", "worker_failure", "target_5xx", "target_429"}


def chain_requests() -> list[dict[str, Any]]:
    """Mixed outcomes: successes, a captcha (blocked in every round), a block that `retry_on_block`
    beats (round 1 wins), a 404 (never rescraped), a 503 that stays, a flaky 503 (round 2 wins), a
    worker failure; some bodies over the inline cap, one request without a custom_id."""
    out = []
    for i in range(N):
        kind = i % 8
        path, query = f"m/{i}", ""
        if kind == 1:
            query = "sp_captcha=1"
        elif kind == 2:
            query = "sp_block_attempts=1" + ("&sp_bytes=300000" if i % 16 == 2 else "")
        elif kind == 3:
            query = "sp_status=404"
        elif kind == 4:
            query = "sp_status=503"
        elif kind == 5:
            path = f"flaky/{i}"
        elif kind == 6:
            query = "sp_fail=connection+reset"
        elif i % 16 == 0:
            query = "sp_bytes=300000"
        item: dict[str, Any] = {"url": f"https://example.com/{path}" + (f"?{query}" if query else "")}
        if i != N - 6:  # kind 2: its files key falls back to the original job id in every round
            item["custom_id"] = f"m-{i:03d}"
        out.append(item)
    return out


def _retryable(job: dict[str, Any]) -> bool:
    if job["is_success"] or job["status"] == "processing":
        return False
    return job["status"] in ("failed", "timeout") or job.get("status_code") != 404


@dataclass
class Chain:
    runs: list[ChainRun]
    truths: list[dict[str, dict[str, Any]]]  # per round: job id -> job as the sandbox lists it

    @property
    def later(self) -> list[ChainRun]:
        return self.runs[1:]

    def by_key(self, round_no: int) -> dict[tuple[str, str], dict[str, Any]]:
        return {(j["url"], j.get("custom_id") or ""): j for j in self.truths[round_no].values()}


def build_chain(sandbox: Any, hook: ScrapingProsHook) -> Chain:
    sandbox.control.set_rules([FLAKY_RULE])
    items = chain_requests()
    cid, rid, _ = make_run(hook, items)
    runs, truths = [ChainRun(cid, rid)], [ground_truth(sandbox.base_url, cid, rid)]
    for round_no in (1, 2):
        if round_no == 2:
            sandbox.control.clear_rules()
        failed = [j for j in truths[-1].values() if _retryable(j)]
        again = [
            {
                "url": j["url"],
                **({"custom_id": j["custom_id"]} if j.get("custom_id") else {}),
                "retry_on_block": True,
            }
            for j in failed
        ]
        rcid, rrid, _ = make_run(hook, again)
        runs.append(ChainRun(rcid, rrid))
        truths.append(ground_truth(sandbox.base_url, rcid, rrid))
    return Chain(runs, truths)


def expected_lines(chain: Chain) -> dict[str, dict[str, Any]]:
    """Per original job id: the attempts list and the best attempt's sandbox job."""
    later = [chain.by_key(n) for n in range(1, len(chain.runs))]
    out = {}
    for jid, job in chain.truths[0].items():
        key = (job["url"], job.get("custom_id") or "")
        tries = [(0, job), *((n + 1, by[key]) for n, by in enumerate(later) if key in by)]
        best = next((t for t in tries if t[1]["is_success"]), tries[-1])
        out[jid] = {
            "best_round": best[0],
            "best": best[1],
            "attempts": [
                {
                    "round": n,
                    "run_id": chain.runs[n].run_id,
                    "job_id": j["job_public_id"],
                    "status": j["status"],
                    "is_success": bool(j["is_success"]),
                }
                for n, j in tries
            ],
        }
    return out


def merged_runner(
    hook: ScrapingProsHook,
    root: ObjectStoragePath,
    chain: list[ChainRun],
    *,
    store: ExportStore | None = None,
    on_expired: OnExpired = "record",
    segment_size: int = 500,
    cost: CostEstimate | None = None,
    **options: Any,
) -> ExportRunner:
    return ExportRunner(
        hook,
        store or ExportStore(root),
        chain[0].collection_id,
        chain[0].run_id,
        ExportOptions(**options),
        on_expired=on_expired,
        segment_size=segment_size,
        log=LOG,
        cost=cost,
        later_runs=chain[1:],
    )
