"""`ExportStore` on a real local folder and on moto S3: writes counted, `verify` skipping identical
bytes, fresh listings, tree removal, plain URIs."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.store import ExportStore, sha256_of_stream
from tests.export.conftest import S3_CONN_ID


def _local(tmp_path: Path) -> ExportStore:
    return ExportStore(ObjectStoragePath(f"file://{tmp_path}/dest"))


def _s3(make_bucket: Callable[..., str]) -> ExportStore:
    return ExportStore(ObjectStoragePath(f"s3://{make_bucket()}/dest", conn_id=S3_CONN_ID))


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ExportStore:
    if request.param == "local":
        return _local(tmp_path)
    return _s3(request.getfixturevalue("make_bucket"))


def test_sha256_of_stream_reads_in_chunks() -> None:
    data = b"x" * (3 * 1024 * 1024 + 5)
    assert sha256_of_stream(io.BytesIO(data)) == (len(data), hashlib.sha256(data).hexdigest())


def test_put_read_and_verify(store: ExportStore) -> None:
    assert store.read("a/b.txt") is None and store.size("a/b.txt") is None
    assert store.put("a/b.txt", b"one") is True
    assert store.read("a/b.txt") == b"one" and store.size("a/b.txt") == 3
    assert store.put("a/b.txt", b"one", verify=True) is False  # identical: left alone
    assert store.put("a/b.txt", b"two", verify=True) is True  # different: rewritten
    assert store.read("a/b.txt") == b"two" and store.writes == 2


def test_put_many_counts_each_object_and_skips_identical_ones(store: ExportStore) -> None:
    items = [(f"batch/{i}.bin", bytes([i]) * (i + 1)) for i in range(5)]
    assert store.put_many(items) == 5 and store.writes == 5
    changed = [*items[:4], ("batch/4.bin", b"new")]
    assert store.put_many(changed, verify=True) == 1 and store.writes == 6
    assert [store.read(k) for k, _ in items[:4]] == [d for _, d in items[:4]]
    assert store.read("batch/4.bin") == b"new"


def test_put_file_streams_a_local_file(store: ExportStore, tmp_path: Path) -> None:
    local = tmp_path / "part.gz"
    local.write_bytes(b"z" * 1000)
    size, sha = sha256_of_stream(io.BytesIO(local.read_bytes()))
    assert store.put_file("parts/p.gz", local, size, sha, verify=True) is True
    assert store.put_file("parts/p.gz", local, size, sha, verify=True) is False
    assert store.matches("parts/p.gz", size, sha) and not store.matches("parts/p.gz", size, "0" * 64)
    with store.open_read("parts/p.gz") as stream:
        assert stream.read() == b"z" * 1000


def test_list_iter_lines_and_delete_tree(store: ExportStore) -> None:
    assert store.list("_export") == []
    store.put("_export/segments/0000000002.jsonl", b"c\n")
    store.put("_export/segments/0000000001.jsonl", b"a\nb\n")
    store.put("keep.txt", b"k")
    assert store.list("_export") == [
        "_export/segments/0000000001.jsonl",
        "_export/segments/0000000002.jsonl",
    ]
    assert list(store.iter_lines("_export/segments/0000000001.jsonl")) == [b"a\n", b"b\n"]
    store.delete_tree("_export")
    store.delete_tree("_export")  # gone already: no error
    assert store.list("_export") == [] and store.read("keep.txt") == b"k"


def test_uris_carry_no_connection_id(tmp_path: Path, make_bucket: Callable[..., str]) -> None:
    local = _local(tmp_path)
    assert local.uri() == f"file://{tmp_path}/dest" and local.uri("x/y") == f"file://{tmp_path}/dest/x/y"
    assert local.write_threads == 1  # one directory, one writer: see ExportStore
    s3 = _s3(make_bucket)
    assert s3.uri().startswith("s3://") and S3_CONN_ID not in s3.uri("k") and s3.uri("k").endswith("/dest/k")
    assert s3.write_threads == 2 and repr(s3) == f"ExportStore({s3.uri()!r})"
