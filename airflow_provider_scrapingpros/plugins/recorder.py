"""One verified `run.completed` → at most one Asset event on the collection's Asset, ever.

The API delivers a webhook again when it does not see our 2xx (a lost answer, a timeout), and the
watcher (`triggers/events.py`) may have recorded the same run already, so before adding an event
we look for one of this Asset whose extra names the same `run_id`, whichever source wrote it. The
check and the insert run under one lock that concurrent deliveries share — a row lock on the
`AssetModel` (`SELECT … FOR UPDATE`, PostgreSQL and MySQL) or, on SQLite where that does nothing, a
process lock plus a file lock (several API-server workers on one machine) — and the lock is held
until the commit, so a second delivery waits and then finds the first one's event. The caller
answers 2xx only after `record()` returns, i.e. after the commit: a crash in between makes the API
retry, and the retry is deduplicated.

The scan is bounded: events at or after the run's terminal time minus an hour of clock skew (every
event about a run is recorded after it ended), and never less than the last 15 h, which covers the
API's retry ladder (1 + 5 attempts over 14.6 h).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..runs.completion import RunCompleted, announced_run_id, asset_event_extra

LOOKBACK = timedelta(hours=15)
CLOCK_SKEW = timedelta(hours=1)
_PROCESS_LOCK = threading.Lock()


class NoWatchingDag(LookupError):
    """No active Asset with this URI, or no DAG scheduled on it: nothing would run, so say so."""


@dataclass(frozen=True)
class Recorded:
    asset_event_id: int
    duplicate: bool  # True: an event for this run_id was there already; nothing was added


def record(uri: str, completed: RunCompleted) -> Recorded:
    """Add the run's Asset event unless one exists; returns after the commit."""
    from airflow.utils.session import create_session

    with create_session() as session, _serialized(session):
        asset = _locked_asset(session, uri)
        existing = _existing_event(session, asset.id, completed)
        if existing is not None:
            session.rollback()  # release the row lock; nothing was written
            return Recorded(existing, duplicate=True)
        event = _register(session, asset, asset_event_extra(completed))
        if event is None:  # register_asset_change found no such Asset after all
            raise NoWatchingDag(f"the Asset {uri} disappeared while recording the event")
        event_id = int(event.id)
        session.commit()
        return Recorded(event_id, duplicate=False)


def _locked_asset(session: Any, uri: str) -> Any:
    from airflow.models.asset import AssetActive, AssetModel
    from sqlalchemy import select

    # The active Asset of this URI (Airflow keeps one active per URI); FOR UPDATE serializes
    # deliveries of the same collection on databases with row locks.
    asset = session.scalar(
        select(AssetModel)
        .join(AssetActive, (AssetActive.name == AssetModel.name) & (AssetActive.uri == AssetModel.uri))
        .where(AssetModel.uri == uri)
        .limit(1)
        .with_for_update(of=AssetModel)
    )
    if asset is None:
        raise NoWatchingDag(
            f"no active Asset {uri}: no DAG declares it. Add collection_asset(...) of this collection to a "
            "DAG's schedule (and let the DAG processor parse it)."
        )
    if not asset.scheduled_dags:
        raise NoWatchingDag(
            f"the Asset {uri} exists but no DAG is scheduled on it. Put it in a DAG's schedule."
        )
    return asset


def _existing_event(session: Any, asset_id: int, completed: RunCompleted) -> int | None:
    from airflow.models.asset import AssetEvent
    from sqlalchemy import select

    timestamp: Any = AssetEvent.timestamp  # a plain attribute to mypy on 3.1
    rows = session.execute(
        select(AssetEvent.id, AssetEvent.extra)
        .where(AssetEvent.asset_id == asset_id, timestamp >= _scan_since(completed))
        .order_by(AssetEvent.id)
    )
    for event_id, extra in rows:
        if isinstance(extra, dict) and announced_run_id(extra) == completed.run_id:
            return int(event_id)
    return None


def _scan_since(completed: RunCompleted) -> datetime:
    now = datetime.now(timezone.utc)
    since = now - LOOKBACK
    try:
        ended = datetime.fromisoformat(completed.completed_at.replace("Z", "+00:00"))
    except ValueError:
        return since
    if ended.tzinfo is None:
        ended = ended.replace(tzinfo=timezone.utc)
    return min(since, ended - CLOCK_SKEW)


def _register(session: Any, asset: Any, extra: dict[str, Any]) -> Any:
    from airflow.assets.manager import asset_manager

    kwargs: dict[str, Any] = {"asset": asset, "extra": extra, "session": session}
    # Airflow 3.3 marks events that come from outside a task (the REST API) and filters consumers by
    # team with them; 3.1 has neither parameter. Our events come from outside, like the REST API's.
    if "source_is_api" in inspect.signature(asset_manager.register_asset_change).parameters:
        kwargs.update(source_is_api=True, api_user_teams=set())
    return asset_manager.register_asset_change(**kwargs)


@contextlib.contextmanager
def _serialized(session: Any) -> Iterator[None]:
    """Nothing on databases with row locks; on SQLite a thread lock plus a file lock per database."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    key = hashlib.sha256(str(bind.url).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"scrapingpros-webhooks-{key}.lock"
    with _PROCESS_LOCK, path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
