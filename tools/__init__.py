"""Operator tools (``python -m tools.dlq``, ``python -m tools.keys``) for the local stack or an AWS stage.

Shared here: which endpoint, region and credentials a tool talks to for a stage. For the
``local`` stage they come from the running local stack's ``local.json`` (moto on loopback, fake
credentials); for any other stage from the usual AWS configuration (profile, environment,
``--region``), with ``--endpoint-url`` to aim at something else that speaks the AWS APIs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

__all__ = ["Target", "add_target_arguments", "resolve_target"]

LOCAL_STAGE = "local"
_FAKE_CREDENTIAL = "testing"  # what the local stack's moto accepts; opens nothing real


@dataclass(frozen=True)
class Target:
    """One stage of the service somewhere: its resource names and how to reach them."""

    stage: str
    endpoint_url: str | None
    region: str | None
    local: bool

    @property
    def table(self) -> str:
        return f"oms-{self.stage}"

    def queue_name(self, name: str) -> str:
        return f"oms-{self.stage}-{name}"

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
            # moto serves DynamoDB only at the plain endpoint, not account-based ones.
            kwargs["config"] = Config(account_id_endpoint_mode="disabled")
        if self.local:
            kwargs.update(aws_access_key_id=_FAKE_CREDENTIAL, aws_secret_access_key=_FAKE_CREDENTIAL)
        return boto3.client(service, **kwargs)


def add_target_arguments(parser: argparse.ArgumentParser, *, suppress_defaults: bool = False) -> None:
    """``--stage``, ``--endpoint-url``, ``--region`` (on a subcommand too, with ``suppress_defaults``)."""
    default = argparse.SUPPRESS if suppress_defaults else None
    parser.add_argument(
        "--stage",
        default=argparse.SUPPRESS if suppress_defaults else LOCAL_STAGE,
        help="stage whose resources to use (default: local, the stack `make run` starts)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=default,
        help="AWS API endpoint (default: the local stack's for stage local, AWS itself otherwise)",
    )
    parser.add_argument(
        "--region", default=default, help="AWS region (default: the local stack's, or your AWS config's)"
    )


def resolve_target(args: argparse.Namespace) -> Target:
    stage: str = args.stage
    endpoint_url: str | None = args.endpoint_url
    region: str | None = args.region
    local = stage == LOCAL_STAGE
    if local and (endpoint_url is None or region is None):
        from infra.local.state import read_local_config

        config = read_local_config()
        endpoint_url = endpoint_url or config["aws_endpoint_url"]
        region = region or config["region"]
    return Target(stage=stage, endpoint_url=endpoint_url, region=region, local=local)
