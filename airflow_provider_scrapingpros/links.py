"""The "ScrapingPros run" button on a task: the run's API URL, saved as soon as the run id exists, so
even a task that later fails or is killed points the user at the run that continues server-side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator


class ScrapingProsRunLink(BaseOperatorLink):
    name = "ScrapingPros run"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        # Airflow 3's API server reads `xcom_key` directly; this path serves older UIs and tests.
        from airflow.sdk.bases.xcom import BaseXCom

        value = BaseXCom.get_value(ti_key=ti_key, key=self.xcom_key)
        return value if isinstance(value, str) else ""

    @classmethod
    def persist(cls, context: Any, url: str) -> None:
        context["ti"].xcom_push(key=cls().xcom_key, value=url)
