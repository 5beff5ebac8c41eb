"""The ScrapingPros sandbox: a faithful local emulator of the ScrapingPros API (docs/sandbox.md).

Users develop DAGs against it without spending credits, the demo runs on it, and every test of the
provider talks to it over real HTTP. Pure stdlib server; see `sandbox.py` for how the parts fit.
"""

from __future__ import annotations

from .config import SandboxConfig
from .control import SandboxControl
from .sandbox import Sandbox

__all__ = ["Sandbox", "SandboxConfig", "SandboxControl"]
