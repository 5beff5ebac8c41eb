"""`webhook_base_url` on the create operator: the callback becomes the plugin's receiver URL for the
operator's connection, checked before any API call (the API cannot change a callback later)."""

from __future__ import annotations

import pytest

from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.collections import (
    ScrapingProsCreateCollectionOperator,
    receiver_url,
)
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.task_context import conn, context_for

__all__ = ["conn"]


def test_the_callback_is_the_receiver_of_the_connection(conn: SandboxControl) -> None:
    # a closed local port: the run's webhook fails fast instead of reaching a real host
    base = "http://127.0.0.1:9/"
    create = ScrapingProsCreateCollectionOperator(
        task_id="c", name="hooked", requests=["example.com/a"], webhook_base_url=base
    )
    cid = create.execute(context_for())
    expected = "http://127.0.0.1:9/scrapingpros/webhooks/scrapingpros_default"
    assert create.callback_url == expected
    hook = ScrapingProsHook()
    run = hook.create_run(cid)
    assert hook.get_run(cid, run.run_id).callback_url == expected  # what the API stored


@pytest.mark.parametrize(
    ("base", "conn_id", "expected"),
    [
        ("https://af.example.com", "sp", "https://af.example.com/scrapingpros/webhooks/sp"),
        ("http://10.0.0.5:8080/airflow/", "sp", "http://10.0.0.5:8080/airflow/scrapingpros/webhooks/sp"),
        ("https://af.example.com", "a b/c", "https://af.example.com/scrapingpros/webhooks/a%20b%2Fc"),
    ],
)
def test_receiver_url(base: str, conn_id: str, expected: str) -> None:
    assert receiver_url(base, conn_id) == expected


@pytest.mark.parametrize(
    "base", ["airflow.example.com", "ftp://a.example", "https://a.example/?x=1", "https://"]
)
def test_a_bad_base_url_fails_before_any_call(conn: SandboxControl, base: str) -> None:
    create = ScrapingProsCreateCollectionOperator(
        task_id="c", name="n", requests=["a.com"], webhook_base_url=base
    )
    with pytest.raises(ScrapingProsInputError, match="webhook_base_url"):
        create.execute(context_for())
    assert conn.count() == 0


def test_callback_url_and_webhook_base_url_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="not both"):
        ScrapingProsCreateCollectionOperator(
            task_id="c", name="n", requests=["a.com"], callback_url="https://x", webhook_base_url="https://y"
        )
