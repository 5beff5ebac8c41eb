"""The sandbox CLI in a child process, for callers that time an event loop or measure memory: an
in-process sandbox shares their GIL and heap, and its work would be blamed on the code under test."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sandbox_subprocess(*options: str) -> Iterator[str]:
    """Start `python -m airflow_provider_scrapingpros.sandbox --port 0 OPTIONS…`; yield its base URL."""
    command = [sys.executable, "-m", "airflow_provider_scrapingpros.sandbox", "--port", "0", *options]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        found = re.search(r"listening on (http://\S+)", proc.stdout.readline())
        if found is None:
            raise RuntimeError(f"the sandbox process did not start: {' '.join(command)}")
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
