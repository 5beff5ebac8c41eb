"""Startup configuration of the sandbox (docs/sandbox.md#running-it): one field per CLI option.

Every option has an environment twin `SP_SANDBOX_<OPTION>` (`--worker-timeout` ↔
`SP_SANDBOX_WORKER_TIMEOUT`). Environment strings go through pydantic's lax parsing, so `"0.01"`,
`"true"` and `"8000"` become the declared types; an empty string means "unset" for optional fields.
Unknown fields are rejected so a typo in a test's `sandbox_factory(...)` call fails loudly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "SP_SANDBOX_"


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_base_url: str | None = None
    webhook_secret: str = "sp_sandbox_dev_secret"
    worker_timeout: float = Field(default=60.0, gt=0)
    time_scale: float = Field(default=1.0, gt=0)
    clock: Literal["real", "manual"] = "real"
    default_latency_ms: int = Field(default=200, ge=0)
    result_retention_hours: float = Field(default=48, gt=0)
    metadata_retention_days: float = Field(default=90, gt=0)
    idempotency_window_hours: float = Field(default=24, gt=0)
    inline_result_cap_bytes: int = Field(default=262144, ge=0)
    webhook_timeout: float = Field(default=10.0, gt=0)
    tokens: str | None = None
    accept_any_token: bool = False
    fault_profile: str | None = None
    seed: int = 0
    # The link model (docs/sandbox.md#link-model): a WAN to rehearse against, off by default.
    link_mbps: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    body_size_mean: int | None = Field(default=None, ge=1)
    body_size_sigma: float = Field(default=0.5, ge=0, allow_inf_nan=False)

    @classmethod
    def env_name(cls, field: str) -> str:
        return ENV_PREFIX + field.upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SandboxConfig:
        """Config from `SP_SANDBOX_*` variables; explicit `overrides` win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = env.get(cls.env_name(name))
            if raw is None:
                continue
            optional = field.default is None
            values[name] = None if (optional and raw.strip() == "") else raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
