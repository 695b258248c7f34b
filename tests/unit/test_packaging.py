"""`make package` produces a template whose functions read the infra template's own resources.

The first group packages the real app once per session (chalice package + infra/build_merge.py,
the Makefile's commands, in a temporary directory) and inspects the result; it takes a few seconds,
more on a cold dependency cache. The second group feeds infra/build_merge.py small synthetic
templates to show that it fails loudly instead of skipping what it does not understand.
"""

from __future__ import annotations

import copy
import fcntl
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import iam
from infra.build_merge import (
    EVENT_SOURCE_TUNING,
    BuildMergeError,
    check_packaged,
    handler_of,
    load_template,
    merge_packaged,
    use_http_api,
)
from infra.lambda_package import services_called
from infra.stack import APP_ENV_FROM_OUTPUT

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
FUNCTION = "AWS::Serverless::Function"
LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def _package(out: Path) -> None:
    chalice = Path(sys.executable).with_name("chalice")
    # Only what chalice needs: no OMS_* leaking in from other tests, no credentials at all.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMS_", "AWS_"))}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    commands = [
        [str(chalice), "--project-dir", str(ROOT), "package", "--stage", STAGE, str(out)],
        [sys.executable, "-m", "infra.lambda_package", str(out / "deployment.zip")],
        [sys.executable, "-m", "infra.build_merge", "--stage", STAGE, str(out / "sam.json")],
    ]
    for command in commands:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{' '.join(command[-4:])} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder `make package` writes (sam.json, deployment.zip) for the dev stage."""
    # Package once per session even under pytest-xdist: workers share the parent of their
    # basetemp, and a lock makes the second worker wait for (and reuse) the first one's output.
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    out = base / "packaged"
    with open(base / "packaged.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "sam.json").exists():
            _package(out)
    return out


@pytest.fixture(scope="session")
def sam(packaged: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((packaged / "sam.json").read_text())
    return loaded


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in template["Resources"].items() if res["Type"] == FUNCTION}


def _sources(template: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{name}.{source_name}", source["Properties"])
        for name, props in _functions(template).items()
        for source_name, source in props.get("Events", {}).items()
        if source["Type"] == kind
    ]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# --- The packaged app ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_package_holds_the_api_and_every_worker_the_app_registers(sam: dict[str, Any]) -> None:
    assert {"APIHandler", "OutboxRelay", "ReceiptWorker", "NotifyWorker"} <= _functions(sam).keys()


@pytest.mark.slow
def test_every_function_names_its_own_handler_in_app_py(sam: dict[str, Any]) -> None:
    handlers = {name: props["Handler"] for name, props in _functions(sam).items()}
    assert handlers.pop("APIHandler") == "app.app"
    assert handlers == {name: f"app.{handler_of(name)}" for name in handlers}


@pytest.mark.slow
def test_the_package_holds_the_sdk_models_of_exactly_the_services_the_functions_call(packaged: Path) -> None:
    with zipfile.ZipFile(packaged / "deployment.zip") as package:
        names = package.namelist()
    models = {
        name.split("/")[2] for name in names if name.startswith("botocore/data/") and name.count("/") > 2
    }
    assert models == services_called() == {"dynamodb", "events", "ses", "sns", "sqs", "ssm"}
    assert {"botocore/data/endpoints.json", "botocore/data/partitions.json"} <= set(names)


@pytest.mark.slow
def test_every_module_of_the_package_comes_with_bytecode_valid_whatever_its_files_dates(
    packaged: Path,
) -> None:
    with zipfile.ZipFile(packaged / "deployment.zip") as package:
        names = set(package.namelist())
        sources = [
            n
            for n in names
            if n.endswith(".py") and n.startswith(("app.py", "chalicelib/", "pydantic/", "boto3/"))
        ]
        compiled = {source: importlib.util.cache_from_source(source) for source in sources}
        assert sorted(s for s, pyc in compiled.items() if pyc not in names) == []
        for pyc in compiled.values():
            flags = int.from_bytes(package.read(pyc)[4:8], "little")
            assert flags == 0b01, pyc  # hash-based, source never checked (PEP 552)


@pytest.mark.slow
def test_the_packaged_code_alone_serves_every_handler_and_creates_every_client_it_needs(
    packaged: Path, sam: dict[str, Any], tmp_path: Path
) -> None:
    with zipfile.ZipFile(packaged / "deployment.zip") as package:
        package.extractall(tmp_path)
    handlers = sorted(props["Handler"].removeprefix("app.") for props in _functions(sam).values())
    script = (
        "import sys; sys.path.insert(0, '.')\n"  # -S: nothing but the package and the standard library
        "import app, boto3\n"
        f"assert all(callable(getattr(app, name)) for name in {handlers!r})\n"
        f"for service in {sorted(services_called())!r}: boto3.client(service)\n"
        "from pathlib import Path\n"
        "assert Path(boto3.__file__).resolve().is_relative_to(Path.cwd().resolve()), boto3.__file__\n"
    )
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env = {**config["stages"][STAGE]["environment_variables"], "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_every_sqs_function_reports_partial_batch_failures_and_reads_a_template_queue(
    sam: dict[str, Any],
) -> None:
    sources = _sources(sam, "SQS")
    queues_read = {}
    for where, props in sources:
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], where
        [queue, attribute] = props["Queue"]["Fn::GetAtt"]
        assert attribute == "Arn", where
        assert sam["Resources"][queue]["Type"] == "AWS::SQS::Queue", where
        queues_read[where] = queue

    assert queues_read["ReceiptWorker.ReceiptWorkerSqsEventSource"] == "ReceiptQueue"
    assert queues_read["NotifyWorker.NotifyWorkerSqsEventSource"] == "NotifyQueue"


@pytest.mark.slow
def test_the_outbox_relay_reads_the_template_tables_stream_for_new_event_items_only(
    sam: dict[str, Any],
) -> None:
    sources = dict(_sources(sam, "DynamoDB"))
    relay = sources["OutboxRelay.OutboxRelayDynamodbEventSource"]

    for where, props in sources.items():
        assert props["Stream"] == {"Fn::GetAtt": ["Table", "StreamArn"]}, where
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], where
        assert props["BisectBatchOnFunctionError"] is True, where
        assert 0 < props["MaximumRetryAttempts"] <= 20, where
        assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["StreamDlq", "Arn"]}
    [stream_filter] = relay["FilterCriteria"]["Filters"]
    assert json.loads(stream_filter["Pattern"]) == {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "EVENT#"}]}}},
    }


@pytest.mark.slow
def test_no_event_source_contains_a_literal_arn(sam: dict[str, Any]) -> None:
    for name, props in _functions(sam).items():
        for source_name, source in props.get("Events", {}).items():
            assert not [s for s in _strings(source) if "arn:" in s], f"{name}.{source_name}"


@pytest.mark.slow
def test_every_function_reads_resource_names_from_the_templates_resources(sam: dict[str, Any]) -> None:
    outputs = load_template()["Outputs"]
    for name, props in _functions(sam).items():
        variables = props["Environment"]["Variables"]
        assert variables["OMS_STAGE"] == {"Ref": "Stage"}, name
        for var, output in APP_ENV_FROM_OUTPUT.items():
            assert variables[var] == outputs[output]["Value"], f"{name} {var}"


@pytest.mark.slow
def test_the_package_contains_every_infra_resource_and_output_and_defaults_to_its_stage(
    sam: dict[str, Any],
) -> None:
    infra = load_template()

    for logical_id, resource in infra["Resources"].items():
        assert sam["Resources"][logical_id] == resource
    assert infra["Outputs"].keys() <= sam["Outputs"].keys()
    assert sam["Parameters"]["Stage"]["Default"] == STAGE


@pytest.mark.slow
def test_functions_get_the_configured_timeout_memory_and_python_runtime(sam: dict[str, Any]) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    # Functions with a timeout of their own (the write-back and stock-sync workers make store calls).
    own = {
        handler.replace("_", ""): settings["lambda_timeout"]
        for handler, settings in config["stages"][STAGE].get("lambda_functions", {}).items()
    }
    for name, props in _functions(sam).items():
        timeout = own.get(name.lower(), 10)
        assert (props["Timeout"], props["MemorySize"], props["Runtime"]) == (timeout, 512, "python3.11"), name


@pytest.mark.slow
def test_the_packaged_template_passes_its_own_wiring_check(sam: dict[str, Any]) -> None:
    assert check_packaged(sam) == []


# --- One role per function, with exactly its grants ------------------------------------------------


def _roles(sam: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per function: (its role's logical id, its one policy document)."""
    roles = {}
    for name, props in _functions(sam).items():
        role_id = props["Role"]["Fn::GetAtt"][0]
        [policy] = sam["Resources"][role_id]["Properties"]["Policies"]
        roles[name] = (role_id, policy["PolicyDocument"])
    return roles


