"""The collection Asset name and the run-completed payload both event paths share."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from airflow_provider_scrapingpros.client.models import Run, WebhookEvent
from airflow_provider_scrapingpros.runs.completion import (
    CollectionUriError,
    RunCompleted,
    announced_run_id,
    api_host,
    asset_event_extra,
    collection_uri,
    normalize_collection_uri,
    parse_collection_uri,
    read_completion,
)


@pytest.mark.parametrize(
    ("base_url", "host"),
    [
        ("https://api.scrapingpros.com", "api.scrapingpros.com"),
        ("https://API.ScrapingPros.com:443/", "api.scrapingpros.com"),
        ("http://127.0.0.1:8000", "127.0.0.1:8000"),
        ("http://localhost:80", "localhost"),
        ("https://api.example.com:8443/v2", "api.example.com:8443"),
    ],
)
def test_the_api_host_is_lower_case_without_a_default_port(base_url: str, host: str) -> None:
    assert api_host(base_url) == host
    assert collection_uri(base_url, "c1") == f"scrapingpros://{host}/collections/c1"


def test_uris_normalise_and_round_trip() -> None:
    uri = collection_uri("http://127.0.0.1:8000", "a/b c")
    assert uri == "scrapingpros://127.0.0.1:8000/collections/a%2Fb%20c"
    assert parse_collection_uri(uri) == ("127.0.0.1:8000", "a/b c")
    normal = normalize_collection_uri(urlsplit("scrapingpros://API.example.com/collections/x/"))
    assert normal.geturl() == "scrapingpros://api.example.com/collections/x"


@pytest.mark.parametrize(
    "uri",
    [
        "scrapingpros:///collections/x",
        "scrapingpros://h/collections/",
        "scrapingpros://h/collections/x/runs/y",
        "scrapingpros://h/runs/x",
        "scrapingpros://h/collections/%20",
    ],
)
def test_a_uri_that_is_not_a_collection_is_refused_with_the_expected_shape(uri: str) -> None:
    with pytest.raises(CollectionUriError, match=r"<api host>/collections/<collection id>"):
        parse_collection_uri(uri)


def test_an_empty_collection_id_names_the_field() -> None:
    with pytest.raises(CollectionUriError, match="collection_id is empty"):
        collection_uri("https://api.scrapingpros.com", " ")


RUN = Run(
    run_id="r1",
    collection_id="c1",
    status="completed",
    total_requests=4,
    success_requests=2,
    failed_requests=1,
    timeout_requests=1,
    job_ids=["j1", "j2", "j3", "j4"],
)


def test_a_watched_run_becomes_a_payload_without_job_ids() -> None:
    event = RunCompleted.from_run(RUN, "http://h/run", seen_at=1_800_000_000.9)
    assert event.model_dump() == {
        "event": "run.completed",
        "source": "watcher",
        "collection_id": "c1",
        "run_id": "r1",
        "status": "completed",
        "total_requests": 4,
        "success_requests": 2,
        "failed_requests": 1,
        "timeout_requests": 1,
        "outcome": "partial",
        "run_url": "http://h/run",
        "completed_at": "2027-01-15T08:00:00Z",
    }
    assert read_completion({"from_trigger": True, "payload": event.model_dump()}) == event
    assert read_completion(asset_event_extra(event)) == event
    assert announced_run_id(asset_event_extra(event)) == "r1"


@pytest.mark.parametrize(("success", "outcome"), [(3, "success"), (1, "partial"), (0, "failed")])
def test_a_webhook_payload_has_the_same_outcome_rule(success: int, outcome: str) -> None:
    hook_event = WebhookEvent(
        event="run.completed",
        run_id="r1",
        collection_id="c1",
        status="completed",
        total_requests=3,
        success_requests=success,
        failed_requests=3 - success,
        job_ids=[],
        results_url="http://h/v1/async/collections/c1/runs/r1",
        timestamp="2026-04-06T20:30:00Z",
    )
    event = RunCompleted.from_webhook(hook_event, "http://h/run")
    assert (event.source, event.outcome, event.timeout_requests, event.completed_at) == (
        "webhook",
        outcome,
        None,
        "2026-04-06T20:30:00Z",
    )


def test_other_producers_events_are_ignored_and_a_malformed_one_of_ours_is_an_error() -> None:
    assert read_completion(None) is None
    assert read_completion({"rows": 3}) is None
    assert read_completion({"payload": "x"}) is None
    assert read_completion({"payload": {"event": "run.completed"}}) is None  # no run id: no announcement
    assert read_completion({"event": "run.completed", "run_id": "r1"}) is None  # not in a payload
    with pytest.raises(CollectionUriError, match=r"malformed \(collection_id: Field required\)"):
        read_completion({"payload": {"event": "run.completed", "run_id": "r1", "source": "cron"}})
