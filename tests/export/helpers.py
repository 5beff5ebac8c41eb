"""Helpers for the export tests: runs with chosen outcomes, the sandbox's own bytes (read over raw
HTTP, independent of our hook and models), and digests of whole export trees."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from typing import Any

import requests
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.client.cost import CostEstimate
from airflow_provider_scrapingpros.client.models import Run
from airflow_provider_scrapingpros.export.content import ExportOptions
from airflow_provider_scrapingpros.export.runner import ExportRunner, PassOutcome
from airflow_provider_scrapingpros.export.session import OnExpired
from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from tests.conftest import DEV_TOKEN

LOG = logging.getLogger("tests.export")
JOBS_ROUTE = "GET /v1/async/collections/{cid}/runs/{rid}/jobs"
RESULT_ROUTE = "GET /v1/async/collections/{cid}/runs/{rid}/jobs/{jid}/result"
RUN_ROUTE = "GET /v1/async/collections/{cid}/runs/{rid}"

# One slot per outcome the issue lists; the rest of each block of 20 are plain successes.
_HINTS = {
    1: ("sp_status=404", None),
    2: ("sp_captcha=1", None),
    3: ("sp_fail=connection+reset", None),
    4: ("sp_timeout=1", None),
    5: ("sp_bytes=300000", None),  # over the 256 KB inline cap: needs /result
    6: ("sp_binary=application/pdf", None),
    7: ("sp_extractable=1", {"title": "css:h1"}),
}


def mixed_requests(n: int, prefix: str = "p", *, latency_ms: int | None = None) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        hint, extract = _HINTS.get(i % 20, ("", None))
        query = "&".join(q for q in (hint, f"sp_latency_ms={latency_ms}" if latency_ms else "") if q)
        item: dict[str, Any] = {"url": f"https://example.com/{prefix}/{i}" + (f"?{query}" if query else "")}
        item["custom_id"] = f"{prefix}-{i:05d}"
        if extract:
            item["extract"] = extract
        out.append(item)
    return out


def start_run(
    hook: ScrapingProsHook, items: list[dict[str, Any]], name: str = "export-test"
) -> tuple[str, str]:
    collection = hook.create_collection(name, items)
    return collection.id, hook.create_run(collection.id).run_id


def wait_terminal(hook: ScrapingProsHook, cid: str, rid: str, timeout: float = 60) -> Run:
    deadline = time.monotonic() + timeout
    while not (run := hook.get_run(cid, rid)).is_terminal:
        assert time.monotonic() < deadline, f"run {rid} still {run.status} after {timeout}s"
        time.sleep(0.05)
    return run


def make_run(hook: ScrapingProsHook, items: list[dict[str, Any]]) -> tuple[str, str, Run]:
    cid, rid = start_run(hook, items)
    return cid, rid, wait_terminal(hook, cid, rid)


def make_aged_run(sb: Any, hook: ScrapingProsHook, n: int) -> dict[str, Any]:
    """On a manual-clock sandbox: even jobs complete 49 h before odd ones, so at export time the
    bodies of even jobs are past the 48 h retention. Some bodies are over the inline cap."""
    hours_49 = 49 * 3600
    items = []
    for i in range(n):
        latency = 1000 if i % 2 == 0 else hours_49 * 1000
        size = "&sp_bytes=300000" if i % 10 in (0, 1) else ""
        items.append(
            {"url": f"https://example.com/aged/{i}?sp_latency_ms={latency}{size}", "custom_id": f"a-{i:02d}"}
        )
    cid, rid = start_run(hook, items)
    sb.control.advance(10)
    sb.control.advance(hours_49)
    assert hook.get_run(cid, rid).status == "completed"
    return {"hook": hook, "cid": cid, "rid": rid, "truth": ground_truth(sb.base_url, cid, rid)}


def body_bytes(result: dict[str, Any]) -> bytes | None:
    if result.get("body_base64") is not None:
        return base64.b64decode(result["body_base64"])
    for field in ("html", "markdown"):
        if result.get(field) is not None:
            return str(result[field]).encode("utf-8")
    return None


def ground_truth(base_url: str, cid: str, rid: str) -> dict[str, dict[str, Any]]:
    """Every job of the run with the sha256 of its body, read with plain `requests`."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {DEV_TOKEN}"
    run_url = f"{base_url}/v1/async/collections/{cid}/runs/{rid}"
    jobs: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params = {"limit": "100", "include_results": "true", **({"cursor": cursor} if cursor else {})}
        page = session.get(f"{run_url}/jobs", params=params, timeout=30).json()
        for job in page["items"]:
            result = job.get("result")
            if job["status"] == "completed" and result is None:
                result = session.get(f"{run_url}/jobs/{job['job_public_id']}/result", timeout=30).json()
            body = body_bytes(result) if result else None
            job["body_sha256"] = hashlib.sha256(body).hexdigest() if body is not None else None
            job["body_size"] = len(body) if body is not None else 0
            job["extracted_data"] = (result or {}).get("extracted_data")
            job.pop("result", None)
            jobs[job["job_public_id"]] = job
        if not page["has_more"]:
            return jobs
        cursor = page["cursor_next"]


