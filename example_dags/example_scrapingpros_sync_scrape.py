"""One page, right now: the sync scrape endpoint with `extract` selectors. Useful for a price
check or a smoke test of a site before scheduling a full collection. XCom holds the extracted
fields and the verdict, not the page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_scrapingpros.operators.scrape import ScrapingProsScrapeOperator

with DAG(
    dag_id="example_scrapingpros_sync_scrape",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    catchup=False,
    tags=["scrapingpros", "example"],
    doc_md=__doc__,
):
    page = ScrapingProsScrapeOperator(
        task_id="scrape_product",
        request={
            "url": "https://books.example.com/catalogue/product/1",
            "extract": {"title": "css:h1", "price": "css:.price_color"},
        },
    )

    @task
    def use_fields(scraped: dict[str, Any]) -> dict[str, Any]:
        print(f"{scraped['url']}: {scraped['extracted_data']}")
        return {"url": scraped["url"], **(scraped["extracted_data"] or {})}

    use_fields(page.output)
