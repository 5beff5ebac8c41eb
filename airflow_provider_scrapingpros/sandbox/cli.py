"""`scrapingpros-sandbox`: run the sandbox until Ctrl-C (options in docs/sandbox.md#running-it).

Options are generated from `SandboxConfig`, so the CLI, the env twins (`SP_SANDBOX_<OPTION>`) and
the Python API can never disagree. Precedence: command line > environment > defaults.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from .config import SandboxConfig
from .sandbox import Sandbox

_HELP = {
    "host": "interface to bind (default 127.0.0.1)",
    "port": "port to bind; 0 picks a free one (default 8000)",
    "public_base_url": "base URL used in webhook results_url (default http://<host>:<port>)",
    "webhook_secret": "HMAC secret of webhook signatures (default sp_sandbox_dev_secret)",
    "worker_timeout": "simulated seconds before a job ends 'timeout' (default 60)",
    "time_scale": "multiplier of simulated latency, worker timeout and webhook retry delays (default 1.0)",
    "clock": "real: wall time plus advances; manual: moves only by POST /_sandbox/clock/advance",
    "default_latency_ms": "simulated fetch latency without an sp_latency_ms hint (default 200)",
    "result_retention_hours": "hours a result body stays retrievable (default 48)",
    "metadata_retention_days": "days a finished run stays listed (default 90)",
    "idempotency_window_hours": "hours an Idempotency-Key is remembered (default 24)",
    "inline_result_cap_bytes": "largest body inlined in jobs pages (default 262144)",
    "webhook_timeout": "seconds per webhook attempt (default 10)",
    "tokens": "JSON file {token: {plan | limits}} replacing the default token table",
    "accept_any_token": "unknown tokens get the Enterprise plan instead of 401",
    "fault_profile": "JSON fault profile applied at startup and restored by reset",
    "seed": "seed of the fault profile and of page sizes (default 0)",
    "link_mbps": "per-connection cap on /v1 response bodies, megabits/s (default unlimited)",
    "body_size_mean": "mean bytes of a page without sp_bytes, lognormal per URL (default 1-1.5 KB)",
    "body_size_sigma": "sigma of the lognormal page sizes of --body-size-mean (default 0.5)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scrapingpros-sandbox",
        description="Local emulator of the ScrapingPros API. Every option also reads SP_SANDBOX_<OPTION>.",
    )
    for name, field in SandboxConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = f"{_HELP.get(name, '')} [env {SandboxConfig.env_name(name)}]"
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text}
        if field.annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif name == "clock":
            kwargs["choices"] = ("real", "manual")
        else:
            default = field.default
            kwargs["type"] = type(default) if isinstance(default, (int, float)) else str
        parser.add_argument(flag, **kwargs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = SandboxConfig.from_env(**vars(args))
    except ValidationError as exc:
        print(f"scrapingpros-sandbox: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sandbox = Sandbox(config).start()
    except (OSError, ValueError) as exc:  # unreadable tokens/fault file, bad JSON, port in use
        print(f"scrapingpros-sandbox: cannot start: {exc}", file=sys.stderr)
        return 2
    # SIGTERM (docker stop, kill) stops cleanly like Ctrl-C; background shells may ignore SIGINT.
    signal.signal(signal.SIGTERM, lambda signum, frame: sandbox.request_stop())
    print(
        f"ScrapingPros sandbox listening on {sandbox.base_url} (clock={config.clock}, "
        f"time_scale={config.time_scale:g}); dev token: sp_sandbox_dev. Ctrl-C to stop.",
        flush=True,
    )
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0
