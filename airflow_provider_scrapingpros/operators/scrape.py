"""Scrape one URL through the synchronous endpoint — for a handful of pages, a smoke check of a
site, or extracting a few fields, where a collection and a run would be ceremony.

XCom gets the verdict and the extracted fields, never the page: pass `destination` to keep the body
in object storage (its URI is returned instead).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator

from .. import DEFAULT_CONN_ID
from ..client.models import ScrapeRequest, ScrapeResult
from ..client.specs import validate_request
from ..exceptions import ScrapingProsRunFailedError
from ..lineage.operators import ScrapeLineageMixin
from ..tasks.base import ScrapingProsTaskMixin


class ScrapingProsScrapeOperator(ScrapeLineageMixin, ScrapingProsTaskMixin, BaseOperator):
    """Scrape a single URL now (`POST /v1/sync/scrape`).

    :param request: a URL, a request dict (e.g. with `extract` selectors) or a `ScrapeRequest` (templated).
    :param destination: optional object URI for the page body (templated), e.g. ``s3://b/page.html``.
    :param storage_conn_id: connection for `destination`.
    :param fail_on_unsuccessful: fail the task when the target answered but not with usable content
        (4xx/5xx, captcha, worker error); the message carries the API's next steps.
    :return: dict with url, status_code, success, error_type, credits_charged, extracted_data and
        (with `destination`) object_uri.
    """

    template_fields: Sequence[str] = ("request", "destination")

    def __init__(
        self,
        *,
        request: str | Mapping[str, Any] | ScrapeRequest,
        destination: str | None = None,
        storage_conn_id: str | None = None,
        fail_on_unsuccessful: bool = True,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._with_retry_policy(kwargs))
        self.request = request
        self.destination = destination
        self.storage_conn_id = storage_conn_id
        self.fail_on_unsuccessful = fail_on_unsuccessful
        self.scrapingpros_conn_id = scrapingpros_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        request = validate_request(self.request)
        result = self.hook.scrape(request)
        guidance = result.guidance
        success = (
            guidance.success if guidance is not None else bool(result.statusCode and result.statusCode < 300)
        )
        summary: dict[str, Any] = {
            "url": request.url,
            "status_code": result.statusCode,
            "success": success,
            "error_type": guidance.error_type if guidance else None,
            "credits_charged": guidance.credits_charged if guidance else None,
            "extracted_data": result.extracted_data,
        }
        if self.destination:
            summary["object_uri"] = self._store_body(result)
        self.log.info(
            "Scraped %s: status %s, success=%s, %d extracted field(s).",
            request.url,
            result.statusCode,
            success,
            len(result.extracted_data or {}),
        )
        if not success and self.fail_on_unsuccessful:
            steps = "; ".join(guidance.next_steps) if guidance and guidance.next_steps else "check the URL"
            raise ScrapingProsRunFailedError(
                f"Scraping {request.url} did not return usable content (status {result.statusCode}, "
                f"{summary['error_type'] or result.message}); no credits were charged. Next steps: {steps}. "
                "Set fail_on_unsuccessful=False to keep the verdict in XCom instead."
            )
        return summary

    def _store_body(self, result: ScrapeResult) -> str:
        from airflow.sdk import ObjectStoragePath

        if result.body_base64 is not None:
            body = base64.b64decode(result.body_base64)
        else:
            body = (result.html or result.markdown or "").encode()
        path = ObjectStoragePath(str(self.destination), conn_id=self.storage_conn_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return str(self.destination)
