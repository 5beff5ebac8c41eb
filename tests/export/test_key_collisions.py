"""custom_ids whose keys would be a file and a folder at once, and the Windows device
names written with superscript digits."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.keys import KeyAllocator, slugify
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import export, ground_truth, read_manifest, tree, wait_terminal

# (earlier id, later id): in each pair one id's object key is a folder of the other's
PAIRS = [
    ("a", "a.html/b"),
    ("c.html/d", "c"),
    ("e", "e.extracted.json/f"),
    ("G", "g.html/h"),  # case only: one name on case-insensitive stores
    ("i.PDF/j", "I"),
]


def _keys(stem: str) -> set[str]:
    return {f"{stem}.{s}" for s in ("html", "pdf", "extracted.json")}


def _folders(stem: str) -> set[str]:
    parts = stem.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}


@pytest.mark.parametrize(("first", "second"), PAIRS)
@pytest.mark.parametrize("resumed", [False, True])
def test_no_key_is_a_folder_of_another(first: str, second: str, resumed: bool) -> None:
    allocator = KeyAllocator()
    one = allocator.allocate(first, "J1")
    if resumed:  # a resumed export rebuilds the allocator from the stems in its manifest
        allocator = KeyAllocator([one])
    two = allocator.allocate(second, "J2")
    assert one == slugify(first)  # the first keeps its key
    files = {k.casefold() for k in _keys(one) | _keys(two)}
    folders = {f.casefold() for f in _folders(one) | _folders(two)}
    assert files.isdisjoint(folders), (one, two)


def test_the_later_id_gets_its_job_id() -> None:
    allocator = KeyAllocator()
    assert [allocator.allocate(c, j) for c, j in [("a", "J1"), ("a.html/b", "J2")]] == ["a", "J2"]
    allocator = KeyAllocator()
    assert [allocator.allocate(c, j) for c, j in [("c.html/d", "J1"), ("c", "J2")]] == ["c.html/d", "c.J2"]


def test_ids_that_do_not_collide_keep_their_keys() -> None:
    allocator = KeyAllocator()
    ids = ["shop/fr/item-1", "shop/fr/item-2", "x.html/y", "shop", "page.v2/z", "page"]
    assert [allocator.allocate(c, f"J{i}") for i, c in enumerate(ids)] == ids


@pytest.mark.parametrize("device", ["COM¹", "com²", "LPT³", "lpt¹.txt"])
def test_superscript_device_names_are_reserved_too(device: str) -> None:
    digest = hashlib.sha256(device.encode()).hexdigest()[:8]
    assert slugify(device) == f"x{device}.{digest}"
    assert (
        slugify(f"dir/{device}")
        == f"dir/x{device}.{hashlib.sha256(f'dir/{device}'.encode()).hexdigest()[:8]}"
    )


@pytest.fixture
def colliding_run(sp: SandboxControl, hook: ScrapingProsHook, sandbox: Any) -> dict[str, Any]:
    ids = [cid for pair in PAIRS for cid in pair]
    items = [{"url": f"https://example.com/k/{i}", "custom_id": cid} for i, cid in enumerate(ids)]
    created = hook.create_collection("colliding", items)
    rid = hook.create_run(created.id).run_id
    wait_terminal(hook, created.id, rid)
    return {"cid": created.id, "rid": rid, "truth": ground_truth(sandbox.base_url, created.id, rid)}


def _check(root: ObjectStoragePath, truth: dict[str, Any]) -> dict[str, str]:
    manifest = read_manifest(root)
    objects = tree(root)
    assert len(manifest) == 2 * len(PAIRS)
    for entry in manifest:
        assert objects[entry["key"]] == truth[entry["job_id"]]["body_sha256"]
    return objects


def test_colliding_ids_export_on_local_and_s3(
    colliding_run: dict[str, Any], hook: ScrapingProsHook, tmp_path: Path, make_bucket: Any
) -> None:
    local = ObjectStoragePath(f"file://{tmp_path}/out")
    export(hook, local, colliding_run["cid"], colliding_run["rid"])  # IsADirectoryError before
    objects = _check(local, colliding_run["truth"])
    s3 = ObjectStoragePath(f"s3://{make_bucket()}/k", conn_id=S3_CONN_ID)
    export(hook, s3, colliding_run["cid"], colliding_run["rid"])
    assert _check(s3, colliding_run["truth"]) == objects
    keys = {k.casefold() for k in objects}
    folders = {f.casefold() for k in objects for f in _folders(k)}
    assert keys.isdisjoint(folders)
