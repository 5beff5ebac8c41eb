"""DAG parsing pays nothing for lineage: our operator modules, and building the operators, import
neither the OpenLineage client nor the provider's code (the lineage methods import them when called).
The provider's `__init__` and `get_provider_info` may load: Airflow's provider manager reads those of
every installed provider when the first Asset is built."""

from __future__ import annotations

import json
import subprocess
import sys

PARSE = """
import json, sys
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_scrapingpros.assets import collection_asset
from airflow_provider_scrapingpros.operators.collections import (
    ScrapingProsCreateCollectionOperator, ScrapingProsRunCollectionOperator,
    ScrapingProsUpdateCollectionOperator,
)
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.operators.scrape import ScrapingProsScrapeOperator

with DAG(dag_id="parse", schedule=None, start_date=datetime(2026, 1, 1)):
    ScrapingProsCreateCollectionOperator(task_id="c", name="n", requests=["https://example.com/"])
    ScrapingProsUpdateCollectionOperator(task_id="u", collection_id="c1", name="n", requests=["https://e.com/"])
    ScrapingProsRunCollectionOperator(task_id="r", collection_id="c1")
    ScrapingProsExportResultsOperator(task_id="e", collection_id="c1", run_id="r1", destination="file:///tmp/x/")
    ScrapingProsScrapeOperator(task_id="s", request="https://example.com/")
collection_asset("c1", base_url="https://api.scrapingpros.com")
ol = [m for m in sys.modules if m.startswith(("openlineage", "airflow.providers.openlineage."))]
print(json.dumps(sorted(set(ol) - {"airflow.providers.openlineage.get_provider_info"})))
"""


def test_parsing_a_dag_of_every_operator_imports_no_openlineage() -> None:
    done = subprocess.run([sys.executable, "-c", PARSE], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
