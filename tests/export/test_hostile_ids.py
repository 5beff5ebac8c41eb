"""Hostile custom_ids land safely: inside the destination, under keys every store accepts, never
over the export's own files, one distinct key per job, resolved the same way on every run."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.exceptions import ScrapingProsValidationError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import export, ground_truth, read_manifest, tree, wait_terminal

HOSTILE = [
    "../../etc/passwd",
    "/absolute/path",
    "a/./b/../../../c",
    "..",
    ".",
    "",
    "x" * 255,
    "é" * 255,  # 510 UTF-8 bytes: over a file name's 255
    "日本語/ページ",
    "e\u0301",  # NFD: normalised, hence changed, hence hashed
    "emoji 🚀 launch",
    '<>:"|?*\\ back\\slash',
    "dup",
    "dup",
    "dup",
    "DUP",  # same file as `dup` on case-insensitive file systems
    "CON",
    "_SUCCESS.json",
    "_manifest.jsonl",
    "_export/segments/0000000000.jsonl",
    "page.extracted",
    "trailing.",
    "tab\there",
]
SAFE_SEGMENT = re.compile(r"^[\w][\w.\-]*$")


@pytest.fixture
def hostile_run(sp: SandboxControl, hook: ScrapingProsHook, sandbox: Any) -> dict[str, Any]:
    items = [{"url": f"https://example.com/h/{i}", "custom_id": cid} for i, cid in enumerate(HOSTILE)]
    # A 300-character id never reaches a run (the API's limit is 255; keys.slugify copes anyway,
    # see test_keys): the hook refuses it before sending.
    with pytest.raises(ScrapingProsValidationError, match=r"requests\[1\]\.custom_id"):
        hook.create_collection(
            "hostile", [items[0], {"url": "https://example.com/h/long", "custom_id": "y" * 300}]
        )
    created = hook.create_collection("hostile", items)
    assert created.invalid_items == [] and created.duplicates_skipped == 0
    rid = hook.create_run(created.id).run_id
    wait_terminal(hook, created.id, rid)
    return {"cid": created.id, "rid": rid, "truth": ground_truth(sandbox.base_url, created.id, rid)}


def _check_keys(manifest: list[dict[str, Any]], objects: dict[str, str], truth: dict[str, Any]) -> None:
    keys = [m["key"] for m in manifest]
    assert len(keys) == len(HOSTILE) and None not in keys
    assert len({k.casefold() for k in keys}) == len(keys)  # distinct, even ignoring case
    for entry in manifest:
        key = entry["key"]
        assert objects[key] == truth[entry["job_id"]]["body_sha256"]
        assert not key.startswith(("/", "_", ".")) and unicodedata.is_normalized("NFC", key)
        assert len(key.encode()) <= 1024
        for segment in key.split("/"):
            assert SAFE_SEGMENT.match(segment) and len(segment.encode()) <= 255, key
    assert {k for k in objects if k.startswith("_")} == {"_SUCCESS.json", "_manifest.jsonl"}
    by_id = {m["custom_id"]: m["key"] for m in manifest if m["custom_id"] in ("x" * 255, "ok")}
    assert by_id["x" * 255] != "x" * 255 + ".html"  # long ids are shortened (and hashed)


def test_hostile_ids_on_local_storage(
    hostile_run: dict[str, Any], hook: ScrapingProsHook, tmp_path: Path
) -> None:
    dest = tmp_path / "inside" / "dest"
    root = ObjectStoragePath(f"file://{dest}")
    export(hook, root, hostile_run["cid"], hostile_run["rid"])
    manifest = read_manifest(root)
    _check_keys(manifest, tree(root), hostile_run["truth"])
    # nothing escaped: the only things under tmp_path are the destination's own files
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and dest not in p.parents]
    assert outside == []
    dups = [m for m in manifest if m["custom_id"] == "dup"]
    # first in completed_at order keeps the plain key; later ones get their job id
    assert [m["key"] for m in dups] == ["dup.html"] + [f"dup.{m['job_id']}.html" for m in dups[1:]]
    assert next(m["key"] for m in manifest if m["custom_id"] == "../../etc/passwd").startswith("etc/passwd.")
    assert next(m["key"] for m in manifest if m["custom_id"] == "").endswith(".html")


def test_hostile_ids_on_s3_same_keys(
    hostile_run: dict[str, Any], hook: ScrapingProsHook, make_bucket: Any, tmp_path: Path
) -> None:
    bucket = make_bucket()
    root = ObjectStoragePath(f"s3://{bucket}/exports/hostile", conn_id=S3_CONN_ID)
    export(hook, root, hostile_run["cid"], hostile_run["rid"])
    s3 = tree(root)
    _check_keys(read_manifest(root), s3, hostile_run["truth"])
    everything = tree(ObjectStoragePath(f"s3://{bucket}", conn_id=S3_CONN_ID))
    assert all(k.startswith("exports/hostile/") for k in everything)
    local = ObjectStoragePath(f"file://{tmp_path}/again")
    export(hook, local, hostile_run["cid"], hostile_run["rid"])
    assert tree(local) == s3  # the same keys and bytes on both stores
