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
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseOperator

from .. import DEFAULT_CONN_ID
from ..client.cost import estimate_accepted
from ..client.models import NewCollectionResponse, ScrapeRequest
from ..exceptions import ScrapingProsInputError
from ..lineage.operators import CollectionLineageMixin
from ..runs.budget import describe
from ..tasks.base import ScrapingProsTaskMixin
from ..tasks.cost import push_estimate
from ..tasks.request_specs import RequestsInput, load_requests

# 0.1.0's examples imported the run operator from here; its home is operators/run.py.
from .run import ScrapingProsRunCollectionOperator

__all__ = [
    "ScrapingProsCreateCollectionOperator",
    "ScrapingProsRunCollectionOperator",
    "ScrapingProsUpdateCollectionOperator",
    "idempotency_key",
    "receiver_url",
]

IfExists = Literal["update", "skip", "fail"]


def idempotency_key(context: Any) -> str:
    """Same task instance ⇒ same key, on every try and after a lost response
    (docs/api-notes.md#collections-and-idempotency)."""
    ti = context["ti"]
    raw = f"{ti.dag_id}\x1f{ti.task_id}\x1f{ti.run_id}\x1f{getattr(ti, 'map_index', -1)}"
    return "airflow-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def receiver_url(webhook_base_url: str, conn_id: str) -> str:
    """The provider's webhook receiver (plugins/webhooks.py) behind an Airflow API server's public URL."""
    base = str(webhook_base_url).strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ScrapingProsInputError(
            "`webhook_base_url` must be the public http(s) base URL of your Airflow API server, without "
            f"query or fragment (e.g. https://airflow.example.com), got {webhook_base_url!r}."
        )
    if not conn_id or not conn_id.strip():
        raise ScrapingProsInputError("`scrapingpros_conn_id` is empty: the webhook URL names the connection.")
    return f"{base}/scrapingpros/webhooks/{quote(conn_id, safe='')}"


class _CollectionOperator(CollectionLineageMixin, ScrapingProsTaskMixin, BaseOperator):
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

    def _report(
        self, context: Any, response: NewCollectionResponse, requests: list[ScrapeRequest], *, created: bool
    ) -> None:
        submitted = len(requests)
        accepted = submitted - response.rejected
        # The API cannot tell whether a PUT changed anything (a collection's requests are not readable
        # back), so "updated" means "request list replaced".
        what = "Created collection" if created else "Updated collection (request list replaced)"
        self.log.info(
            "%s %s (%r): %d of %d requests accepted.", what, response.id, response.name, accepted, submitted
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
        # The API cannot list the requests back: this is the only place their price mix is known.
        estimate = estimate_accepted(response.id, requests, response)
        push_estimate(context, estimate)
        self.log.info("A run of it can cost %s.", describe(estimate))


class ScrapingProsCreateCollectionOperator(_CollectionOperator):
    """Create a collection, or update the one that already has this exact name.

    :param name: collection name (templated); the upsert key.
    :param requests: URLs, request dicts/`ScrapeRequest`s, or a path/URI of a .json/.jsonl/.csv file
        (templated; files are read at run time, through `requests_conn_id` for object storage).
    :param callback_url: webhook called when each run of the collection ends (templated).
    :param webhook_base_url: instead of `callback_url`, the public base URL of your Airflow API
        server (templated); the callback becomes `<base>/scrapingpros/webhooks/<scrapingpros_conn_id>`,
        the provider's webhook receiver (docs/webhook-receiver.md). Only applied when the collection
        is created: the API cannot change a callback afterwards.
    :param if_exists: `update` (replace the request list), `skip` (use it as is) or `fail`.
    :return: the collection id (XCom).
    """

    template_fields: Sequence[str] = ("name", "requests", "callback_url", "webhook_base_url")

    def __init__(
        self,
        *,
        callback_url: str | None = None,
        webhook_base_url: str | None = None,
        if_exists: IfExists = "update",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_exists not in ("update", "skip", "fail"):
            raise ValueError(f"if_exists must be 'update', 'skip' or 'fail', got {if_exists!r}.")
        if callback_url is not None and webhook_base_url is not None:
            raise ValueError("Pass callback_url or webhook_base_url, not both.")
        self.callback_url = callback_url
        self.webhook_base_url = webhook_base_url
        self.if_exists = if_exists

    def execute(self, context: Any) -> str:
        requests = self._validated()
        if self.webhook_base_url is not None:
            self.callback_url = receiver_url(self.webhook_base_url, self.scrapingpros_conn_id)
        if self.callback_url and not str(self.callback_url).startswith(("http://", "https://")):
            raise ScrapingProsInputError(f"`callback_url` must be an http(s) URL, got {self.callback_url!r}.")
        existing = self.hook.list_collections(name=self.name)
        if existing:
            return self._existing(context, existing[0].id, requests, found=len(existing))
        response = self.hook.create_collection(
            self.name, requests, callback_url=self.callback_url, idempotency_key=idempotency_key(context)
        )
        self._report(context, response, requests, created=True)
        return response.id

    def _existing(
        self, context: Any, collection_id: str, requests: list[ScrapeRequest], *, found: int
    ) -> str:
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
        response = self.hook.update_collection(collection_id, self.name, requests)
        self._report(context, response, requests, created=False)
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
        response = self.hook.update_collection(self.collection_id, self.name, requests)
        self._report(context, response, requests, created=False)
        return self.collection_id
