"""Schema-driven fuzzing of every HTTP endpoint from the app's own OpenAPI schema:
no 5xx, every error in the JSON error shape, and refused requests write nothing.

schemathesis generates the requests (hypothesis underneath); its pytest plugin does not
run under this pytest, so each operation's strategy is driven directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from shared.core import db
from tests.fixtures.db import row_counts

EXAMPLES_PER_OPERATION = 30


def test_no_endpoint_fails_or_answers_outside_the_error_shape(shop: TestClient, database: db.Database) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", shop.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            before = row_counts(database)
            response = case.call()
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{label} -> {response.status_code}: {response.text[:300]}"
            content_type = " ".join(response.headers.get("content-type") or [])
            if response.status_code >= 400 and content_type.startswith("application/json"):
                body = response.json()
                assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), (label, body)
                assert row_counts(database) == before, f"{label} refused ({response.status_code}) but wrote rows"
            elif response.status_code >= 400:
                pytest.fail(f"{label} answered {response.status_code} without the JSON error shape")

        check()
