"""``make deploy`` (tools/deploy.py) and its rehearsal (tools/deploy_check.py) against moto.

A small SAM template stands in for ``make package``'s output here, so the deploy logic is tested
in seconds; ``make deploy-check`` (run by .ci/run) rehearses the real packaged template.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.api_keys import ApiKeyStore
from chalicelib.domain.auth import Role
from tools import Target
from tools.deploy import Deployer, DeployFailed, DeployRequest, artifact_key, point_code_at
from tools.deploy_check import (
    LIBERTIES,
    Findings,
    Stack,
    _handler_exists,
    check_api,
    emulator_ready,
    sam_transform,
)

REGION = "us-east-1"
BUCKET = "oms-artifacts-test"


def small_template() -> dict[str, Any]:
    """One function, one table (the first admin key goes into it), the two stack parameters."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": {"Stage": {"Type": "String"}, "SenderEmail": {"Type": "String"}},
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": {"Fn::Sub": "oms-${Stage}"},
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ],
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                },
            },
            "Worker": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": "app.app",
                    "CodeUri": "./deployment.zip",
                    "Environment": {"Variables": {"OMS_TABLE": {"Ref": "Table"}}},
                },
            },
        },
        "Outputs": {"TableName": {"Value": {"Ref": "Table"}}},
    }


@pytest.fixture
def packaged(tmp_path: Path) -> DeployRequest:
    template, package = tmp_path / "sam.json", tmp_path / "deployment.zip"
    template.write_text(json.dumps(small_template()))
    package.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip archive
    return DeployRequest(
        "t1", BUCKET, "orders@shop.example", "oms-t1", template_path=template, package_path=package
    )


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield Target(stage="t1", endpoint_url=None, region=REGION, local=False)


def test_a_first_deploy_creates_the_stack_and_mints_one_admin_key_that_works(
    aws: Target, packaged: DeployRequest
) -> None:
    result = Deployer(aws, log=lambda _: None).deploy(packaged, prepare=sam_transform)

    assert result.created and result.changed
    assert result.outputs["TableName"] == "oms-t1"
    assert result.admin_key is not None
    principal = ApiKeyStore(aws.client("dynamodb"), "oms-t1").authenticate(result.admin_key)
    assert principal is not None and principal.role == Role.ADMIN


def test_a_second_deploy_updates_the_stack_mints_no_key_and_uploads_the_same_package_once(
    aws: Target, packaged: DeployRequest
) -> None:
    deployer = Deployer(aws, log=lambda _: None)
    deployer.deploy(packaged, prepare=sam_transform)
    items_after_first = aws.client("dynamodb").scan(TableName="oms-t1")["Items"]

    again = deployer.deploy(packaged, prepare=sam_transform)

    assert not again.created and again.admin_key is None
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len([k for k in keys if k.endswith(".zip")]) == 1
    # the table holds what the first deploy wrote (the admin key's items), nothing more
    assert aws.client("dynamodb").scan(TableName="oms-t1")["Items"] == items_after_first


def test_every_function_runs_the_uploaded_package(aws: Target, packaged: DeployRequest) -> None:
    Deployer(aws, log=lambda _: None).deploy(packaged, prepare=sam_transform)

    [function] = aws.client("lambda").list_functions()["Functions"]
    body = packaged.package_path.read_bytes()
    # Lambda's CodeSha256 is the base64 SHA-256 of the code it was created from: these bytes.
    assert function["CodeSha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert artifact_key("oms", "t1", body, ".zip") in {
        o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    }


def test_a_new_build_is_uploaded_under_a_new_key_and_the_function_runs_it(
    aws: Target, packaged: DeployRequest
) -> None:
    deployer = Deployer(aws, log=lambda _: None)
    deployer.deploy(packaged, prepare=sam_transform)
    newer = packaged.package_path.read_bytes() + b"\x00"  # trailing bytes: still a readable archive
    packaged.package_path.write_bytes(newer)

    deployer.deploy(packaged, prepare=sam_transform)

    [function] = aws.client("lambda").list_functions()["Functions"]
    assert function["CodeSha256"] == base64.b64encode(hashlib.sha256(newer).digest()).decode()


