"""What every ScrapingPros task shares: the connection id, a lazily built hook, and (Airflow 3.3+)
a retry policy that does not waste retries on errors a retry cannot fix."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..retry_policy import default_retry_policy

if TYPE_CHECKING:
    from ..hooks.scrapingpros import ScrapingProsHook


def default_deferrable() -> bool:
    conf: Any
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow < 3.2
        from airflow.configuration import conf
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


class ScrapingProsTaskMixin:
    """Mixed into operators and the sensor (which derive from different Airflow bases)."""

    scrapingpros_conn_id: str

    @staticmethod
    def _with_retry_policy(kwargs: dict[str, Any]) -> dict[str, Any]:
        policy = default_retry_policy()
        if policy is not None and kwargs.get("retry_policy") is None:
            kwargs["retry_policy"] = policy
        return kwargs

    @cached_property
    def hook(self) -> ScrapingProsHook:
        # Imported here: DAG files import operators at parse time; requests/httpx are not needed then.
        from ..hooks.scrapingpros import ScrapingProsHook

        return ScrapingProsHook(scrapingpros_conn_id=self.scrapingpros_conn_id)
