"""A finished run as an Asset event: one name for a collection, one payload for how the news came.

Two ways learn that a run ended — the watcher polling the runs list (`triggers/events.py`) and the
API's signed webhook reaching the plugin (`plugins/webhooks.py`) — and both record an Asset event on
the same Asset, named `scrapingpros://<api host>/collections/<collection id>`, with a `RunCompleted`
as its extra. So one downstream DAG can be scheduled on a collection whichever way the event came,
and the export operator reads its run from `triggering_asset_events` with one parser.

Why the API host is in the name: the same collection id on the sandbox and on the real API are two
different things; a DAG developed against the sandbox must not be triggered by production runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import SplitResult, quote, unquote, urlsplit

from pydantic import ValidationError

from ..client.models import Run, WebhookEvent, first_problem
from .verdict import COUNTER_FIELDS, RunCounters, RunOutcome, RunSnapshot, run_outcome

SCHEME = "scrapingpros"
EVENT: Literal["run.completed"] = "run.completed"
_DEFAULT_PORTS = {"https": 443, "http": 80}


class CollectionUriError(ValueError):
    """Not a collection Asset URI; the message says what the URI should look like."""


def api_host(base_url: str) -> str:
    """`host[:port]` of an API base URL, lower-case, without the scheme's default port."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if not host:
        raise CollectionUriError(
            f"API base URL {base_url!r} has no host; expected e.g. https://api.example.com."
        )
    port = parts.port
    return host if port is None or _DEFAULT_PORTS.get(parts.scheme) == port else f"{host}:{port}"


def collection_uri(base_url: str, collection_id: str) -> str:
    """The Asset URI of a collection on the API at `base_url`."""
    if not collection_id or not collection_id.strip():
        raise CollectionUriError("collection_id is empty: pass the collection's public id.")
    return f"{SCHEME}://{api_host(base_url)}/collections/{quote(collection_id, safe='')}"


def normalize_collection_uri(uri: SplitResult) -> SplitResult:
    """Airflow's `asset-uris` handler: lower-case host, exactly `/collections/<id>`, nothing else."""
    host = (uri.hostname or "").lower()
    segments = uri.path.strip("/").split("/")
    if not host or len(segments) != 2 or segments[0] != "collections" or not unquote(segments[1]).strip():
        raise CollectionUriError(
            f"{SCHEME} Asset URIs look like {SCHEME}://<api host>/collections/<collection id>, got "
            f"{uri.geturl()!r}. Build them with airflow_provider_scrapingpros.assets.collection_asset()."
        )
    netloc = host if uri.port is None else f"{host}:{uri.port}"
    return SplitResult(SCHEME, netloc, f"/collections/{segments[1]}", "", "")


def parse_collection_uri(uri: str) -> tuple[str, str]:
    """(api host, collection id) of a collection Asset URI."""
    parts = normalize_collection_uri(urlsplit(uri))
    return parts.netloc, unquote(parts.path.rsplit("/", 1)[1])


class RunCompleted(RunCounters):
    """The extra of the Asset event for a run that reached a terminal status.

    `timeout_requests` is None when the news came by webhook: its payload has no such counter (the
    run's GET has it). `completed_at` is the webhook's terminal time, or for the watcher the first
    time it saw the run terminal (the runs list carries no completion time)."""

    event: Literal["run.completed"] = EVENT
    source: Literal["watcher", "webhook"]
    timeout_requests: int | None  # type: ignore[assignment]  # None: the webhook does not say
    outcome: RunOutcome
    run_url: str
    completed_at: str

    @classmethod
    def from_run(cls, run: Run, run_url: str, *, seen_at: float | None = None) -> RunCompleted:
        return cls(
            **run.model_dump(include=COUNTER_FIELDS),
            source="watcher",
            outcome=run_outcome(RunSnapshot.of(run)),
            run_url=run_url,
            completed_at=_iso(time.time() if seen_at is None else seen_at),
        )

    @classmethod
    def from_webhook(cls, event: WebhookEvent, run_url: str) -> RunCompleted:
        counters = event.model_dump(include=COUNTER_FIELDS)
        # No timeout counter in the payload; the outcome needs only the successes against the total.
        unsuccessful = event.total_requests - event.success_requests
        snapshot = RunSnapshot(**counters | {"failed_requests": unsuccessful, "timeout_requests": 0})
        return cls(
            **counters,
            timeout_requests=None,
            source="webhook",
            outcome=run_outcome(snapshot),
            run_url=run_url,
            completed_at=event.timestamp,
        )


def asset_event_extra(completed: RunCompleted) -> dict[str, Any]:
    """The extra the webhook plugin records: the shape Airflow gives a watcher's event
    (`{"from_trigger": true, "payload": …}`), so downstream code reads `extra["payload"]` for both."""
    return {"from_webhook": True, "payload": completed.model_dump()}


def _payload(extra: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    payload = extra.get("payload") if extra else None
    if not isinstance(payload, Mapping) or payload.get("event") != EVENT or "run_id" not in payload:
        return None
    return payload


def announced_run_id(extra: Mapping[str, Any] | None) -> str | None:
    """The run id an Asset event's extra announces, without validating the rest."""
    payload = _payload(extra)
    return str(payload["run_id"]) if payload is not None else None


def read_completion(extra: Mapping[str, Any] | None) -> RunCompleted | None:
    """The run an Asset event announces (its extra's `payload`), or None if the event is not a
    ScrapingPros run event (another producer's event on the same Asset). A malformed one of ours
    is an error."""
    payload = _payload(extra)
    if payload is None:
        return None
    try:
        return RunCompleted.model_validate(dict(payload))
    except ValidationError as exc:
        raise CollectionUriError(
            f"Asset event extra announces a run but is malformed ({first_problem(exc)}); it was not "
            "exported. Check what else writes events to this Asset."
        ) from None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).isoformat().replace("+00:00", "Z")
