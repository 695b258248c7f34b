"""Merge infra/template.yaml into the template `chalice package` wrote, and wire every function to it.

    chalice package --stage dev out/
    python -m infra.build_merge --stage dev out/sam.json     # rewrites out/sam.json in place

Why a step after packaging rather than `chalice package --merge-template infra/merge.yaml`:
chalice deep-merges a merge template into its output, which can add keys but never remove one.
For a queue given by name chalice writes ``Queue: {"Fn::Sub": "arn:...:oms-dev-receipt"}``; a
merge template's ``Queue: {"Fn::GetAtt": [ReceiptQueue, Arn]}`` ends up in the same dict as a
second key, and cfn-lint/CloudFormation reject that object (checked with chalice 1.34). A merge
template would also silently deep-merge a resource whose name collides with one of chalice's, and
it would have to be regenerated per stage with a hand-kept list of functions. So this module works
on the real output instead, and keeps infra/template.yaml the only copy of the infrastructure:

- it copies the template's Parameters (Stage defaulting to the packaged stage), Conditions, Resources
  and Outputs in, refusing any name chalice already uses;
- it walks *every* AWS::Serverless::Function chalice generated, so a new handler is wired without
  anyone listing it here: SQS sources read the template's queue (found by its QueueName) and report
  partial batch failures; DynamoDB sources read the template table's stream the same way; schedule
  sources need nothing; any other event source type is an error until it is taught here;
- every function's environment gets the template outputs' own Ref/GetAtt expressions
  (infra.stack.APP_ENV_FROM_OUTPUT), replacing the names/placeholders from .chalice/config.json;
- every function gets its own role with exactly its grants (infra/iam.py): the code's calls on
  the template's own ARNs, plus what Lambda does with the role for that function (its log group,
  the queue or stream its event source reads). Chalice writes one role per function but puts the
  stage's one policy file into each; here each role's policy is replaced. A function without
  grants in infra/iam.py fails the build. Functions are named ``oms-<stage>-<handler>`` so their
  log groups are known in advance; the sender's address is the ``SenderEmail`` parameter (its SES
  identity is the only one the notify worker may send as);
- finally ``check_packaged`` verifies the result, so a gap fails the build instead of a deploy.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from chalicelib.config import ENV_SENDER_EMAIL, ENV_STAGE
from infra import iam
from infra.stack import APP_ENV_FROM_OUTPUT, TEMPLATE_PATH

FUNCTION_TYPE = "AWS::Serverless::Function"
BATCH_FAILURES = ["ReportBatchItemFailures"]

#: Where a stream consumer's batches go once its retries are spent (a template resource).
STREAM_FAILURE_QUEUE = "StreamDlq"

#: Settings every DynamoDB stream source gets. A failing record blocks its shard until it succeeds
#: or is given up on, so retries are bounded; bisecting isolates a poison record when the handler
#: raises instead of reporting it; what is given up on is recorded, never silently dropped.
STREAM_SOURCE_SETTINGS: dict[str, Any] = {
    "FunctionResponseTypes": BATCH_FAILURES,
    "MaximumRetryAttempts": 10,
    "BisectBatchOnFunctionError": True,
    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [STREAM_FAILURE_QUEUE, "Arn"]}}},
}

#: The outbox relay only cares about newly written EVENT# items (the stream is the outbox, see
#: docs/architecture.md); filtering in the event source mapping means order/stock updates never
#: even invoke it.
OUTBOX_FILTER = {
    "Filters": [
        {
            "Pattern": json.dumps(
                {"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "EVENT#"}]}}}},
                separators=(",", ":"),
            )
        }
    ]
}

#: Per-source settings beyond the generic ones, keyed by chalice's resource names
#: (handler `outbox_relay` -> function `OutboxRelay`, source `OutboxRelayDynamodbEventSource`).
#: A key that chalice no longer generates is an error, so a renamed handler cannot lose its tuning.
EVENT_SOURCE_TUNING: dict[tuple[str, str], dict[str, Any]] = {
    ("OutboxRelay", "OutboxRelayDynamodbEventSource"): {"FilterCriteria": OUTBOX_FILTER},
}

#: What each wired event source type must read: (property, template resource type, GetAtt attribute).
SOURCE_REFERENCES = {
    "SQS": ("Queue", "AWS::SQS::Queue", "Arn"),
    "DynamoDB": ("Stream", "AWS::DynamoDB::Table", "StreamArn"),
}

#: Event source types that carry no resource ARN and need no wiring.
PASSIVE_EVENT_TYPES = {"Schedule", "CloudWatchEvent"}

_STREAM_TABLE = re.compile(r":table/([^/]+)/stream/")


class BuildMergeError(RuntimeError):
    """The packaged template cannot be wired to the infra template safely."""


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    # Long-form intrinsics only (see the template's header), so the safe loader is enough.
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def merge_packaged(sam: dict[str, Any], infra: dict[str, Any], stage: str) -> dict[str, Any]:
    """Return ``sam`` (chalice's template) with ``infra`` merged in and every function wired to it."""
    merged = copy.deepcopy(sam)
    _add_infra(merged, infra, stage)
    queues = _physical_names(infra, "AWS::SQS::Queue", "QueueName", stage)
    tables = _physical_names(infra, "AWS::DynamoDB::Table", "TableName", stage)
    environment = _function_environment(infra)

    functions = {name: res for name, res in merged["Resources"].items() if res.get("Type") == FUNCTION_TYPE}
    if not functions:
        raise BuildMergeError("the packaged template has no AWS::Serverless::Function")
    for name, function in functions.items():
        props = function.setdefault("Properties", {})
        props.setdefault("Environment", {}).setdefault("Variables", {}).update(copy.deepcopy(environment))
        for source_name, source in props.get("Events", {}).items():
            _wire_event_source(f"{name}.{source_name}", source, queues, tables)

    for (function_name, source_name), settings in EVENT_SOURCE_TUNING.items():
        source = functions.get(function_name, {}).get("Properties", {}).get("Events", {}).get(source_name)
        if source is None:
            raise BuildMergeError(
                f"{function_name}.{source_name} is tuned in EVENT_SOURCE_TUNING but chalice did not "
                "generate it; was the handler renamed?"
            )
        source["Properties"].update(copy.deepcopy(settings))

    _add_sender_parameter(merged, functions)
    roles_seen: set[str] = set()
    for name, function in functions.items():
        _scope_role(merged, name, function, roles_seen)

    problems = check_packaged(merged)
    if problems:
        raise BuildMergeError("the merged template is not wired correctly:\n  " + "\n  ".join(problems))
    return merged


def _add_infra(merged: dict[str, Any], infra: dict[str, Any], stage: str) -> None:
    for section in ("Parameters", "Conditions", "Resources", "Outputs"):
        target = merged.setdefault(section, {})
        for key, value in infra.get(section, {}).items():
            if key in target:
                raise BuildMergeError(
                    f"{section}.{key} exists both in chalice's output and infra/template.yaml "
                    "(or the template was merged already: re-run chalice package)"
                )
            target[key] = copy.deepcopy(value)
    if "Stage" not in merged["Parameters"]:
        raise BuildMergeError("infra/template.yaml must declare the Stage parameter")
    # The package holds this stage's environment and IAM policy (.chalice/config.json), so it is
    # deployed as this stage. (Not pinned with AllowedValues: that makes the template's per-stage
    # conditions constant, which cfn-lint reports as unreachable branches.)
    merged["Parameters"]["Stage"]["Default"] = stage
    merged.setdefault("Description", infra.get("Description", ""))


#: Chalice's logical id of the HTTP API's function (the others are their handler names in CamelCase).
API_FUNCTION = "APIHandler"
SENDER_PARAMETER = "SenderEmail"


def handler_of(logical_id: str) -> str:
    """The chalice handler name of a packaged function (``NotifyWorker`` -> ``notify_worker``)."""
    if logical_id == API_FUNCTION:
        return "api_handler"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", logical_id).lower()


def _add_sender_parameter(merged: dict[str, Any], functions: dict[str, Any]) -> None:
    """The address customer e-mail is sent from, a parameter: its SES identity scopes the notify
    worker's ``ses:SendEmail``. Defaults to the stage's ``OMS_SENDER_EMAIL`` when configured."""
    configured = {
        variables.get(ENV_SENDER_EMAIL)
        for function in functions.values()
        for variables in [function.get("Properties", {}).get("Environment", {}).get("Variables", {})]
    } - {None}
    parameter: dict[str, Any] = {
        "Type": "String",
        "Description": "Address customer e-mail is sent from (verified in SES, or in a verified domain)",
        "AllowedPattern": r"[^@\s]+@[^@\s]+",
    }
    if len(configured) == 1:
        parameter["Default"] = configured.pop()
    merged["Parameters"][SENDER_PARAMETER] = parameter
    for function in functions.values():
        function["Properties"]["Environment"]["Variables"][ENV_SENDER_EMAIL] = {"Ref": SENDER_PARAMETER}


def _scope_role(merged: dict[str, Any], name: str, function: dict[str, Any], roles_seen: set[str]) -> None:
    props = function["Properties"]
    handler = handler_of(name)
    if handler not in iam.CODE_GRANTS:
        raise BuildMergeError(
            f"{name} (handler {handler!r}) has no grants in infra/iam.py CODE_GRANTS; add exactly what "
            "its code calls (tests/integration/test_iam.py records it)"
        )
    role_ref = props.get("Role")
    if not (isinstance(role_ref, dict) and set(role_ref) == {"Fn::GetAtt"}):
        raise BuildMergeError(
            f"{name}: expected chalice's Role {{Fn::GetAtt: [<role>, Arn]}}, got {role_ref!r}"
        )
    role_id = role_ref["Fn::GetAtt"][0]
    role = merged["Resources"].get(role_id, {})
    if role.get("Type") != "AWS::IAM::Role":
        raise BuildMergeError(f"{name}: its role {role_id} is not an AWS::IAM::Role of the template")
    if role_id in roles_seen:
        raise BuildMergeError(f"{name}: role {role_id} is shared with another function; each needs its own")
    roles_seen.add(role_id)
    props["FunctionName"] = {"Fn::Sub": iam.function_name(handler)}
    role["Properties"]["Policies"] = [
        {"PolicyName": f"{role_id}Policy", "PolicyDocument": iam.policy_for(handler, props.get("Events", {}))}
    ]


def _physical_names(
    infra: dict[str, Any], resource_type: str, name_property: str, stage: str
) -> dict[str, str]:
    """Map the physical name each resource of ``resource_type`` gets in ``stage`` to its logical id."""
    names = {}
    for logical_id, res in infra["Resources"].items():
        if res.get("Type") != resource_type:
            continue
        value = res.get("Properties", {}).get(name_property)
        if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
            value = value["Fn::Sub"].replace("${Stage}", stage)
        if not isinstance(value, str) or "${" in value:
            raise BuildMergeError(
                f"{logical_id}.{name_property} must be a string or Fn::Sub of ${{Stage}} so that "
                "handlers can be matched to it by name"
            )
        names[value] = logical_id
    return names


def _function_environment(infra: dict[str, Any]) -> dict[str, Any]:
    outputs = infra.get("Outputs", {})
    missing = sorted(key for key in APP_ENV_FROM_OUTPUT.values() if key not in outputs)
    if missing:
        raise BuildMergeError(f"infra/template.yaml lacks the outputs {', '.join(missing)}")
    environment: dict[str, Any] = {ENV_STAGE: {"Ref": "Stage"}}
    environment.update({var: outputs[key]["Value"] for var, key in APP_ENV_FROM_OUTPUT.items()})
    return environment


def _arn_text(value: Any) -> str | None:
    """The ARN chalice wrote: a literal string or the string of a Fn::Sub."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]
    return None


def _wire_event_source(
    where: str, source: dict[str, Any], queues: dict[str, str], tables: dict[str, str]
) -> None:
    kind = source.get("Type")
    props = source.setdefault("Properties", {})
    if kind == "SQS":
        arn = _arn_text(props.get("Queue"))
        queue_name = arn.rsplit(":", 1)[-1] if arn else None
        if queue_name not in queues:
            raise BuildMergeError(
                f"{where} reads queue {queue_name or props.get('Queue')!r}, which infra/template.yaml "
                f"does not define (it defines {', '.join(sorted(queues))})"
            )
        props["Queue"] = {"Fn::GetAtt": [queues[queue_name], "Arn"]}
        props["FunctionResponseTypes"] = list(BATCH_FAILURES)
    elif kind == "DynamoDB":
        arn = _arn_text(props.get("Stream"))
        match = _STREAM_TABLE.search(arn or "")
        table_name = match.group(1) if match else None
        if table_name not in tables:
            raise BuildMergeError(
                f"{where} reads stream {arn!r}, which is not the stream of a table in infra/template.yaml"
            )
        props["Stream"] = {"Fn::GetAtt": [tables[table_name], "StreamArn"]}
        props.update(copy.deepcopy(STREAM_SOURCE_SETTINGS))
    elif kind not in PASSIVE_EVENT_TYPES:
        raise BuildMergeError(
            f"{where} is a {kind} event source, which infra/build_merge.py does not know how to wire "
            "to infra/template.yaml yet; teach _wire_event_source about it"
        )


def check_packaged(sam: dict[str, Any]) -> list[str]:
    """Problems that would make the deployed functions miss, or mishandle, their event sources."""
    resources = sam.get("Resources", {})
    problems = []

    def is_getatt(value: Any, resource_type: str, attribute: str) -> bool:
        if not (isinstance(value, dict) and set(value) == {"Fn::GetAtt"}):
            return False
        target, attr = value["Fn::GetAtt"]
        return bool(resources.get(target, {}).get("Type") == resource_type and attr == attribute)

    for name, res in resources.items():
        if res.get("Type") != FUNCTION_TYPE:
            continue
        props = res.get("Properties", {})
        variables = props.get("Environment", {}).get("Variables", {})
        for var in APP_ENV_FROM_OUTPUT:
            if not isinstance(variables.get(var), dict):
                problems.append(f"{name}: environment {var} is not taken from the template's resources")
        for source_name, source in props.get("Events", {}).items():
            where = f"{name}.{source_name}"
            source_props = source.get("Properties", {})
            if source.get("Type") in SOURCE_REFERENCES:
                prop, resource_type, attribute = SOURCE_REFERENCES[source["Type"]]
                if not is_getatt(source_props.get(prop), resource_type, attribute):
                    problems.append(
                        f"{where}: {prop} is not Fn::GetAtt of a template {resource_type} {attribute}"
                    )
                if source_props.get("FunctionResponseTypes") != BATCH_FAILURES:
                    problems.append(f"{where}: FunctionResponseTypes is not [ReportBatchItemFailures]")
            literal_arns = [text for text in _strings(source) if "arn:" in text]
            if literal_arns:
                problems.append(f"{where}: literal ARNs {literal_arns}")
    return problems


REST_API = "RestAPI"  # the API resource chalice packages
HTTP_API_TYPE = "AWS::Serverless::HttpApi"
#: API Gateway's "Lambda proxy" event as the REST API sends it, which is what Chalice's handler reads
#: (``requestContext.resourcePath`` picks the route). HTTP APIs send it too when asked for 1.0.
HTTP_API_PAYLOAD_FORMAT = "1.0"


def use_http_api(sam: dict[str, Any]) -> dict[str, Any]:
    """``sam`` with chalice's REST API replaced by an API Gateway HTTP API serving the same routes.

    Why: an HTTP API costs $1.00 per million requests against the REST API's $3.50, the largest
    single saving per order (docs/performance.md). Every route and method of chalice's Swagger
    definition becomes an OpenAPI 3 route with a Lambda proxy integration to the same function,
    payload format 1.0, under the same stage name, so URLs, the function's permission (an
    ``execute-api`` ARN either way) and the ``EndpointURL`` output stay as they are. Binary bodies
    need no media-type list: an HTTP API base64-encodes them and says so in the event.

    What an HTTP API does not offer, and this service does not use: edge-optimised endpoints,
    API keys and usage plans (the app authenticates its own keys), request validation, caching,
    AWS WAF and X-Ray on the API stage (the functions keep their own tracing).
    """
    merged = copy.deepcopy(sam)
    resources = merged.get("Resources", {})
    rest = resources.get(REST_API)
    if rest is None or rest.get("Type") != "AWS::Serverless::Api":
        raise BuildMergeError(f"no {REST_API} of type AWS::Serverless::Api to replace")
    props = rest.get("Properties", {})
    swagger = props.get("DefinitionBody") or {}
    paths: dict[str, Any] = {}
    for path, methods in (swagger.get("paths") or {}).items():
        for method, operation in methods.items():
            integration = operation.get("x-amazon-apigateway-integration") or {}
            if integration.get("type") != "aws_proxy":
                raise BuildMergeError(f"{method.upper()} {path}: not a Lambda proxy integration")
            paths.setdefault(path, {})[method] = {
                "responses": {"default": {"description": "the function's response"}},
                "x-amazon-apigateway-integration": {
                    "type": "aws_proxy",
                    "httpMethod": "POST",
                    "uri": copy.deepcopy(integration["uri"]),
                    "payloadFormatVersion": HTTP_API_PAYLOAD_FORMAT,
                },
            }
    if not paths:
        raise BuildMergeError(f"{REST_API} defines no routes")
    resources[REST_API] = {
        "Type": HTTP_API_TYPE,
        "Properties": {
            "StageName": props.get("StageName", "api"),
            "DefinitionBody": {"openapi": "3.0.1", "info": swagger.get("info", {}), "paths": paths},
        },
    }
    return merged


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("sam", type=Path, help="the sam.json `chalice package` wrote; rewritten in place")
    parser.add_argument("--stage", required=True, help="the chalice stage that was packaged")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH, help="the infra template")
    parser.add_argument(
        "--http-api",
        action="store_true",
        help="serve the API with an API Gateway HTTP API (not the REST API)",
    )
    args = parser.parse_args(argv)

    sam = json.loads(args.sam.read_text(encoding="utf-8"))
    try:
        merged = merge_packaged(sam, load_template(args.template), args.stage)
        if args.http_api:
            merged = use_http_api(merged)
    except BuildMergeError as exc:
        print(f"build_merge: {exc}", file=sys.stderr)
        return 1
    args.sam.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    functions = sorted(n for n, r in merged["Resources"].items() if r.get("Type") == FUNCTION_TYPE)
    print(f"build_merge: merged {args.template.name} into {args.sam}; wired {', '.join(functions)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
