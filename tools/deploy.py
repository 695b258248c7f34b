"""Deploy a stage to AWS in one command (``make deploy STAGE=dev BUCKET=... SENDER_EMAIL=...``).

``make package`` has written ``out/sam.json`` and ``out/deployment.zip``; this tool then

1. uploads the deployment package to ``s3://BUCKET/<prefix>/<sha256>.zip`` (content-addressed, so
   re-deploying the same code uploads nothing new and CloudFormation sees no code change) and
   points every function's ``CodeUri`` at it;
2. uploads the template next to it (it is larger than CloudFormation's 51,200-byte inline limit);
3. creates a change set (``CREATE`` for a new stack, ``UPDATE`` after), prints what it changes,
   executes it and waits, printing every failed resource's reason if the deploy rolls back;
4. prints the stack's outputs, the API's URL first;
5. creates the key that signs links in e-mails and console sessions (SSM SecureString
   ``/oms/<stage>/signing/links``) when the stage has none: CloudFormation cannot create a
   SecureString, and a stage without it could neither sign nor accept a link;
6. on a stack's first deploy only, mints the first admin API key and prints it once;
7. warns when SES has not verified the sender address (nothing is e-mailed until it has).

The same code runs against the emulated AWS of ``make deploy-check`` (:mod:`tools.deploy_check`),
which is how CI rehearses a deploy without an account.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.api_keys import ApiKeyStore
from chalicelib.adapters.secrets import SecretStore
from chalicelib.bootstrap import LINK_SIGNING_SECRET
from chalicelib.domain.auth import Role
from tools import Target

OUT = Path("out")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
#: What CloudFormation says of a change set that changes nothing (a re-deploy of the same build).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
FIRST_ADMIN_LABEL = "first admin (make deploy)"
_STACK_STABLE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "CREATE_FAILED",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_COMPLETE",
    "DELETE_FAILED",
}


class DeployFailed(Exception):
    """The deploy stopped; the message says where and why."""


@dataclass(frozen=True)
class DeployRequest:
    stage: str
    bucket: str
    sender_email: str
    stack_name: str
    prefix: str = "oms"
    template_path: Path = OUT / "sam.json"
    package_path: Path = OUT / "deployment.zip"


@dataclass
class DeployResult:
    stack_name: str
    created: bool
    changed: bool
    outputs: dict[str, str] = field(default_factory=dict)
    admin_key: str | None = None
    link_key_created: bool = False
    sender_verified: bool = True


def artifact_key(prefix: str, stage: str, body: bytes, suffix: str) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return f"{prefix}/{stage}/{digest}{suffix}"


def point_code_at(template: Mapping[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """A copy of the template whose functions' ``CodeUri`` is the uploaded package."""
    result: dict[str, Any] = json.loads(json.dumps(template))
    functions = [r for r in result["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    if not functions:
        raise DeployFailed("the template declares no AWS::Serverless::Function: was it made by make package?")
    for resource in functions:
        resource["Properties"]["CodeUri"] = f"s3://{bucket}/{key}"
    return result


def stack_parameters(request: DeployRequest) -> list[dict[str, str]]:
    return [
        {"ParameterKey": "Stage", "ParameterValue": request.stage},
        {"ParameterKey": "SenderEmail", "ParameterValue": request.sender_email},
    ]


def _stack(cloudformation: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stacks[0] if stacks else None


def _wait(read: Callable[[], dict[str, Any]], done: Callable[[str], bool], what: str) -> str:
    deadline = time.monotonic() + 3600
    while True:
        current = read()
        status = str(current.get("Status") or current.get("StackStatus"))
        if done(status):
            return status
        if time.monotonic() > deadline:
            raise DeployFailed(f"{what} still {status} after an hour")
        time.sleep(5)


def _failure_reasons(cloudformation: Any, stack_name: str) -> list[str]:
    events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    return [
        f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("FAILED")
    ]


class Deployer:
    """One deploy of one stage, through the clients it is given (AWS, or the emulator)."""

    def __init__(self, target: Target, *, log: Callable[[str], None] = print) -> None:
        self.s3 = target.client("s3")
        self.cloudformation = target.client("cloudformation")
        self.target = target
        self.log = log

    def upload(self, request: DeployRequest, body: bytes, suffix: str) -> str:
        key = artifact_key(request.prefix, request.stage, body, suffix)
        try:
            self.s3.head_object(Bucket=request.bucket, Key=key)
            self.log(f"s3://{request.bucket}/{key} already uploaded")
        except ClientError:
            self.s3.put_object(Bucket=request.bucket, Key=key, Body=body)
            self.log(f"uploaded s3://{request.bucket}/{key} ({len(body):,} bytes)")
        return key

    def template_url(self, bucket: str, key: str) -> str:
        region = self.s3.meta.region_name
        return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"

    def change_set(self, request: DeployRequest, template_url: str) -> tuple[str, bool]:
        created = _stack(self.cloudformation, request.stack_name) is None
        name = f"oms-{int(time.time())}"
        self.cloudformation.create_change_set(
            StackName=request.stack_name,
            ChangeSetName=name,
            ChangeSetType="CREATE" if created else "UPDATE",
            TemplateURL=template_url,
            Parameters=stack_parameters(request),
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "oms:stage", "Value": request.stage}],
        )
        return name, created

    def await_change_set(self, stack_name: str, name: str) -> bool:
        """True when the change set has changes to execute; False when it changes nothing."""

        def read() -> dict[str, Any]:
            return dict(self.cloudformation.describe_change_set(StackName=stack_name, ChangeSetName=name))

        status = _wait(read, lambda s: s in {"CREATE_COMPLETE", "FAILED"}, "change set")
        described = read()
        if status == "FAILED":
            reason = str(described.get("StatusReason", ""))
            if any(marker in reason for marker in NO_CHANGES):
                self.cloudformation.delete_change_set(StackName=stack_name, ChangeSetName=name)
                return False
            raise DeployFailed(f"change set {name} failed: {reason}")
        for change in described.get("Changes", []):
            rc = change.get("ResourceChange", {})
            self.log(f"  {rc.get('Action', '?'):<7} {rc.get('LogicalResourceId')} ({rc.get('ResourceType')})")
        return True

    def execute(self, stack_name: str, name: str) -> None:
        self.cloudformation.execute_change_set(StackName=stack_name, ChangeSetName=name)

        def read() -> dict[str, Any]:
            return _stack(self.cloudformation, stack_name) or {"StackStatus": "DELETE_COMPLETE"}

        status = _wait(read, lambda s: s in _STACK_STABLE, "stack")
        if status not in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
            reasons = "\n  ".join(_failure_reasons(self.cloudformation, stack_name)) or "(no reason given)"
            raise DeployFailed(f"stack {stack_name} ended {status}:\n  {reasons}")

    def outputs(self, stack_name: str) -> dict[str, str]:
        stack = _stack(self.cloudformation, stack_name) or {}
        return {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs", [])}

    def mint_first_admin(self, table_name: str) -> str:
        store = ApiKeyStore(self.target.client("dynamodb"), table_name)
        return store.mint(Role.ADMIN, None, label=FIRST_ADMIN_LABEL).raw_key

    def ensure_link_signing_key(self, stage: str) -> bool:
        """Create the stage's link-signing key if it has none; True when it was created."""
        store = SecretStore(self.target.client("ssm"), f"/oms/{stage}")
        if store.secrets(LINK_SIGNING_SECRET):
            return False
        store.put(LINK_SIGNING_SECRET, [secrets.token_urlsafe(32)])
        return True

    def sender_verified(self, address: str) -> bool:
        domain = address.rpartition("@")[2]
        attributes = self.target.client("ses").get_identity_verification_attributes(
            Identities=[address, domain]
        )
        statuses = {v.get("VerificationStatus") for v in attributes["VerificationAttributes"].values()}
        return "Success" in statuses

    def deploy(
        self, request: DeployRequest, *, prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    ) -> DeployResult:
        """Upload, change set, execute, outputs; ``prepare`` transforms the template before upload.

        ``prepare`` is for the rehearsal only: the emulator cannot run CloudFormation's SAM
        transform, so :mod:`tools.deploy_check` expands it offline first. AWS runs it itself.
        """
        package = request.package_path.read_bytes()
        code_key = self.upload(request, package, ".zip")
        template = point_code_at(json.loads(request.template_path.read_text()), request.bucket, code_key)
        if prepare is not None:
            template = prepare(template)
        body = json.dumps(template, sort_keys=True).encode()
        template_key = self.upload(request, body, ".template.json")
        name, created = self.change_set(request, self.template_url(request.bucket, template_key))
        changed = self.await_change_set(request.stack_name, name)
        if changed:
            self.execute(request.stack_name, name)
        else:
            self.log("nothing to change: the stack already runs this build")
        result = DeployResult(request.stack_name, created=created, changed=changed)
        result.outputs = self.outputs(request.stack_name)
        result.link_key_created = self.ensure_link_signing_key(request.stage)
        if created:
            result.admin_key = self.mint_first_admin(result.outputs.get("TableName", f"oms-{request.stage}"))
        result.sender_verified = self.sender_verified(request.sender_email)
        return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, help="stage name (resources are named oms-<stage>-...)")
    parser.add_argument("--bucket", required=True, help="S3 bucket for the package and template (yours)")
    parser.add_argument("--sender-email", required=True, help="SES-verified address customer e-mail is from")
    parser.add_argument("--stack-name", help="CloudFormation stack (default oms-<stage>)")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    parser.add_argument("--prefix", default="oms", help="key prefix inside the bucket (default oms)")
    return parser


def report(result: DeployResult, out: Callable[[str], None] = print) -> None:
    url = result.outputs.get("EndpointURL")
    what = "created" if result.created else "updated" if result.changed else "unchanged"
    out(f"stack {result.stack_name}: {what}")
    if url:
        out(f"API: {url}")
    for key in sorted(result.outputs):
        if key != "EndpointURL":
            out(f"  {key} = {result.outputs[key]}")
    if result.link_key_created:
        out("created the link-signing key (SSM SecureString signing/links)")
    if not result.sender_verified:
        print(
            "warning: SES has not verified the sender address or its domain: no e-mail goes out until it has"
            " (docs/deploy.md, prerequisites)",
            file=sys.stderr,
        )
    if result.admin_key:
        print("first admin API key (shown this once; store it now):", file=sys.stderr)
        print(result.admin_key)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    request = DeployRequest(
        stage=args.stage,
        bucket=args.bucket,
        sender_email=args.sender_email,
        stack_name=args.stack_name or f"oms-{args.stage}",
        prefix=args.prefix,
    )
    for path in (request.template_path, request.package_path):
        if not path.is_file():
            print(f"{path} is missing: run `make package STAGE={args.stage}` first", file=sys.stderr)
            return 2
    target = Target(stage=args.stage, endpoint_url=None, region=args.region, local=False)
    try:
        report(Deployer(target, log=lambda line: print(line, file=sys.stderr)).deploy(request))
    except DeployFailed as error:
        print(f"deploy failed: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"deploy failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
