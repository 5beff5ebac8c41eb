"""Errors of the export. All are `ScrapingProsError`s, so callers can catch the provider's base."""

from __future__ import annotations

from ..exceptions import ScrapingProsError, ScrapingProsInputError


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


class ExportInProgressError(ScrapingProsError):
    """The same export is being written to the destination by another live task; nothing was written.
    Worth retrying later (unlike a conflict): the rerun finds the finished export and succeeds.
    `retry_at` (epoch s): when to look again — the owner's claim lapses then unless it is renewed."""

    def __init__(self, message: str, *, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class ExportListingError(ScrapingProsError):
    """The jobs listing repeated, reordered or strayed, or never ended: nothing is exported past it."""


class ExportDestinationError(ScrapingProsInputError):
    """The destination cannot hold an export; fix the URI, the connection or the bucket (no retry)."""


class ExportDestinationUnavailableError(ScrapingProsError):
    """The storage did not answer the probe; worth a retry (a network error, a throttled store)."""


class ExportChainError(ScrapingProsInputError):
    """`run_ids` do not form one rescrape chain: attempts cannot be matched one to one (no retry)."""
