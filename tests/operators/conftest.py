"""The `conn` fixture: the session sandbox as `scrapingpros_default`."""

from tests.task_context import conn

__all__ = ["conn"]
