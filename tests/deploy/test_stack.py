"""The packaged stack, deployed into moto the way `serverless deploy` deploys it: create the
stack with the deployment bucket, upload the zips to the keys the template names, update
the stack to the whole template. Then every function, schedule and route that serverless.yml
declares, and that the code needs, must be there as declared."""

from __future__ import annotations

import ast
import importlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.core.config import get_settings
from shared.jobs.monitoring import Health, publish_metrics
from shared.jobs.schedule import SCHEDULED_RUNS
from tests.deploy.conftest import ALARM_EMAIL, REGION, ROOT, PackagedService
from tests.fixtures import moto_alarms

pytestmark = [
    pytest.mark.slow,
    # moto's CloudFormation has no model for the deployment bucket's policy: it warns and
    # skips it (a deny of plain-HTTP access, nothing these tests look at).
    pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy:UserWarning"),
]

STACK = "restoreclick-dev"  # serverless names it <service>-<stage>


@dataclass
class DeployedStack:
    packaged: PackagedService
    iam: Any
    lambda_: Any
    events: Any
    apigateway: Any
    cloudwatch: Any
    sns: Any
    function_arns: dict[str, str]  # by the function's name in serverless.yml


def _deploy(packaged: PackagedService) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(packaged.create_template))
    outputs = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    bucket_name = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "ServerlessDeploymentBucketName")
    s3 = boto3.client("s3", region_name=REGION)
    for resource in packaged.template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            key = resource["Properties"]["Code"]["S3Key"]
            s3.upload_file(str(packaged.package_dir / key.rsplit("/", 1)[1]), bucket_name, key)
    cloudformation.update_stack(
        StackName=STACK,
        TemplateBody=json.dumps(packaged.template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],  # as serverless deploy passes them
    )
    status = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    assert status == "UPDATE_COMPLETE", status


@pytest.fixture(scope="module")
def stack(packaged: PackagedService) -> Iterator[DeployedStack]:
    moto_alarms.install()
    with mock_aws():
        _deploy(packaged)
        lambda_ = boto3.client("lambda", region_name=REGION)
        arns = {
            name: lambda_.get_function(FunctionName=config["name"])["Configuration"]["FunctionArn"]
            for name, config in packaged.functions.items()
        }
        yield DeployedStack(
            packaged,
            boto3.client("iam", region_name=REGION),
            lambda_,
            boto3.client("events", region_name=REGION),
            boto3.client("apigatewayv2", region_name=REGION),
            boto3.client("cloudwatch", region_name=REGION),
            boto3.client("sns", region_name=REGION),
            arns,
        )


def _events(packaged: PackagedService, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, event[kind])
        for name, config in packaged.functions.items()
        for event in config.get("events", [])
        if kind in event
    ]


def test_every_function_in_the_code_is_declared(packaged: PackagedService) -> None:
    in_code = {path.parent.name for path in (ROOT / "functions").glob("*/handler.py")}
    assert in_code == set(packaged.functions)


def test_every_declared_function_comes_up_as_declared(stack: DeployedStack) -> None:
    packaged = stack.packaged
    provider = packaged.provider
    pages = stack.lambda_.get_paginator("list_functions").paginate()
    deployed = {function["FunctionName"] for page in pages for function in page["Functions"]}
    assert deployed == {config["name"] for config in packaged.functions.values()}
    for name, config in packaged.functions.items():
        function = stack.lambda_.get_function(FunctionName=config["name"])["Configuration"]
        assert function["Handler"] == config["handler"], name
        assert function["Runtime"] == provider["runtime"], name
        assert function["MemorySize"] == config.get("memorySize", provider["memorySize"]), name
        assert function["Timeout"] == config.get("timeout", provider["timeout"]), name
        assert function["Architectures"] == [provider["architecture"]], name
        assert function["CodeSize"] == packaged.artifact(name).stat().st_size, f"{name} runs another zip"
        assert set(function["Environment"]["Variables"]) == set(provider["environment"]), name
        assert function["Environment"]["Variables"]["APP_ENV"] == "production"


