"""What one job contributes to an export: options, the fetched result, its body bytes, its metadata
and its manifest line. Pure functions, no I/O.

Manifest `state` says what the export holds for the job (the job's own verdict is `is_success`):

* `exported`: the body was written (successes; with `only_success=False` also the page an
  unsuccessful job got, e.g. a 404 page or a captcha wall);
* `failed`: the job produced nothing to export (worker failure or timeout), or it did not succeed
  and `only_success=True`;
* `expired`: the body was wanted but the API no longer had it (48 h retention,
  docs/api-notes.md#retention);
* `lost`: the body was wanted but the API lost it (`result_lost`, docs/api-notes.md#results).

Every unsuccessful job carries a `reason` (the job's message, e.g. `http_404`, `blocked: captcha`,
`Worker timeout after 60s`), so the manifest alone explains each non-success.

All JSON is rendered by `dumps` (fixed separators, no NaN): identical input gives identical bytes,
which is what makes a resumed export byte-identical to a clean one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic_core import to_json

from ..client.models import Job, JobStatus, ScrapeResult
from ..runs.rescrape import Attempt, best
from .keys import extension_for

Layout = Literal["files", "jsonl"]
State = Literal["exported", "failed", "expired", "lost"]
STATES: tuple[State, ...] = ("exported", "failed", "expired", "lost")
INCLUDE_CHOICES = ("content", "extracted_data", "screenshot", "network_requests", "metadata")
FORMAT_VERSION = "scrapingpros-export/1"


def default_include(layout: str) -> frozenset[str]:
    """Everything, except per-job metadata *objects* in the `files` layout: the manifest already has
    each job's metadata, and one more object per job doubles the storage requests. In `jsonl` the
    metadata rides inside each record at no extra cost."""
    return frozenset(INCLUDE_CHOICES) - ({"metadata"} if layout == "files" else set())


_BODY_FIELDS = frozenset(
    {"html", "markdown", "body_base64", "screenshot", "extracted_data", "network_requests"}
)


def dumps(obj: Any, *, sort_keys: bool = False) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=sort_keys)


def json_line(obj: Any) -> bytes:
    """One compact JSON line, UTF-8. pydantic-core's serializer (Rust): twice as fast as `json` on
    page-sized strings, and just as deterministic — keys in insertion order, which is our fixed
    order for our own objects and the API's order for the objects it sends."""
    return to_json(obj) + b"\n"


