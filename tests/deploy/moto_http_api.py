"""HTTP API resources for moto's CloudFormation.

moto implements the HTTP API service (apigatewayv2) but its CloudFormation knows none of
its resource types: it warns and skips them, so a stack built from serverless's template
would come up without routes. These models create the API, its integrations, routes and
stage through moto's own apigatewayv2 backend, with the properties CloudFormation passes
(Refs and GetAtts already resolved by moto), so the routes can be read back with boto3.

moto finds CloudFormation models as the direct subclasses of CloudFormationModel, cached
on first use: `install()` clears that cache once these are defined.
"""

from __future__ import annotations

from typing import Any

from moto.apigatewayv2.models import ApiGatewayV2Backend, apigatewayv2_backends
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel


def _backend(account_id: str, region_name: str) -> ApiGatewayV2Backend:
    return apigatewayv2_backends[account_id][region_name]


class CloudFormationResource:
    """What a resource model for moto's CloudFormation needs beyond its create: an id for
    `Ref`, and no in-place updates (serverless's stacks are created once in these tests)."""

    def __init__(self, physical_resource_id: str) -> None:
        self.physical_resource_id = physical_resource_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    def is_created(self) -> bool:
        return True

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[no-untyped-def]
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None  # moto's backends are reset when the mock ends


class _Resource(CloudFormationResource):
    """An HTTP API's part: `ApiId` and `ApiEndpoint` for GetAtt."""

    def __init__(self, physical_resource_id: str, api_id: str, account_id: str, region_name: str) -> None:
        super().__init__(physical_resource_id)
        self.api_id = api_id
        self.account_id = account_id
        self.region_name = region_name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in {"ApiId", "ApiEndpoint"}

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "ApiEndpoint":
            return f"https://{self.api_id}.execute-api.{self.region_name}.amazonaws.com"
        return self.api_id


class HttpApi(_Resource, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Api"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> HttpApi:
        props = cloudformation_json["Properties"]
        cors = props.get("CorsConfiguration") or {}
        api = _backend(
            account_id, region_name
        ).create_api(
            api_key_selection_expression=None,  # type: ignore[arg-type]
            # The API's own casing, as boto3 reads it back.
            cors_configuration={key[0].lower() + key[1:]: value for key, value in cors.items()},  # type: ignore[arg-type]
            description=props.get("Description"),  # type: ignore[arg-type]
            disable_schema_validation=None,  # type: ignore[arg-type]
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),  # type: ignore[arg-type]
            name=props["Name"],
            protocol_type=props["ProtocolType"],
            route_selection_expression=None,  # type: ignore[arg-type]
            tags=props.get("Tags") or {},
            version=None,  # type: ignore[arg-type]
        )
        return cls(api.api_id, api.api_id, account_id, region_name)


class HttpApiIntegration(_Resource, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Integration"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> HttpApiIntegration:
        props = cloudformation_json["Properties"]
        integration = _backend(account_id, region_name).create_integration(
            api_id=props["ApiId"],
            connection_id=None,  # type: ignore[arg-type]
            connection_type=None,  # type: ignore[arg-type]
            content_handling_strategy=None,  # type: ignore[arg-type]
            credentials_arn=None,  # type: ignore[arg-type]
            description=props.get("Description"),  # type: ignore[arg-type]
            integration_method=props.get("IntegrationMethod"),  # type: ignore[arg-type]
            integration_subtype=None,  # type: ignore[arg-type]
            integration_type=props["IntegrationType"],
            integration_uri=props["IntegrationUri"],
            passthrough_behavior=None,  # type: ignore[arg-type]
            payload_format_version=props.get("PayloadFormatVersion"),  # type: ignore[arg-type]
            request_parameters=None,
            request_templates=None,
            response_parameters=None,
            template_selection_expression=None,  # type: ignore[arg-type]
            timeout_in_millis=props.get("TimeoutInMillis"),  # type: ignore[arg-type]
            tls_config=None,  # type: ignore[arg-type]
        )
        return cls(integration.id, props["ApiId"], account_id, region_name)


class HttpApiRoute(_Resource, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Route"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> HttpApiRoute:
        props = cloudformation_json["Properties"]
        route = _backend(account_id, region_name).create_route(
            api_id=props["ApiId"],
            api_key_required=bool(props.get("ApiKeyRequired", False)),
            authorization_scopes=props.get("AuthorizationScopes") or [],
            authorization_type=props.get("AuthorizationType"),  # type: ignore[arg-type]
            authorizer_id=props.get("AuthorizerId"),  # type: ignore[arg-type]
            model_selection_expression=None,  # type: ignore[arg-type]
            operation_name=None,  # type: ignore[arg-type]
            request_models=None,
            request_parameters=None,
            route_key=props["RouteKey"],
            route_response_selection_expression=None,  # type: ignore[arg-type]
            target=props.get("Target"),  # type: ignore[arg-type]
        )
        return cls(route.route_id, props["ApiId"], account_id, region_name)


class HttpApiStage(_Resource, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Stage"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> HttpApiStage:
        props = cloudformation_json["Properties"]
        stage = _backend(account_id, region_name).create_stage(
            props["ApiId"], {"stageName": props["StageName"], "autoDeploy": props.get("AutoDeploy")}
        )
        return cls(stage.name, props["ApiId"], account_id, region_name)


def install() -> None:
    """Make moto's CloudFormation see the models above (idempotent)."""
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