def test_the_functions_may_invoke_the_workers_function_and_no_other(stack: DeployedStack) -> None:
    roles = {
        stack.lambda_.get_function(FunctionName=config["name"])["Configuration"]["Role"]
        for config in stack.packaged.functions.values()
    }
    assert len(roles) == 1, "the functions should share serverless's one role"
    role = stack.iam.get_role(RoleName=roles.pop().rsplit("/", 1)[1])["Role"]
    statements = []
    for policy in stack.iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
        document = stack.iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy)["PolicyDocument"]
        if isinstance(document, str):  # moto keeps a stack's inline policy as the repr of a dict
            document = ast.literal_eval(document)
        statements += document["Statement"]
    invoke = [s["Resource"] for s in statements if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    # The account and region came from CloudFormation, not from the packaging machine.
    assert invoke == [stack.function_arns["workers"]]


def test_every_schedule_runs_its_worker_at_its_rate(stack: DeployedStack) -> None:
    declared = Counter(
        (name, rate, json.dumps(schedule["input"], sort_keys=True))
        for name, schedule in _events(stack.packaged, "schedule")
        for rate in (schedule["rate"] if isinstance(schedule["rate"], list) else [schedule["rate"]])
    )
    by_arn = {arn: name for name, arn in stack.function_arns.items()}
    deployed: Counter[tuple[str, str, str]] = Counter()
    for rule in stack.events.list_rules()["Rules"]:
        assert rule["State"] == "ENABLED", rule["Name"]
        for target in stack.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            input_ = json.dumps(json.loads(target["Input"]), sort_keys=True)
            deployed[(by_arn[target["Arn"]], rule["ScheduleExpression"], input_)] += 1
    assert deployed == declared
    # And every worker the code has is on a schedule.
    scheduled = {json.loads(input_)["worker"] for _name, _rate, input_ in declared}
    assert scheduled == set(SCHEDULED_RUNS)


def _deployed_routes(stack: DeployedStack) -> dict[str, str]:
    """`METHOD /path` -> the name (in serverless.yml) of the function it invokes."""
    (api,) = stack.apigateway.get_apis()["Items"]
    by_arn = {arn: name for name, arn in stack.function_arns.items()}
    routes = {}
    for route in stack.apigateway.get_routes(ApiId=api["ApiId"])["Items"]:
        integration_id = route["Target"].removeprefix("integrations/")
        integration = stack.apigateway.get_integration(ApiId=api["ApiId"], IntegrationId=integration_id)
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"  # the shape Mangum reads
        routes[route["RouteKey"]] = by_arn[integration["IntegrationUri"]]
    return routes


def test_every_declared_route_reaches_its_function(stack: DeployedStack) -> None:
    declared = {
        f"{event['method'].upper()} {event['path']}": name for name, event in _events(stack.packaged, "httpApi")
    }
    assert _deployed_routes(stack) == declared


@pytest.fixture
def routes_in_code(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`METHOD /path` -> function, read off each function's FastAPI app (its OpenAPI
    document: the routes hidden from it are the dev server's stand-ins, never a handler's)."""
    monkeypatch.setenv("APP_ENV", "test")
    get_settings.cache_clear()
    routes = {}
    for handler in sorted((ROOT / "functions").glob("*/handler.py")):
        app = importlib.import_module(f"functions.{handler.parent.name}.handler").app
        for path, operations in app.openapi()["paths"].items():
            routes.update({f"{method.upper()} {path}": handler.parent.name for method in operations})
    get_settings.cache_clear()
    return routes


def test_every_route_in_the_code_is_deployed_to_its_function(
    stack: DeployedStack, routes_in_code: dict[str, str]
) -> None:
    assert _deployed_routes(stack) == routes_in_code


# The shop's alert conditions (shared/jobs/monitoring.py) as CloudWatch alarms: metric -> limit.
ALERT_LIMITS = {"QueueBacklog": 100, "JobsProcessingOver5Minutes": 0, "ErrorRatePercent": 5, "StorageUsedPercent": 80}


def _alarms(stack: DeployedStack) -> dict[str, dict[str, Any]]:
    return {alarm["MetricName"]: alarm for alarm in stack.cloudwatch.describe_alarms()["MetricAlarms"]}


def test_every_alert_condition_is_an_alarm_that_emails_the_configured_address(stack: DeployedStack) -> None:
    (topic,) = [t["TopicArn"] for t in stack.sns.list_topics()["Topics"] if t["TopicArn"].endswith("-alarms")]
    subscriptions = stack.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", ALARM_EMAIL)]
    alarms = _alarms(stack)
    stage = stack.packaged.provider["stage"]
    for metric, limit in ALERT_LIMITS.items():
        alarm = alarms[metric]
        assert alarm["Namespace"] == stack.packaged.provider["environment"]["METRICS_NAMESPACE"]
        assert alarm["Dimensions"] == [{"Name": "Stage", "Value": stage}]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", limit), metric
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], metric
        assert alarm["TreatMissingData"] == "breaching", f"{metric}: a silent monitor must alert too"
    failing = alarms["Errors"]
    assert failing["Dimensions"] == [{"Name": "FunctionName", "Value": stack.packaged.functions["workers"]["name"]}]
    assert failing["AlarmActions"] == [topic]


def test_the_metrics_the_monitor_publishes_are_the_ones_alarmed_on_and_cross_the_limits(
    stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto keeps alarms but never evaluates them (an alarm stays in the state it was put
    in, whatever the data), so this proves the other half: what the function writes is,
    once CloudWatch has read it, a datapoint of each alarm's metric over its threshold."""
    environment = stack.packaged.provider["environment"]
    settings = get_settings().model_copy(
        update={
            "metrics_namespace": environment["METRICS_NAMESPACE"],
            "metrics_stage": stack.packaged.provider["stage"],
        }
    )
    busy = [{"queue": "email", "pending": 150, "stuck": 2, "failed_attempts_last_hour": 1, "succeeded_last_hour": 9}]
    capsys.readouterr()
    publish_metrics(Health(busy, storage_bytes=900, storage_quota_bytes=1000), settings)
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    # What CloudWatch Logs does with an embedded-metric line: one datapoint per metric.
    stack.cloudwatch.put_metric_data(
        Namespace=directive["Namespace"],
        MetricData=[
            {
                "MetricName": metric["Name"],
                "Dimensions": [{"Name": name, "Value": document[name]} for name in directive["Dimensions"][0]],
                "Value": document[metric["Name"]],
                "Unit": metric["Unit"],
            }
            for metric in directive["Metrics"]
        ],
    )
    for metric, alarm in _alarms(stack).items():
        if metric not in ALERT_LIMITS:
            continue
        datapoints = stack.cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=metric,
            Dimensions=alarm["Dimensions"],
            StartTime=datetime.now(UTC) - timedelta(minutes=10),
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=alarm["Period"],
            Statistics=[alarm["Statistic"]],
        )["Datapoints"]
        assert datapoints, f"nothing published to {metric} as its alarm reads it"
        assert max(point[alarm["Statistic"]] for point in datapoints) > alarm["Threshold"], metric
