"""`scrapingpros-sandbox` (docs/sandbox.md#running-it): one flag per configuration field, and a
configuration or startup problem is exit status 2 with the reason on stderr, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_scrapingpros.sandbox import SandboxConfig
from airflow_provider_scrapingpros.sandbox.cli import build_parser, main


def test_every_configuration_field_has_a_flag() -> None:
    parser = build_parser()
    flags = {option for action in parser._actions for option in action.option_strings}
    for name in SandboxConfig.model_fields:
        assert "--" + name.replace("_", "-") in flags
    assert "--no-accept-any-token" in flags  # booleans can be switched off over an env twin
    args = parser.parse_args(["--time-scale", "0.5", "--clock", "manual"])
    assert (args.time_scale, args.clock, args.port) == (0.5, "manual", None)


def test_an_invalid_option_from_the_environment_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SP_SANDBOX_TIME_SCALE", "0")
    assert main(["--port", "0"]) == 2
    assert "invalid configuration" in capsys.readouterr().err


def test_an_unreadable_token_table_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"tok_a": {"plan": "platinum"}}')
    assert main(["--port", "0", "--tokens", str(tokens)]) == 2
    err = capsys.readouterr().err
    assert "cannot start" in err and "unknown plan 'platinum'" in err
