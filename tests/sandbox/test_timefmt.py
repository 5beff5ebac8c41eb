"""Time on the wire (docs/api-notes.md#wire-conventions): emitted stamps are UTC with milliseconds
and `Z`; incoming timestamps are accepted in every documented spelling and nothing else."""

from __future__ import annotations

import pytest

from airflow_provider_scrapingpros.sandbox.timefmt import iso_ms, parse_iso_us


def test_iso_ms_is_utc_with_three_digits_and_z() -> None:
    assert iso_ms(1_777_629_600_123) == "2026-05-01T10:00:00.123Z"
    assert iso_ms(1_777_629_600_000) == "2026-05-01T10:00:00.000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T10:00:00.123Z",
        "2026-05-01T10:00:00.123+00:00",
        "2026-05-01T12:00:00.123+02:00",
        "2026-05-01T12:00:00.123 02:00",  # an unencoded '+' arrives as a space
        "2026-05-01T10:00:00.123",  # naive = UTC
        "2026-05-01T10:00:00.123000",
        "2026-05-01T12:00:00.123+0200",
    ],
)
def test_parse_iso_accepts_the_documented_forms(text: str) -> None:
    assert parse_iso_us(text) == 1_777_629_600_123_000


@pytest.mark.parametrize("text", ["yesterday", "2026-02-30T00:00:00Z", "2026-05-01T10:00:00.1234567Z", ""])
def test_parse_iso_rejects_the_rest(text: str) -> None:
    assert parse_iso_us(text) is None