def tree(root: ObjectStoragePath) -> dict[str, str]:
    """Relative key -> sha256 of every object under `root`."""
    fs, base = root.fs, str(root.path).rstrip("/")
    fs.invalidate_cache(base)
    try:
        found = fs.find(base)
    except FileNotFoundError:
        return {}
    return {p[len(base) + 1 :]: hashlib.sha256(fs.cat_file(p)).hexdigest() for p in found}


def runner(
    hook: ScrapingProsHook,
    root: ObjectStoragePath,
    cid: str,
    rid: str,
    *,
    store: ExportStore | None = None,
    on_expired: OnExpired = "record",
    segment_size: int = 500,
    cost: CostEstimate | None = None,
    max_streams: int = 1,
    **options: Any,
) -> ExportRunner:
    return ExportRunner(
        hook,
        store or ExportStore(root),
        cid,
        rid,
        ExportOptions(**options),
        on_expired=on_expired,
        segment_size=segment_size,
        log=LOG,
        cost=cost,
        max_streams=max_streams,
    )


def export(hook: ScrapingProsHook, root: ObjectStoragePath, cid: str, rid: str, **kwargs: Any) -> PassOutcome:
    return runner(hook, root, cid, rid, **kwargs).run_pass(follow=False)


def read_manifest(root: ObjectStoragePath) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in (root / "_manifest.jsonl").read_text().splitlines()]


class CountingStore(ExportStore):
    """An `ExportStore` that also records every key it writes (all writes go through these four)."""

    def __init__(self, root: ObjectStoragePath) -> None:
        super().__init__(root)
        self.keys: list[str] = []

    def create(self, key: str, data: bytes) -> bool:
        made = super().create(key, data)
        self.keys += [str(key)] if made else []
        return made

    def put(self, key: str, data: bytes, *, verify: bool = False) -> bool:
        wrote = super().put(key, data, verify=verify)
        self.keys += [str(key)] if wrote else []
        return wrote

    def put_many(self, items: list[tuple[str, bytes]], *, verify: bool = False) -> int:
        before = self.writes
        kept = [k for k, d in items if verify and self.matches(k, len(d), hashlib.sha256(d).hexdigest())]
        written = super().put_many([(k, d) for k, d in items if k not in kept])
        assert self.writes - before == written
        self.keys += [str(k) for k, _ in items if k not in kept]
        return written

    def put_file(
        self, key: str, local: Any, size: Any = None, sha256: Any = None, *, verify: bool = False
    ) -> bool:
        wrote = super().put_file(key, local, size, sha256, verify=verify)
        self.keys += [str(key)] if wrote else []
        return wrote


class HidingProxy:
    """A loopback HTTP proxy in front of the sandbox that drops chosen job ids from jobs listings
    while `hide` holds them: an API whose listing skipped jobs."""

    def __init__(self, upstream: str) -> None:
        import http.server
        import json
        import threading

        self.hide: set[str] = set()
        self.hide_listings = 1 << 30  # hide only in this many more listing answers
        self.listings = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept")}
                answer = requests.get(upstream + self.path, headers=headers, timeout=30)
                body = answer.content
                if self.path.split("?")[0].endswith("/jobs") and answer.status_code == 200:
                    proxy.listings += 1
                    page = json.loads(body)
                    hidden = proxy.hide if proxy.hide_listings > 0 else set()
                    proxy.hide_listings -= 1
                    page["items"] = [j for j in page["items"] if j["job_public_id"] not in hidden]
                    body = json.dumps(page).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