def _grants(document: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (action, resource)
        for statement in document["Statement"]
        for action in statement["Action"]
        for resource in statement["Resource"]
    ]


@pytest.mark.slow
def test_every_function_has_its_own_role_with_exactly_the_policy_its_grants_build(
    sam: dict[str, Any],
) -> None:
    roles = _roles(sam)

    assert len({role_id for role_id, _ in roles.values()}) == len(roles)
    for name, (_, document) in roles.items():
        props = _functions(sam)[name]
        handler = handler_of(name)
        assert document == iam.policy_for(handler, props.get("Events", {})), name
        assert props["FunctionName"] == {"Fn::Sub": f"oms-${{Stage}}-{handler}"}, name


@pytest.mark.slow
def test_no_role_names_a_resource_by_pattern_and_only_sms_and_queue_listing_name_any(
    sam: dict[str, Any],
) -> None:
    """Every ARN is the template's own (GetAtt, Ref, or a Sub of the stage's path); ``*`` only where
    the action has no resource: SMS to a phone number, listing the queues."""
    anywhere = set()
    for name, (_, document) in _roles(sam).items():
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow" and "*" not in "".join(statement["Action"]), name
        for action, resource in _grants(document):
            if resource == "*":
                anywhere.add((name, action))
                continue
            assert isinstance(resource, dict), (name, action, resource)
            for text in _strings(resource):
                assert ":*:" not in text and not text.endswith(":*:*"), (name, action, text)
    assert anywhere == {("NotifyWorker", "sns:Publish"), ("APIHandler", "sqs:ListQueues")}


