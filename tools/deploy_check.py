"""Rehearse a deploy without an AWS account (``make deploy-check``; CI runs it).

The packaged template (``make package``: ``out/sam.json``) goes through the same code as
``make deploy`` (:mod:`tools.deploy`: upload, change set, execute), against AWS emulated in
process by moto. The emulator cannot run CloudFormation's SAM transform, so the template is
expanded offline first with ``aws-sam-translator``, the library CloudFormation's transform is
built from. Then the created stack is checked for what a real deploy depends on:

- every function exists with its handler (and the handler exists in the app), its role and
  every environment variable the template gives it, each resolved to a value;
- every queue a function consumes has its event source mapping, with ``ReportBatchItemFailures``;
- the table's stream has its mapping; every schedule has its rule and target;
- every queue that feeds a function has a dead-letter queue, and every dead-letter queue an alarm;
- the API has every route the app declares.

Where the emulator does not create a resource type, the check says so by name (and checks that
resource in the expanded template instead) rather than skipping it silently.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import Target
from tools.deploy import OUT, Deployer, DeployRequest

REGION = "us-east-1"
BUCKET = "oms-deploy-check"
STAGE = "check"
SENDER = "orders@example.com"


class _NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs only for ``Policies:`` by name; ours name none."""

    def load(self) -> dict[str, str]:
        return {}


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """The template with ``AWS::Serverless-2016-10-31`` expanded, as CloudFormation would."""
    from samtranslator.public.exceptions import InvalidDocumentException  # type: ignore[import-untyped]
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

    parameters = {"Stage": STAGE, "SenderEmail": SENDER}
    try:
        expanded: dict[str, Any] = transform(template, parameters, _NoManagedPolicies())
    except InvalidDocumentException as error:
        causes = "; ".join(str(cause) for cause in error.causes)
        raise SystemExit(f"the SAM transform refused the template: {causes}") from error
    return expanded


#: Liberties the rehearsal takes with the expanded template, each because the emulator needs it
#: where AWS does not; printed with the findings so none goes unnoticed.
LIBERTIES: list[str] = []


def _mentions(value: Any, logical: str) -> bool:
    text = json.dumps(value)
    return f'"Ref": "{logical}"' in text or f"${{{logical}}}" in text or f'["{logical}",' in text


