"""`python -m airflow_provider_scrapingpros.sandbox`: same as the `scrapingpros-sandbox` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
