"""Apache Airflow 3 provider for the ScrapingPros asynchronous scraping API.

`get_provider_info()` is read by Airflow's provider manager at start-up, so it must import nothing
from Airflow (or anything heavy): the connection form is declared here as plain data.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

CONN_TYPE = "scrapingpros"
DEFAULT_CONN_ID = "scrapingpros_default"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-scrapingpros",
        "name": "ScrapingPros",
        "description": "Create and run ScrapingPros collections, wait without a worker slot, "
        "and export every result to object storage before the 48-hour retention window closes.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_scrapingpros.hooks.scrapingpros.ScrapingProsHook",
            }
        ],
        "conn-fields": {
            "timeout": {
                "label": "Request timeout (seconds)",
                "schema": {"type": ["number", "null"], "minimum": 1},
            },
            "max_retries": {
                "label": "Max retries",
                "schema": {"type": ["integer", "null"], "minimum": 0},
            },
            "webhook_secret": {
                "label": "Webhook secret",
                "schema": {"type": ["string", "null"], "format": "password"},
                "sensitive": True,
            },
        },
        "ui-field-behaviour": {
            "hidden_fields": ["schema", "login", "port"],
            "relabeling": {"host": "Base URL", "password": "API token"},
            "placeholders": {
                "host": "https://api.scrapingpros.com (or http://127.0.0.1:8000 for the sandbox)",
                "password": "your ScrapingPros API token",
            },
        },
        "hooks": [
            {
                "integration-name": "ScrapingPros",
                "python-modules": ["airflow_provider_scrapingpros.hooks.scrapingpros"],
            }
        ],
        "operators": [
            {
                "integration-name": "ScrapingPros",
                "python-modules": [
                    "airflow_provider_scrapingpros.operators.collections",
                    "airflow_provider_scrapingpros.operators.run",
                    "airflow_provider_scrapingpros.operators.export",
                    "airflow_provider_scrapingpros.operators.scrape",
                    "airflow_provider_scrapingpros.operators.rescrape",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "ScrapingPros",
                "python-modules": ["airflow_provider_scrapingpros.sensors.scrapingpros"],
            }
        ],
        "triggers": [
            {
                "integration-name": "ScrapingPros",
                "python-modules": [
                    "airflow_provider_scrapingpros.triggers.run",
                    "airflow_provider_scrapingpros.triggers.export",
                    "airflow_provider_scrapingpros.triggers.events",
                ],
            }
        ],
        "integrations": [
            {
                "integration-name": "ScrapingPros",
                "external-doc-url": "https://scrapingpros.com",
                "tags": ["service"],
            }
        ],
        "extra-links": ["airflow_provider_scrapingpros.links.ScrapingProsRunLink"],
        # One Asset per collection, whichever way the news of a finished run came (watcher or webhook).
        "asset-uris": [
            {
                "schemes": ["scrapingpros"],
                "handler": "airflow_provider_scrapingpros.assets.normalize_uri",
                # hook lineage (lineage/hook.py) as OpenLineage datasets; OpenLineage loads only inside it
                "to_openlineage_converter": "airflow_provider_scrapingpros.lineage.convert.to_openlineage",
            }
        ],
    }
