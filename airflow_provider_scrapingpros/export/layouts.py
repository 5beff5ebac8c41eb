"""The two layouts: how one fetched job becomes objects and a manifest line.

`files`: one object per job, `<stem>.<ext>` (`html`, `md`, or from the content type for binary
bodies, decoded from base64), with optional side objects beside it: `<stem>.extracted.json`,
`<stem>.screenshot.png`, `<stem>.network.json`, `<stem>.job.json` (the job's metadata). The stem
comes from `KeyAllocator` (custom_id made safe, else the job id).

`jsonl`: one record per exported job in gzip JSON Lines parts (`parts.PartWriter`): the job's
metadata plus its content (text as text, binary as base64) and the selected extras. The manifest
line points at the part (`key`) and the record's line number in it (`line`).

Only `exported` jobs produce objects; every job produces a manifest line. `bytes`/`sha256` in the
manifest are those of the body itself in both layouts (decoded for binary bodies), so the two
layouts of the same run have the same checksums.
"""

from __future__ import annotations

from typing import Any

from .content import (
    Body,
    ExportOptions,
    Fetched,
    body_of,
    dumps,
    json_line,
    manifest_line,
    metadata,
    metadata_json,
    screenshot_of,
)
from .keys import SIDE_SUFFIXES as SIDE_SUFFIXES  # re-exported: its home is keys.py, which needs it
from .keys import KeyAllocator
from .parts import PartWriter

Objects = list[tuple[str, bytes]]


def _json_bytes(value: Any) -> bytes:
    return (dumps(value, sort_keys=True) + "\n").encode("utf-8")


def stem_of(entry: dict[str, Any]) -> str | None:
    """The stem a `files` manifest line used (to rebuild the allocator when resuming)."""
    key: str | None = entry.get("key")
    if key is not None:
        return key.rsplit(".", 1)[0]
    objects: list[str] = entry.get("objects") or []
    for suffix in SIDE_SUFFIXES.values():
        if objects and objects[0].endswith(f".{suffix}"):
            return objects[0][: -len(suffix) - 1]
    return None


class FilesLayout:
    def __init__(self, options: ExportOptions, allocator: KeyAllocator) -> None:
        self.options = options
        self.allocator = allocator

    def add(self, fetched: Fetched) -> tuple[dict[str, Any], Objects]:
        if fetched.state != "exported" or fetched.result is None:
            return manifest_line(fetched), []
        include, result, job = self.options.include, fetched.result, fetched.job
        body = body_of(result) if "content" in include else None
        parts: list[tuple[str, bytes]] = []  # (suffix, data) until the stem is known
        if body is not None:
            parts.append((body.ext, body.data))
        if "extracted_data" in include and result.extracted_data is not None:
            parts.append((SIDE_SUFFIXES["extracted_data"], _json_bytes(result.extracted_data)))
        if "screenshot" in include and (shot := screenshot_of(result)) is not None:
            parts.append((SIDE_SUFFIXES["screenshot"], shot))
        if "network_requests" in include and result.network_requests is not None:
            parts.append((SIDE_SUFFIXES["network_requests"], _json_bytes(result.network_requests)))
        if "metadata" in include:
            parts.append((SIDE_SUFFIXES["metadata"], _json_bytes(metadata(job, result))))
        if not parts:
            return manifest_line(fetched), []
        # Allocate only when something is written: `stem_of` must be able to recover every stem.
        stem = self.allocator.allocate(job.custom_id, fetched.walked.job_public_id)
        objects = [(f"{stem}.{suffix}", data) for suffix, data in parts]
        key = objects[0][0] if body is not None else None
        return manifest_line(fetched, key=key, body=body, objects=[k for k, _ in objects]), objects


class JsonlLayout:
    def __init__(self, options: ExportOptions, parts: PartWriter) -> None:
        self.options = options
        self.parts = parts

    def add(self, fetched: Fetched) -> tuple[dict[str, Any], Objects]:
        if fetched.state != "exported" or fetched.result is None:
            return manifest_line(fetched), []
        include = self.options.include
        body = body_of(fetched.result) if "content" in include else None
        key = self.parts.key
        line = self.parts.add(self._record(fetched, body))
        return manifest_line(fetched, key=key, line=line, body=body, objects=[key]), []

    def _record(self, fetched: Fetched, body: Body | None) -> bytes:
        job, result, include = fetched.job, fetched.result, self.options.include
        assert result is not None
        record: dict[str, Any] = {
            "job_id": fetched.walked.job_public_id,  # the manifest line's: records and lines join on it
            "custom_id": job.custom_id,
            "url": job.url,
            "content": body.text if body else None,
            "content_base64": body.b64 if body else None,
            "content_type": body.content_type if body else None,
            "bytes": len(body.data) if body else 0,
            "sha256": body.sha256 if body else None,
        }
        if "extracted_data" in include:
            record["extracted_data"] = result.extracted_data
        if "screenshot" in include:
            record["screenshot_base64"] = result.screenshot
        if "network_requests" in include:
            record["network_requests"] = result.network_requests
        if "metadata" not in include:
            return json_line(record)
        # `"job": metadata(job, result)` as the last key, spliced in as JSON: building the dicts
        # only to serialise them again was a fifth of the time spent per record.
        return b'%s,"job":%s}\n' % (json_line(record)[:-2], metadata_json(job, result))
