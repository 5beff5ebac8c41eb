"""Fixtures of the export tests: a moto S3 server for the session (real S3 protocol on loopback),
an `aws` connection pointing at it, fresh buckets, and the ScrapingPros connection."""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox import Sandbox
from tests.conftest import DEV_TOKEN, connection_json
from tests.e2e.conftest import airflow_db, run_dag, sp_conn, task_states, xcom  # noqa: F401 (fixtures)
from tests.export.listing_proxy import ListingProxy, Rewrite, listing_proxy

S3_CONN_ID = "sp_export_s3"
_bucket_numbers = itertools.count()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ[f"AIRFLOW_CONN_{S3_CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    )
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def make_bucket(moto_endpoint: str) -> Callable[..., str]:
    """Create a bucket (optionally versioned, to count writes per key) and return its name."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")

    def make(versioned: bool = False) -> str:
        name = f"sp-export-{os.getpid()}-{next(_bucket_numbers)}"
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    return make


@pytest.fixture
def versions(moto_endpoint: str) -> Callable[[str], dict[str, int]]:
    """Object versions per key in a versioned bucket: 1 everywhere means nothing was written twice."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")

    def count(bucket: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                found[version["Key"]] = found.get(version["Key"], 0) + 1
        return found

    return count


def _api_conn(base_url: str) -> str:
    # Short backoffs keep fault-profile tests quick; Retry-After from 429s is still honoured.
    extra = {"backoff_base": 0.02, "backoff_cap": 0.2}
    return json.dumps({"conn_type": "scrapingpros", "host": base_url, "password": DEV_TOKEN, "extra": extra})


@pytest.fixture(scope="session")
def api_env(sandbox: Sandbox) -> Iterator[None]:
    """`scrapingpros_default` -> the session sandbox, for runner-level tests (no Airflow DB needed)."""
    previous = os.environ.get("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT")
    os.environ["AIRFLOW_CONN_SCRAPINGPROS_DEFAULT"] = _api_conn(sandbox.base_url)
    yield
    if previous is None:
        os.environ.pop("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", None)
    else:
        os.environ["AIRFLOW_CONN_SCRAPINGPROS_DEFAULT"] = previous


@pytest.fixture
def hook(api_env: None) -> Iterator[ScrapingProsHook]:
    h = ScrapingProsHook()
    yield h
    h.close()


@pytest.fixture
def hook_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Sandbox], ScrapingProsHook]]:
    """A hook on another sandbox (manual clock...), through its own connection id."""
    made: list[ScrapingProsHook] = []

    def make(sb: Sandbox) -> ScrapingProsHook:
        conn_id = f"sp_other_{len(made)}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", _api_conn(sb.base_url))
        made.append(ScrapingProsHook(conn_id))
        return made[-1]

    yield make
    for h in made:
        h.close()


@pytest.fixture
def through(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Rewrite], tuple[ListingProxy, ScrapingProsHook]]]:
    """A hook whose jobs pages pass through `rewrite`."""
    opened: list[Any] = []

    def make(rewrite: Rewrite) -> tuple[ListingProxy, ScrapingProsHook]:
        cm = listing_proxy(sandbox.base_url, rewrite)
        proxy = cm.__enter__()
        conn_id = f"sp_listing_proxy_{len(opened)}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(proxy.base_url, max_retries=0))
        hook = ScrapingProsHook(conn_id)
        opened.append((cm, hook))
        return proxy, hook

    yield make
    for cm, hook in opened:
        hook.close()
        cm.__exit__(None, None, None)
