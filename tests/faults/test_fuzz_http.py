"""Schema-driven fuzzing of every HTTP endpoint from the app's own OpenAPI schema:
no 5xx, every error in the JSON error shape, and refused requests write nothing.

schemathesis generates the requests (hypothesis underneath); its pytest plugin does not
run under this pytest, so each operation's strategy is driven directly.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from shared.core import db
from tests.fixtures.db import row_counts

EXAMPLES_PER_OPERATION = 30


# What a request refused before any handler code ran answers with: the request schema's 422
# (which lists the fields, `details`), or the router's own 404/405 for a path or method
# no route has.
SCHEMA_REFUSAL = "422 validation_failed (schema)"
ROUTER_REFUSALS = {"404 not_found", "405 method_not_allowed"}


def _outcome(response: Any) -> str:
    """The status and error code, marking the schema's own refusal apart from a handler's."""
    if response.status_code < 400:
        return str(response.status_code)
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} (not the error shape)"
    schema = response.status_code == 422 and error.get("code") == "validation_failed" and "details" in error
    return SCHEMA_REFUSAL if schema else f"{response.status_code} {error.get('code')}"


def _past_validation(outcome: str) -> bool:
    return outcome != SCHEMA_REFUSAL and outcome not in ROUTER_REFUSALS


def test_no_endpoint_fails_or_answers_outside_the_error_shape(shop: TestClient, database: db.Database) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", shop.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    reached: dict[str, Counter[str]] = {}
    for operation in operations:
        reached[f"{operation.method.upper()} {operation.path}"] = Counter()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            before = row_counts(database)
            response = case.call()
            label = f"{case.method} {case.formatted_path}"
            reached[f"{case.operation.method.upper()} {case.operation.path}"][_outcome(response)] += 1
            assert response.status_code < 500, f"{label} -> {response.status_code}: {response.text[:300]}"
            content_type = " ".join(response.headers.get("content-type") or [])
            if response.status_code >= 400 and content_type.startswith("application/json"):
                body = response.json()
                assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), (label, body)
                assert row_counts(database) == before, f"{label} refused ({response.status_code}) but wrote rows"
            elif response.status_code >= 400:
                pytest.fail(f"{label} answered {response.status_code} without the JSON error shape")

        check()
    # Not vacuous: the examples reach the handlers' own logic (a 2xx, or a domain error such
    # as photo_not_found or unsupported_photo_type), not only the schema's 422. Every
    # operation gets there at least once, and most examples overall do.
    summary = {operation: dict(outcomes) for operation, outcomes in reached.items()}
    never = [operation for operation, outcomes in reached.items() if not any(map(_past_validation, outcomes))]
    assert not never, f"no example got past validation for {never}: {summary}"
    total = sum(sum(outcomes.values()) for outcomes in reached.values())
    past = sum(n for outcomes in reached.values() for outcome, n in outcomes.items() if _past_validation(outcome))
    assert past > total // 2, f"only {past} of {total} examples got past validation: {summary}"
