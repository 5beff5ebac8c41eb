"""The Asset of a collection: `scrapingpros://<api host>/collections/<id>` (runs/completion.py).

`collection_asset()` is the one constructor the watcher's DAGs, the webhook plugin and the export
operator's users share, so an Asset event recorded by either path reaches the same DAGs.

Why the connection is read here: the API host is part of the name, and it lives in the connection.
That is one connection look-up per DAG parse when `base_url` is not given; pass `base_url` to avoid
it (e.g. from a Variable-free constant in the DAG file).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import SplitResult

from airflow.sdk import Asset

from . import DEFAULT_CONN_ID
from .runs.completion import collection_uri, normalize_collection_uri


def collection_asset(
    collection_id: str,
    *,
    scrapingpros_conn_id: str = DEFAULT_CONN_ID,
    base_url: str | None = None,
    name: str | None = None,
    watchers: Sequence[Any] = (),
    **asset_kwargs: Any,
) -> Asset:
    """The Asset of one collection.

    `watchers`: e.g. `[AssetWatcher("runs", ScrapingProsRunCompletedTrigger(collection_id=...))]`.
    `name` defaults to the URI, so two DAG files naming the same collection declare the same Asset."""
    uri = collection_uri(base_url or connection_base_url(scrapingpros_conn_id), collection_id)
    return Asset(name=name or uri, uri=uri, watchers=list(watchers), **asset_kwargs)


def connection_base_url(conn_id: str) -> str:
    """The API base URL a ScrapingPros connection points at (no token is read into anything)."""
    from airflow.sdk import BaseHook

    from .client.settings import normalize_base_url

    conn = BaseHook.get_connection(conn_id)
    return normalize_base_url(conn.host, conn.port)


def normalize_uri(uri: SplitResult) -> SplitResult:
    """Registered in provider info (`asset-uris`) for the `scrapingpros` scheme."""
    return normalize_collection_uri(uri)
