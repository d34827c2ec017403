"""CloudWatch alarm and SNS subscription resources for moto's CloudFormation.

moto implements both services but its CloudFormation knows neither resource type (it
warns and skips them), so the alarms serverless.yml declares would not come up. These
models create them through moto's own backends from the properties CloudFormation passes
(Refs already resolved), so the test reads them back with boto3 as they would be in AWS.
As with `moto_http_api`, `install()` makes moto see them.
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.sns.models import sns_backends

from tests.deploy import moto_http_api
from tests.deploy.moto_http_api import CloudFormationResource


class _Resource(CloudFormationResource):
    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.physical_resource_id


class MetricAlarm(_Resource, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> MetricAlarm:
        props = cloudformation_json["Properties"]
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=props.get("AlarmName") or resource_name,
            namespace=props["Namespace"],
            metric_name=props["MetricName"],
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            period=int(props["Period"]),
            threshold=float(props["Threshold"]),
            statistic=props["Statistic"],
            description=props.get("AlarmDescription", ""),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions", [])],
            alarm_actions=props.get("AlarmActions", []),
            ok_actions=props.get("OKActions", []),
            treat_missing_data=props.get("TreatMissingData"),
        )
        return cls(alarm.name)


class TopicSubscription(_Resource, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> TopicSubscription:
        props = cloudformation_json["Properties"]
        subscription = sns_backends[account_id][region_name].subscribe(
            props["TopicArn"], props["Endpoint"], props["Protocol"]
        )
        return cls(subscription.arn)


def install() -> None:
    """Make moto's CloudFormation see the models above (idempotent)."""
    moto_http_api.install()
