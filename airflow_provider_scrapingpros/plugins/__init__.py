"""Airflow plugins of the provider: the webhook receiver mounted in the API server (webhooks.py).

Loaded through the `airflow.plugins` entry point; nothing else in the package imports this folder.
"""