@pytest.mark.slow
def test_the_api_writes_only_store_and_endpoint_secrets_never_a_signing_key(sam: dict[str, Any]) -> None:
    _, document = _roles(sam)["APIHandler"]

    written = sorted(_strings(r) for action, r in _grants(document) if action == "ssm:PutParameter")

    assert [text[0].rsplit("/oms/${Stage}/", 1)[1] for text in written] == [
        "store-api/*",
        "webhook-endpoints/*",
        "webhooks/shopify/*",
        "webhooks/woocommerce/*",
    ]
    deleted = [_strings(r) for action, r in _grants(document) if action == "ssm:DeleteParameter"]
    assert [text[0].rsplit("/oms/${Stage}/", 1)[1] for text in deleted] == ["store-api/*"]


@pytest.mark.slow
def test_grants_no_code_uses_are_given_to_no_function(sam: dict[str, Any]) -> None:
    granted = {
        (name, action) for name, (_, document) in _roles(sam).items() for action, _ in _grants(document)
    }
    unused = {
        "dynamodb:ConditionCheckItem",
        "dynamodb:TransactWriteItems",
        "ssm:GetParametersByPath",
        "ses:SendRawEmail",
    }

    assert {action for _, action in granted} & unused == set()
    # Deleting items is giving back a claim (the two senders, the write-back), retiring a box from
    # a warehouse's catalogue (the API), or the write-back's parked orders and alerts, no one else.
    assert {name for name, action in granted if action == "dynamodb:DeleteItem"} == {
        "APIHandler",
        "NotifyWorker",
        "StuckOrderSweeper",
        "WritebackWorker",
    }
    assert {name for name, action in granted if action == "ses:SendEmail"} == {"NotifyWorker"}


# --- build_merge on synthetic chalice output -----------------------------------------------------


def _chalice_function(events: dict[str, Any], name: str = "") -> dict[str, Any]:
    return {
        "Type": FUNCTION,
        "Properties": {
            "Environment": {"Variables": {"OMS_STAGE": STAGE}},
            "Events": events,
            "Role": {"Fn::GetAtt": [f"{name}Role", "Arn"]},
        },
    }


def _add(chalice_output: dict[str, Any], name: str, events: dict[str, Any]) -> None:
    """A function as chalice packages it: with its own role, holding the stage's policy file."""
    chalice_output["Resources"][name] = _chalice_function(events, name)
    chalice_output["Resources"][f"{name}Role"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {"Policies": [{"PolicyName": "stage", "PolicyDocument": {"Statement": []}}]},
    }


def _sqs(queue_name: str) -> dict[str, Any]:
    arn = f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{queue_name}"
    return {"Type": "SQS", "Properties": {"Queue": {"Fn::Sub": arn}, "BatchSize": 10}}


def _minimal_chalice_output() -> dict[str, Any]:
    stream = "arn:aws:dynamodb:us-east-1:123456789012:table/oms-dev/stream/1970-01-01T00:00:00.000"
    output: dict[str, Any] = {"Resources": {}}
    _add(
        output,
        "OutboxRelay",
        {"OutboxRelayDynamodbEventSource": {"Type": "DynamoDB", "Properties": {"Stream": stream}}},
    )
    _add(output, "ReceiptWorker", {"ReceiptWorkerSqsEventSource": _sqs("oms-dev-receipt")})
    return output


