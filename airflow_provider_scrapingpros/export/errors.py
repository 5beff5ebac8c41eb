"""Errors of the export. Both are `ScrapingProsError`s, so callers can catch the provider's base."""

from __future__ import annotations

from ..exceptions import ScrapingProsError


class ExportConflictError(ScrapingProsError):
    """The destination already holds an export of another run, or one made with other options."""


class ExportExpiredError(ScrapingProsError):
    """Some bodies were past retention (`on_expired="fail"`); everything else was written."""

    def __init__(self, message: str, *, expired: int, oldest_age_hours: float | None) -> None:
        super().__init__(message)
        self.expired = expired
        self.oldest_age_hours = oldest_age_hours


class ExportIncompleteError(ScrapingProsError):
    """The run ended but the jobs listing returned fewer terminal jobs than the run counts."""
