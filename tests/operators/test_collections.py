"""The create/update collection operators called directly: upsert by name, one collection per task
instance across retries, bad input rejected before any call."""

from __future__ import annotations

import re

import pytest

from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.collections import (
    ScrapingProsCreateCollectionOperator,
    ScrapingProsUpdateCollectionOperator,
)
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.task_context import context_for

POST_COLLECTIONS = "POST /v1/async/collections"
PUT_COLLECTION = "PUT /v1/async/collections/{cid}"


def test_create_then_upsert_by_name(conn: SandboxControl, capfd: pytest.CaptureFixture[str]) -> None:
    create = ScrapingProsCreateCollectionOperator(task_id="c", name="daily", requests=["example.com/a"])
    cid = create.execute(context_for())
    (stored,) = ScrapingProsHook().list_collections(name="daily")
    assert stored.id == cid
    again = ScrapingProsCreateCollectionOperator(
        task_id="c", name="daily", requests=["example.com/a", "example.com/b"]
    ).execute(context_for())
    assert again == cid
    assert (conn.count(POST_COLLECTIONS), conn.count(PUT_COLLECTION)) == (1, 1)
    said = capfd.readouterr().out  # Airflow's task logger writes to the process's stdout
    assert re.findall(r"\[info\s*\] (.*accepted\.) \[", said) == [
        f"Created collection {cid} ('daily'): 1 of 1 requests accepted.",
        f"Updated collection (request list replaced) {cid} ('daily'): 2 of 2 requests accepted.",
    ]
    assert ScrapingProsHook().create_run(cid).total_requests == 2


def test_if_exists_fail_and_skip(conn: SandboxControl) -> None:
    cid = ScrapingProsCreateCollectionOperator(task_id="c", name="n", requests=["a.com"]).execute(
        context_for()
    )
    skip = ScrapingProsCreateCollectionOperator(task_id="c", name="n", requests=["b.com"], if_exists="skip")
    assert skip.execute(context_for()) == cid
    fail = ScrapingProsCreateCollectionOperator(task_id="c", name="n", requests=["b.com"], if_exists="fail")
    with pytest.raises(ScrapingProsInputError, match="already exists"):
        fail.execute(context_for())
    assert conn.count(PUT_COLLECTION) == 0


def test_bad_requests_are_rejected_before_any_call(conn: SandboxControl) -> None:
    create = ScrapingProsCreateCollectionOperator(
        task_id="c", name="n", requests=[{"url": "https://a.example", "screenshot": True}, 42]
    )
    with pytest.raises(ScrapingProsInputError) as err:
        create.execute(context_for())
    assert err.value.errors == [
        ("requests[0].screenshot", "screenshot requires browser: true"),
        ("requests[1]", "expected a URL string, a request dict or a ScrapeRequest, got int"),
    ]
    assert conn.count() == 0


def test_update_replaces_the_request_list(conn: SandboxControl) -> None:
    cid = ScrapingProsHook().create_collection("u", [{"url": "https://a.example"}]).id
    update = ScrapingProsUpdateCollectionOperator(
        task_id="u", collection_id=cid, name="u", requests=["https://b.example", "https://c.example"]
    )
    assert update.execute(context_for()) == cid
    assert ScrapingProsHook().create_run(cid).total_requests == 2
