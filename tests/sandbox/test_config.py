"""Startup configuration (docs/sandbox.md#running-it): `SP_SANDBOX_*` strings become typed values,
explicit options win over the environment, and a typo fails instead of being ignored."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from airflow_provider_scrapingpros.sandbox import SandboxConfig


def test_environment_strings_become_the_declared_types() -> None:
    config = SandboxConfig.from_env(
        {
            "SP_SANDBOX_TIME_SCALE": " 0.01 ",
            "SP_SANDBOX_ACCEPT_ANY_TOKEN": "true",
            "SP_SANDBOX_PORT": "8123",
            "SP_SANDBOX_TOKENS": "",  # empty = unset for an optional field
            "SP_SANDBOX_UNRELATED": "ignored",
        }
    )
    assert (config.time_scale, config.accept_any_token, config.port, config.tokens) == (
        0.01,
        True,
        8123,
        None,
    )
    assert SandboxConfig.env_name("worker_timeout") == "SP_SANDBOX_WORKER_TIMEOUT"


def test_explicit_options_win_and_none_means_not_given() -> None:
    env = {"SP_SANDBOX_CLOCK": "manual", "SP_SANDBOX_SEED": "3"}
    config = SandboxConfig.from_env(env, clock="real", seed=None)
    assert (config.clock, config.seed) == ("real", 3)


def test_bad_values_and_unknown_fields_fail_loudly() -> None:
    with pytest.raises(ValidationError, match="time_scale"):
        SandboxConfig.from_env({"SP_SANDBOX_TIME_SCALE": "0"})
    with pytest.raises(ValidationError, match="worker_timeuot"):
        SandboxConfig(worker_timeuot=5)  # type: ignore[call-arg]