def emulator_ready(template: dict[str, Any], held_back: dict[str, Any]) -> dict[str, Any]:
    """A copy the emulator can create, and what it cannot, moved into ``held_back``.

    moto creates a REST API from CloudFormation without importing its OpenAPI ``Body``, then
    refuses to deploy an API without methods; and its ``ImportRestApi`` takes OpenAPI 3 only,
    where chalice writes Swagger 2.0. So the REST API, its deployment, stage and invoke
    permission leave the template here, and :func:`check_api` checks them in the template.
    """
    ready: dict[str, Any] = json.loads(json.dumps(template))
    resources = ready["Resources"]
    for api in [k for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::RestApi"]:
        held_back[api] = resources.pop(api)
        for logical in [k for k, r in resources.items() if _mentions(r, api)]:
            held_back[logical] = resources.pop(logical)
        for output in [k for k, o in ready.get("Outputs", {}).items() if _mentions(o, api)]:
            del ready["Outputs"][output]
    for logical in held_back:
        LIBERTIES.append(f"{logical} ({template['Resources'][logical]['Type']}): held back from the emulator")
    return ready


@dataclass
class Findings:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_emulated: dict[str, list[str]] = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> None:
        (self.passed if ok else self.failed).append(what)


@dataclass
class Stack:
    template: dict[str, Any]
    physical: dict[str, str]  # logical id -> physical id, for what the emulator created
    clients: Callable[[str], Any]

    def of_type(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical, resource in self.template["Resources"].items():
            if resource["Type"] == resource_type:
                yield logical, resource.get("Properties", {})

    def ref(self, value: Any) -> str | None:
        """The logical id a Ref/GetAtt points at."""
        if isinstance(value, dict):
            if "Ref" in value:
                return str(value["Ref"])
            if "Fn::GetAtt" in value:
                return str(value["Fn::GetAtt"][0])
        return None


def _handler_exists(handler: str) -> bool:
    """What Lambda does with ``Handler``: import the module, then look the attribute up."""
    module_name, _, attribute = handler.rpartition(".")
    return callable(getattr(importlib.import_module(module_name), attribute, None))


def check_functions(stack: Stack, findings: Findings) -> None:
    lam, iam = stack.clients("lambda"), stack.clients("iam")
    for logical, props in stack.of_type("AWS::Lambda::Function"):
        name = stack.physical.get(logical)
        if name is None:
            findings.check(False, f"function {logical} was not created")
            continue
        config = lam.get_function(FunctionName=name)["Configuration"]
        findings.check(
            config["Handler"] == props["Handler"] and _handler_exists(props["Handler"]),
            f"function {logical}: handler {props['Handler']} set and present in the app",
        )
        role_name = config["Role"].rsplit("/", 1)[-1]
        findings.check(
            stack.ref(props["Role"]) in stack.physical and bool(iam.get_role(RoleName=role_name)["Role"]),
            f"function {logical}: its own role {stack.ref(props['Role'])} exists",
        )
        declared = set(props.get("Environment", {}).get("Variables", {}))
        actual = config.get("Environment", {}).get("Variables", {})
        missing = sorted(key for key in declared if not actual.get(key))
        findings.check(
            not missing, f"function {logical}: {len(declared)} environment variables resolved{_but(missing)}"
        )


def _but(missing: Sequence[str]) -> str:
    return f" (missing or empty: {', '.join(missing)})" if missing else ""


def check_event_sources(stack: Stack, findings: Findings) -> None:
    mappings = stack.clients("lambda").list_event_source_mappings()["EventSourceMappings"]
    by_uuid = {m["UUID"]: m for m in mappings}
    for logical, props in stack.of_type("AWS::Lambda::EventSourceMapping"):
        source = stack.ref(props["EventSourceArn"]) or "?"
        mapping = by_uuid.get(stack.physical.get(logical, ""))
        findings.check(
            mapping is not None, f"event source {logical}: {source} -> {stack.ref(props['FunctionName'])}"
        )
        if mapping is None:
            continue
        kind = stack.template["Resources"].get(source, {}).get("Type", "")
        types = mapping.get("FunctionResponseTypes") or props.get("FunctionResponseTypes", [])
        findings.check(
            "ReportBatchItemFailures" in types,
            f"event source {logical} ({kind}): reports batch item failures",
        )
    queues_consumed = {
        stack.ref(p["EventSourceArn"]) for _, p in stack.of_type("AWS::Lambda::EventSourceMapping")
    }
    table_stream = any(
        stack.template["Resources"].get(q or "", {}).get("Type") == "AWS::DynamoDB::Table"
        for q in queues_consumed
    )
    findings.check(table_stream, "the table's stream feeds a function")


def check_queues(stack: Stack, findings: Findings) -> None:
    sqs = stack.clients("sqs")
    consumed = {stack.ref(p["EventSourceArn"]) for _, p in stack.of_type("AWS::Lambda::EventSourceMapping")}
    alarmed = {
        stack.ref(dim["Value"])
        for _, props in stack.of_type("AWS::CloudWatch::Alarm")
        for dim in props.get("Dimensions", [])
        if dim.get("Name") == "QueueName"
    }
    for logical, props in stack.of_type("AWS::SQS::Queue"):
        if logical not in consumed:
            continue
        url = stack.physical.get(logical)
        attributes = (
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
            if url
            else {}
        )
        redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
        dlq = stack.ref(props.get("RedrivePolicy", {}).get("deadLetterTargetArn"))
        findings.check(
            bool(redrive.get("deadLetterTargetArn")) and dlq in stack.physical,
            f"queue {logical}: dead-letter queue {dlq}",
        )
        findings.check(dlq in alarmed, f"queue {logical}: its dead-letter queue {dlq} has an alarm")


def check_schedules(stack: Stack, findings: Findings) -> None:
    events = stack.clients("events")
    for logical, props in stack.of_type("AWS::Events::Rule"):
        if "ScheduleExpression" not in props:
            continue
        name = stack.physical.get(logical)
        targets = events.list_targets_by_rule(Rule=name)["Targets"] if name else []
        findings.check(
            bool(targets), f"schedule {logical} ({props['ScheduleExpression']}) targets a function"
        )


def app_routes() -> set[tuple[str, str]]:
    import app as application

    return {(method.upper(), path) for path, methods in application.app.routes.items() for method in methods}


def _integration_targets(body: dict[str, Any]) -> set[str]:
    return {
        json.dumps(op.get("x-amazon-apigateway-integration", {}).get("uri"))
        for ops in body.get("paths", {}).values()
        for op in ops.values()
        if isinstance(op, dict)
    }


def check_api(stack: Stack, findings: Findings) -> None:
    declared = {(m, p) for m, p in app_routes() if m != "OPTIONS"}
    apis = list(stack.of_type("AWS::ApiGateway::RestApi")) + list(stack.of_type("AWS::ApiGatewayV2::Api"))
    findings.check(bool(apis), "the template has an API")
    for logical, props in apis:
        body = props.get("Body") or {}
        served = {(m.upper(), p) for p, ops in body.get("paths", {}).items() for m in ops if m != "options"}
        missing = sorted(f"{m} {p}" for m, p in declared - served)
        findings.check(not missing, f"API {logical}: all {len(declared)} routes of the app{_but(missing)}")
        targets = _integration_targets(body) - {"null"}
        findings.check(
            len(targets) == 1 and "APIHandler.Arn" in next(iter(targets)),
            f"API {logical}: every route invokes the API function",
        )
        permitted = [
            p
            for _, p in stack.of_type("AWS::Lambda::Permission")
            if p.get("Principal") == "apigateway.amazonaws.com" and _mentions(p.get("SourceArn"), logical)
        ]
        findings.check(bool(permitted), f"API {logical}: may invoke the API function")


def check_permissions(stack: Stack, findings: Findings) -> None:
    """What AWS enforces and the emulator does not: EventBridge may send to each queue a rule
    feeds, and invoke each function a schedule runs."""
    policies = [p for _, p in stack.of_type("AWS::SQS::QueuePolicy")]
    for logical, props in stack.of_type("AWS::Events::Rule"):
        for target in props.get("Targets", []):
            kind = stack.template["Resources"].get(stack.ref(target.get("Arn")) or "", {}).get("Type")
            if kind == "AWS::SQS::Queue":
                queue = stack.ref(target["Arn"]) or "?"
                allowed = any(
                    _mentions(p.get("Queues"), queue)
                    and "events.amazonaws.com" in json.dumps(p.get("PolicyDocument"))
                    for p in policies
                )
                findings.check(allowed, f"rule {logical}: EventBridge may send to {queue}")
            elif kind == "AWS::Lambda::Function":
                function = stack.ref(target["Arn"]) or "?"
                allowed = any(
                    p.get("Principal") == "events.amazonaws.com"
                    and _mentions(p.get("FunctionName"), function)
                    for _, p in stack.of_type("AWS::Lambda::Permission")
                )
                findings.check(allowed, f"rule {logical}: EventBridge may invoke {function}")


def check_bus(stack: Stack, findings: Findings) -> None:
    """moto creates the bus but reports no physical id for it: look it up by name instead."""
    events = stack.clients("events")
    for logical, props in stack.of_type("AWS::Events::EventBus"):
        name = (
            props["Name"]["Fn::Sub"].replace("${Stage}", STAGE)
            if isinstance(props["Name"], dict)
            else props["Name"]
        )
        with contextlib.suppress(events.exceptions.ResourceNotFoundException):
            stack.physical[logical] = events.describe_event_bus(Name=name)["Arn"]
        findings.check(logical in stack.physical, f"event bus {logical} ({name}) exists")


def emulator_coverage(stack: Stack, findings: Findings) -> None:
    for logical, resource in stack.template["Resources"].items():
        if logical not in stack.physical:
            findings.not_emulated.setdefault(resource["Type"], []).append(logical)
    covered = {"AWS::CloudWatch::Alarm", "AWS::SQS::QueuePolicy", "AWS::Lambda::Permission"}
    covered |= {"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage"}
    for resource_type in set(findings.not_emulated) - covered:
        findings.check(False, f"no check covers {resource_type}, which the emulator does not create")


def run(template_path: Path, package_path: Path, log: Callable[[str], None]) -> Findings:
    from moto import mock_aws

    from infra.local.moto_server import apply_moto_patches

    apply_moto_patches()  # among them: a change set's execution gives the stack its outputs

    # moto warns per resource type it skips and per Lambda it cannot run in Docker; the findings
    # name every skipped resource instead, and nothing here invokes a function.
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)

    os.environ.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
    )
    expanded: dict[str, Any] = {}
    held_back: dict[str, Any] = {}

    def prepare(template: dict[str, Any]) -> dict[str, Any]:
        expanded.update(sam_transform(template))
        return emulator_ready(expanded, held_back)

    with mock_aws():
        target = Target(stage=STAGE, endpoint_url=None, region=REGION, local=False)
        target.client("s3").create_bucket(Bucket=BUCKET)
        request = DeployRequest(
            STAGE, BUCKET, SENDER, f"oms-{STAGE}", template_path=template_path, package_path=package_path
        )
        result = Deployer(target, log=log).deploy(request, prepare=prepare)
        summaries = target.client("cloudformation").list_stack_resources(StackName=result.stack_name)
        physical = {
            s["LogicalResourceId"]: s["PhysicalResourceId"]
            for s in summaries["StackResourceSummaries"]
            if s.get("PhysicalResourceId")
        }
        stack = Stack(expanded, physical, target.client)
        findings = Findings()
        findings.check(
            result.created and bool(result.admin_key),
            "first deploy created the stack and minted the first admin key",
        )
        checks = (
            check_bus,
            emulator_coverage,
            check_functions,
            check_event_sources,
            check_queues,
            check_schedules,
            check_permissions,
            check_api,
        )
        for check in checks:
            check(stack, findings)
    return findings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.deploy_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--template", type=Path, default=OUT / "sam.json")
    parser.add_argument("--package", type=Path, default=OUT / "deployment.zip")
    args = parser.parse_args(argv)
    findings = run(args.template, args.package, log=lambda line: None)
    for line in LIBERTIES:
        print(f"note    {line}")
    for line in findings.passed:
        print(f"ok      {line}")
    for resource_type, logicals in sorted(findings.not_emulated.items()):
        names = ", ".join(sorted(logicals))
        print(f"note    not created by the emulator, checked in the template: {resource_type}: {names}")
    for line in findings.failed:
        print(f"FAILED  {line}")
    print(f"{len(findings.passed)} checks passed, {len(findings.failed)} failed")
    return 1 if findings.failed else 0


if __name__ == "__main__":
    sys.exit(main())
