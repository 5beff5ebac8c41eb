"""Airflow hooks of the ScrapingPros provider."""

from __future__ import annotations

from .scrapingpros import ScrapingProsHook

__all__ = ["ScrapingProsHook"]
