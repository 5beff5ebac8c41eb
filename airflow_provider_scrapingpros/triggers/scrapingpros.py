"""The 0.1.0 home of `ScrapingProsRunTrigger`, kept as an alias.

Airflow stores a deferred task's trigger by class path in its database; a task deferred by 0.1.0
(`airflow_provider_scrapingpros.triggers.scrapingpros.ScrapingProsRunTrigger`) is rebuilt from that
path by a triggerer running a newer release, so the path must keep importing. New triggers serialize
under `triggers.run`.
"""

from __future__ import annotations

from .run import ScrapingProsRunTrigger

__all__ = ["ScrapingProsRunTrigger"]