def test_a_template_without_functions_is_refused_before_anything_is_uploaded() -> None:
    with pytest.raises(DeployFailed, match="no AWS::Serverless::Function"):
        point_code_at({"Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}}}, BUCKET, "k.zip")


def test_the_package_key_changes_with_the_code_and_only_with_it() -> None:
    assert artifact_key("oms", "dev", b"a", ".zip") == artifact_key("oms", "dev", b"a", ".zip")
    assert artifact_key("oms", "dev", b"a", ".zip") != artifact_key("oms", "dev", b"b", ".zip")


def test_a_handler_lambda_could_not_import_fails_the_check() -> None:
    assert _handler_exists("app.app")
    assert not _handler_exists("app.no_such_handler")


def _api_template(paths: dict[str, Any]) -> dict[str, Any]:
    uri = {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/functions/${APIHandler.Arn}/x"
    }
    body = {
        "swagger": "2.0",
        "info": {"title": "oms"},
        "paths": {
            path: {method: {"x-amazon-apigateway-integration": {"uri": uri}} for method in methods}
            for path, methods in paths.items()
        },
    }
    return {
        "Resources": {
            "RestAPI": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": body}},
            "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"RestApiId": {"Ref": "RestAPI"}}},
            "Permission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {"Fn::Sub": "arn:aws:execute-api:${AWS::Region}:1:${RestAPI}/*"},
                },
            },
        },
        "Outputs": {"Id": {"Value": {"Ref": "RestAPI"}}},
    }


def test_the_check_names_each_route_of_the_app_the_api_does_not_serve() -> None:
    template = _api_template({"/v1/health": ["get"]})
    findings = Findings()

    check_api(Stack(template, {}, lambda _: None), findings)

    [failure] = [f for f in findings.failed if "routes of the app" in f]
    assert "POST /v1/orders" in failure
    assert "GET /v1/health" not in failure.split("missing or empty:")[1]


def test_the_rest_api_and_what_depends_on_it_are_held_back_from_the_emulator_and_said_so() -> None:
    template = _api_template({"/v1/health": ["get"]})
    held: dict[str, Any] = {}
    LIBERTIES.clear()

    ready = emulator_ready(template, held)

    assert set(held) == {"RestAPI", "Stage", "Permission"}
    assert ready["Resources"] == {} and ready["Outputs"] == {}
    assert len(LIBERTIES) == 3 and all("held back from the emulator" in line for line in LIBERTIES)


def test_a_deploy_creates_the_link_signing_key_once_and_keeps_it_afterwards(
    aws: Target, packaged: DeployRequest
) -> None:
    deployer = Deployer(aws, log=lambda _: None)
    first = deployer.deploy(packaged, prepare=sam_transform)
    key = aws.client("ssm").get_parameter(Name="/oms/t1/signing/links", WithDecryption=True)["Parameter"]

    second = deployer.deploy(packaged, prepare=sam_transform)

    assert first.link_key_created and not second.link_key_created
    assert key["Type"] == "SecureString" and len(key["Value"]) >= 32
    again = aws.client("ssm").get_parameter(Name="/oms/t1/signing/links", WithDecryption=True)["Parameter"]
    assert again["Value"] == key["Value"]


def test_a_deploy_says_when_ses_has_not_verified_the_sender(aws: Target, packaged: DeployRequest) -> None:
    unverified = Deployer(aws, log=lambda _: None).deploy(packaged, prepare=sam_transform)
    aws.client("ses").verify_domain_identity(Domain="shop.example")

    verified = Deployer(aws, log=lambda _: None).deploy(packaged, prepare=sam_transform)

    assert not unverified.sender_verified and verified.sender_verified
