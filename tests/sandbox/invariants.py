"""The run invariants of docs/api-notes.md#counters-and-invariants (labels I1-I8), checked over plain HTTP on
every run a test completes.

One function so every test asserts the same thing the same way: `assert_run_invariants` reads the
run and walks its jobs three times with small pages (insertion order, `completed_at` asc and desc),
then checks I1-I5 and I7 plus the `failed_jobs` membership rule (docs/api-notes.md#runs). Small
pages matter: they make every walk cross several cursor boundaries, where listing bugs (skips,
repeats) live.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from .helpers import TERMINAL_JOB, TERMINAL_RUN, get_run, http, list_jobs

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@dataclass(frozen=True)
class CheckedRun:
    run: dict[str, Any]
    jobs: list[dict[str, Any]]  # insertion order (= run["job_ids"] order)

    def job(self, job_id: str) -> dict[str, Any]:
        return next(j for j in self.jobs if j["job_public_id"] == job_id)


def parse_stamp(value: str) -> datetime:
    assert ISO_MS_Z.match(value), f"job stamp {value!r} is not UTC ISO-8601 with ms and 'Z'"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_run_invariants(
    base_url: str, token: str, cid: str, rid: str, *, page_size: int = 7, wait_s: float = 10.0
) -> CheckedRun:
    """Assert the invariants on a run that has ended (waits up to `wait_s` real seconds for it to end)."""
    with http(base_url, token) as api:
        deadline = time.monotonic() + wait_s
        run = get_run(api, cid, rid)
        while run["status"] not in TERMINAL_RUN and time.monotonic() < deadline:
            time.sleep(0.01)
            run = get_run(api, cid, rid)
        assert run["status"] in TERMINAL_RUN, f"run {rid} still {run['status']!r} after {wait_s}s"
        common = {"limit": page_size}
        jobs = list_jobs(api, cid, rid, **common)
        asc = list_jobs(api, cid, rid, order_by="completed_at", **common)
        desc = list_jobs(api, cid, rid, order_by="completed_at", order_dir="desc", **common)
        final = get_run(api, cid, rid)
    # I6 (callback_status may still move: the webhook goes out after the run is visible as terminal).
    stable = ("status", "success_requests", "failed_requests", "timeout_requests", "failed_jobs", "job_ids")
    assert {k: final[k] for k in stable} == {k: run[k] for k in stable}, "a terminal run changed (I6)"

    ids = [j["job_public_id"] for j in jobs]
    # I1 and "every job listed exactly once across pages", in each of the three walks.
    assert run["total_requests"] == len(run["job_ids"]) == len(jobs), "I1"
    assert ids == run["job_ids"], "default order must be insertion order = job_ids order"
    for walk in (asc, desc):
        walk_ids = [j["job_public_id"] for j in walk]
        assert len(walk_ids) == len(set(walk_ids)) == len(ids), "a job was listed twice or skipped"
        assert set(walk_ids) == set(ids)
    assert [j["job_public_id"] for j in desc] == [j["job_public_id"] for j in reversed(asc)]

    # I5: a terminal run has only terminal jobs, and the counters add up.
    assert all(j["status"] in TERMINAL_JOB for j in jobs), [j["status"] for j in jobs]
    assert all(isinstance(j["is_success"], bool) for j in jobs), "is_success is null only while processing"
    success, failed, timeout = run["success_requests"], run["failed_requests"], run["timeout_requests"]
    assert run["total_requests"] == success + failed + timeout, "I5"

    # I3: the exact split of the counters.
    unsuccessful_completed = [j for j in jobs if j["status"] == "completed" and not j["is_success"]]
    assert success == sum(1 for j in jobs if j["is_success"]), "I3 success"
    assert timeout == sum(1 for j in jobs if j["status"] == "timeout"), "I3 timeout"
    assert failed == sum(1 for j in jobs if j["status"] == "failed") + len(unsuccessful_completed), "I3"

    # I7: stamps unique and strictly increasing under order_by=completed_at.
    stamps = [parse_stamp(j["completed_at"]) for j in asc]
    assert all(a < b for a, b in pairwise(stamps)), "completed_at not strictly increasing (I7)"

    # I4 and the membership rule: failed_jobs = every terminal non-success job, ordered by completed_at.
    assert len(run["failed_jobs"]) == failed + timeout, "I4"
    expected_failed = [
        {"job_id": j["job_public_id"], "url": j["url"], "status": j["status"], "error": j["message"]}
        for j in asc
        if not j["is_success"]
    ]
    listed = [{k: f.get(k) for k in ("job_id", "url", "status", "error")} for f in run["failed_jobs"]]
    assert listed == expected_failed, "failed_jobs members, order or fields"
    return CheckedRun(run=run, jobs=jobs)
