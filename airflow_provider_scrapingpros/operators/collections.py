"""Collections in DAGs: upsert a named collection of URL requests, replace its request list, run it.

Create is an *upsert by exact name*, so a daily DAG keeps one collection per name instead of piling
up new ones, and it is safe to retry: creation carries an Idempotency-Key derived from the task
instance (dag_id, task_id, run_id, map_index), so a retried try or a lost response reuses the
collection the first attempt made. Requests are loaded and validated before the first API call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

from airflow.sdk import BaseOperator

from .. import DEFAULT_CONN_ID
from ..exceptions import ScrapingProsInputError
from ..models import NewCollectionResponse, ScrapeRequest
from ..request_specs import RequestsInput, load_requests
from ._base import ScrapingProsTaskMixin
from .run import ScrapingProsRunCollectionOperator

__all__ = [
    "ScrapingProsCreateCollectionOperator",
    "ScrapingProsRunCollectionOperator",
    "ScrapingProsUpdateCollectionOperator",
    "idempotency_key",
]

IfExists = Literal["update", "skip", "fail"]


def idempotency_key(context: Any) -> str:
    """Same task instance ⇒ same key, on every try and after a lost response (contract §4.1)."""
    ti = context["ti"]
    raw = f"{ti.dag_id}\x1f{ti.task_id}\x1f{ti.run_id}\x1f{getattr(ti, 'map_index', -1)}"
    return "airflow-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


class _CollectionOperator(ScrapingProsTaskMixin, BaseOperator):
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        name: str,
        requests: RequestsInput,
        requests_conn_id: str | None = None,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._with_retry_policy(kwargs))
        self.name = name
        self.requests = requests
        self.requests_conn_id = requests_conn_id
        self.scrapingpros_conn_id = scrapingpros_conn_id

    def _validated(self) -> list[ScrapeRequest]:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ScrapingProsInputError("`name` must be a non-empty string (the collection's name).")
        return load_requests(self.requests, conn_id=self.requests_conn_id)

    def _report(self, response: NewCollectionResponse, submitted: int) -> None:
        accepted = submitted - response.rejected
        self.log.info(
            "Collection %s (%r): %d of %d requests accepted.", response.id, response.name, accepted, submitted
        )
        for blocked in response.blocked_urls[:10]:
            self.log.warning("Blocked request %d (%s): %s", blocked.index, blocked.url, blocked.reason)
        for invalid in response.invalid_items[:10]:
            problems = "; ".join(f"{e.field}: {e.message}" for e in invalid.errors)
            self.log.warning("Invalid request %d (%s): %s", invalid.index, invalid.url, problems)
        if response.duplicates_skipped:
            self.log.warning("%d duplicate (url, custom_id) requests skipped.", response.duplicates_skipped)
        if accepted == 0:
            raise ScrapingProsInputError(
                f"The API accepted none of the {submitted} requests for collection {response.id} "
                "(see the blocked/invalid lines above). Fix the URL list; nothing would be scraped."
            )


class ScrapingProsCreateCollectionOperator(_CollectionOperator):
    """Create a collection, or update the one that already has this exact name.

    :param name: collection name (templated); the upsert key.
    :param requests: URLs, request dicts/`ScrapeRequest`s, or a path/URI of a .json/.jsonl/.csv file
        (templated; files are read at run time, through `requests_conn_id` for object storage).
    :param callback_url: webhook called when each run of the collection ends (templated).
    :param if_exists: `update` (replace the request list), `skip` (use it as is) or `fail`.
    :return: the collection id (XCom).
    """

    template_fields: Sequence[str] = ("name", "requests", "callback_url")

    def __init__(
        self, *, callback_url: str | None = None, if_exists: IfExists = "update", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if if_exists not in ("update", "skip", "fail"):
            raise ValueError(f"if_exists must be 'update', 'skip' or 'fail', got {if_exists!r}.")
        self.callback_url = callback_url
        self.if_exists = if_exists

    def execute(self, context: Any) -> str:
        requests = self._validated()
        if self.callback_url and not str(self.callback_url).startswith(("http://", "https://")):
            raise ScrapingProsInputError(f"`callback_url` must be an http(s) URL, got {self.callback_url!r}.")
        existing = self.hook.list_collections(name=self.name)
        if existing:
            return self._existing(existing[0].id, requests, found=len(existing))
        response = self.hook.create_collection(
            self.name, requests, callback_url=self.callback_url, idempotency_key=idempotency_key(context)
        )
        self._report(response, len(requests))
        return response.id

    def _existing(self, collection_id: str, requests: list[ScrapeRequest], *, found: int) -> str:
        if found > 1:
            self.log.warning(
                "%d collections are named %r; using the newest, %s.", found, self.name, collection_id
            )
        if self.if_exists == "fail":
            raise ScrapingProsInputError(
                f"A collection named {self.name!r} already exists ({collection_id}) and if_exists='fail'. "
                "Use another name, or if_exists='update'/'skip'."
            )
        if self.if_exists == "skip":
            self.log.info(
                "Collection %r exists (%s); if_exists='skip', leaving it unchanged.", self.name, collection_id
            )
            return collection_id
        if self.callback_url:
            self.log.warning(
                "callback_url cannot be changed on an existing collection (API limit); ignoring it."
            )
        self._report(self.hook.update_collection(collection_id, self.name, requests), len(requests))
        return collection_id


class ScrapingProsUpdateCollectionOperator(_CollectionOperator):
    """Replace a collection's request list (runs already started keep their snapshot).

    :return: the collection id (XCom).
    """

    template_fields: Sequence[str] = ("collection_id", "name", "requests")

    def __init__(self, *, collection_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collection_id = collection_id

    def execute(self, context: Any) -> str:
        requests = self._validated()
        self._report(self.hook.update_collection(self.collection_id, self.name, requests), len(requests))
        return self.collection_id