def iso_or_none(value: datetime | None) -> str | None:
    """UTC, `Z`; milliseconds unless the value has finer digits (then microseconds, so the high-water
    mark read back from the manifest is exact)."""
    if value is None:
        return None
    utc = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    spec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class ExportOptions:
    layout: Layout = "files"
    include: frozenset[str] = frozenset()  # empty: `default_include(layout)`
    only_success: bool = False
    part_max_bytes: int = 64 * 1024 * 1024
    part_max_records: int = 5000

    def __post_init__(self) -> None:
        if self.layout not in ("files", "jsonl"):
            raise ValueError(f"layout must be 'files' or 'jsonl', got {self.layout!r}.")
        if not self.include:
            object.__setattr__(self, "include", default_include(self.layout))
        unknown = sorted(set(self.include) - set(INCLUDE_CHOICES))
        if unknown:
            raise ValueError(f"include has unknown item(s) {unknown}; choose from {list(INCLUDE_CHOICES)}.")
        if self.part_max_bytes < 1 or self.part_max_records < 1:
            raise ValueError("part_max_bytes and part_max_records must be positive.")

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the bytes written: a resume must use the same values."""
        return {
            "format": FORMAT_VERSION,
            "layout": self.layout,
            "include": sorted(self.include),
            "only_success": self.only_success,
            "part_max_bytes": self.part_max_bytes if self.layout == "jsonl" else None,
            "part_max_records": self.part_max_records if self.layout == "jsonl" else None,
        }


@dataclass(frozen=True)
class Fetched:
    """A terminal job with what the API could give for it."""

    job: Job
    result: ScrapeResult | None
    state: State
    reason: str | None = None
    age_hours: float | None = None  # of an expired body, from the API's typed 404
    # Merged export (merge.py): `job` is the best attempt, `origin` the original run's job, whose
    # id and `completed_at` place the line in the primary walk (resume state keys on them).
    origin: Job | None = None
    attempts: tuple[Attempt, ...] | None = None

    @property
    def walked(self) -> Job:
        """The job of the walked (original) run this line stands for."""
        return self.origin or self.job


@dataclass(frozen=True)
class Body:
    data: bytes
    ext: str
    content_type: str
    text: str | None  # text bodies as sent (jsonl keeps them readable)
    b64: str | None  # binary bodies as sent
    sha256: str = ""

    @classmethod
    def of(cls, data: bytes, ext: str, content_type: str, text: str | None, b64: str | None) -> Body:
        return cls(data, ext, content_type, text, b64, sha256_hex(data))


def sha256_hex(data: bytes) -> str:
    """sha256 fed in slices under 2 KiB. hashlib releases the GIL for larger inputs; with fetch,
    compression and storage threads busy, getting it back can cost a whole switch interval (5 ms)
    per call, which made hashing small bodies 30x slower than the hashing itself."""
    digest, view = hashlib.sha256(), memoryview(data)
    for start in range(0, len(view), 2047):
        digest.update(view[start : start + 2047])
    return digest.hexdigest()


def wants_body(job: Job, options: ExportOptions) -> bool:
    return job.status == JobStatus.COMPLETED.value and (bool(job.is_success) or not options.only_success)


def reason_of(job: Job) -> str | None:
    if job.is_success:
        return None
    if job.message:
        return job.message
    if job.block_reason not in (None, "none"):
        return f"blocked: {job.block_reason}"
    if job.status_code is not None:
        return f"http_{job.status_code}"
    return f"job {job.status}"


def body_of(result: ScrapeResult) -> Body | None:
    if result.body_base64 is not None:
        data = _b64(result.body_base64, "body_base64")
        mime = result.content_type or "application/octet-stream"
        return Body.of(data, extension_for(mime), mime, None, result.body_base64)
    if result.html is not None:
        return Body.of(result.html.encode("utf-8"), "html", "text/html; charset=utf-8", result.html, None)
    if result.markdown is not None:
        return Body.of(
            result.markdown.encode("utf-8"), "md", "text/markdown; charset=utf-8", result.markdown, None
        )
    return None


def screenshot_of(result: ScrapeResult) -> bytes | None:
    return _b64(result.screenshot, "screenshot") if result.screenshot else None


def _b64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"The API sent a `{field}` that is not valid base64; nothing was written for this job. "
            "Report this to ScrapingPros support with the job id."
        ) from None


def metadata(job: Job, result: ScrapeResult | None) -> dict[str, Any]:
    """The job as the API described it, plus the result's small fields (never its bodies)."""
    meta: dict[str, Any] = job.model_dump(mode="json", exclude={"result"})
    if result is not None:
        meta["result"] = result.model_dump(mode="json", exclude=set(_BODY_FIELDS))
    return meta


def metadata_json(job: Job, result: ScrapeResult | None) -> bytes:
    """`metadata()` as JSON, the same bytes `json_line` gives for it, without the dicts in between."""
    meta = job.model_dump_json(exclude={"result"})
    if result is None:
        return meta.encode("utf-8")
    small = result.model_dump_json(exclude=set(_BODY_FIELDS))
    return f'{meta[:-1]},"result":{small}}}'.encode()


def manifest_line(
    fetched: Fetched,
    *,
    key: str | None = None,
    line: int | None = None,
    body: Body | None = None,
    objects: list[str] | None = None,
) -> dict[str, Any]:
    job, walked = fetched.job, fetched.walked
    entry: dict[str, Any] = {
        "job_id": walked.job_public_id,
        "custom_id": job.custom_id,
        "url": job.url,
        "status": job.status,
        "is_success": job.is_success,
        "status_code": job.status_code,
        "block_reason": job.block_reason,
        "completed_at": iso_or_none(walked.completed_at),
        "state": fetched.state,
        "reason": fetched.reason,
        "key": key,
        "line": line,
        "bytes": len(body.data) if body else 0,
        "sha256": body.sha256 if body else None,
        "content_type": body.content_type if body else None,
        "objects": objects or [],
    }
    if fetched.attempts is not None:
        entry["best_round"] = best(fetched.attempts).round
        entry["attempts"] = [attempt.model_dump(mode="json") for attempt in fetched.attempts]
    return entry