def test_a_new_sqs_handler_is_wired_without_being_listed_anywhere_but_in_its_grants(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(iam.CODE_GRANTS, "late_worker", {"dynamodb:GetItem": (iam.TABLE,)})
    chalice_output = _minimal_chalice_output()
    _add(chalice_output, "LateWorker", {"LateWorkerSqsEventSource": _sqs("oms-dev-notify")})

    merged = merge_packaged(chalice_output, load_template(), STAGE)

    props = merged["Resources"]["LateWorker"]["Properties"]["Events"]["LateWorkerSqsEventSource"][
        "Properties"
    ]
    assert props["Queue"] == {"Fn::GetAtt": ["NotifyQueue", "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    [policy] = merged["Resources"]["LateWorkerRole"]["Properties"]["Policies"]
    assert {"dynamodb:GetItem"} | EVENT_SOURCE_ACTIONS == {
        action for statement in policy["PolicyDocument"]["Statement"] for action in statement["Action"]
    } - LOG_ACTIONS


def test_a_new_handler_without_grants_fails_the_build() -> None:
    chalice_output = _minimal_chalice_output()
    _add(chalice_output, "LateWorker", {"LateWorkerSqsEventSource": _sqs("oms-dev-notify")})

    with pytest.raises(BuildMergeError, match=r"LateWorker \(handler 'late_worker'\) has no grants"):
        merge_packaged(chalice_output, load_template(), STAGE)


def test_two_functions_sharing_a_role_fail_the_build() -> None:
    chalice_output = _minimal_chalice_output()
    chalice_output["Resources"]["ReceiptWorker"]["Properties"]["Role"] = {
        "Fn::GetAtt": ["OutboxRelayRole", "Arn"]
    }

    with pytest.raises(BuildMergeError, match="shared with another function"):
        merge_packaged(chalice_output, load_template(), STAGE)


def test_a_handler_on_a_queue_the_template_does_not_define_fails_the_build() -> None:
    chalice_output = _minimal_chalice_output()
    _add(chalice_output, "ReturnsWorker", {"ReturnsWorkerSqsEventSource": _sqs("oms-dev-returns")})

    with pytest.raises(BuildMergeError, match=r"oms-dev-returns.*does not define"):
        merge_packaged(chalice_output, load_template(), STAGE)


def test_an_event_source_type_build_merge_does_not_know_fails_the_build() -> None:
    chalice_output = _minimal_chalice_output()
    _add(
        chalice_output,
        "OnUpload",
        {"OnUploadS3EventSource": {"Type": "S3", "Properties": {"Bucket": "uploads"}}},
    )

    with pytest.raises(BuildMergeError, match="S3 event source"):
        merge_packaged(chalice_output, load_template(), STAGE)


def test_a_renamed_outbox_relay_fails_the_build_instead_of_losing_its_stream_filter() -> None:
    chalice_output = _minimal_chalice_output()
    chalice_output["Resources"]["EventRelay"] = chalice_output["Resources"].pop("OutboxRelay")

    assert ("OutboxRelay", "OutboxRelayDynamodbEventSource") in EVENT_SOURCE_TUNING
    with pytest.raises(BuildMergeError, match="was the handler renamed"):
        merge_packaged(chalice_output, load_template(), STAGE)


def test_merging_into_an_already_merged_template_is_refused() -> None:
    merged = merge_packaged(_minimal_chalice_output(), load_template(), STAGE)

    with pytest.raises(BuildMergeError, match="merged already"):
        merge_packaged(copy.deepcopy(merged), load_template(), STAGE)


def test_schedules_need_no_wiring_and_pass_the_check() -> None:
    chalice_output = _minimal_chalice_output()
    _add(
        chalice_output,
        "SlaSweeper",
        {"SlaSweeperEvent": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}},
    )

    merged = merge_packaged(chalice_output, load_template(), STAGE)

    assert merged["Resources"]["SlaSweeper"]["Properties"]["Events"] == {
        "SlaSweeperEvent": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}
    }
    assert check_packaged(merged) == []


# --- the HTTP API option (build_merge --http-api) -------------------------------------------------


def test_the_http_api_serves_every_route_and_method_of_the_packaged_rest_api(sam: dict[str, Any]) -> None:
    rest = sam["Resources"]["RestAPI"]["Properties"]
    converted = use_http_api(sam)["Resources"]["RestAPI"]

    assert converted["Type"] == "AWS::Serverless::HttpApi"
    assert converted["Properties"]["StageName"] == rest["StageName"]  # same URLs, same EndpointURL output
    routes = converted["Properties"]["DefinitionBody"]["paths"]
    assert {(p, m) for p, ms in routes.items() for m in ms} == {
        (p, m) for p, ms in rest["DefinitionBody"]["paths"].items() for m in ms
    }
    for path, methods in routes.items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            original = rest["DefinitionBody"]["paths"][path][method]["x-amazon-apigateway-integration"]
            assert (integration["type"], integration["payloadFormatVersion"]) == ("aws_proxy", "1.0")
            assert integration["uri"] == original["uri"]
    assert check_packaged(use_http_api(sam)) == []


def test_the_http_api_option_refuses_a_template_without_chalices_rest_api() -> None:
    with pytest.raises(BuildMergeError, match="RestAPI"):
        use_http_api(_minimal_chalice_output())
