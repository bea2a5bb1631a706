"""Integers the API accepts fit the 32-bit columns they are compared with: a larger one is
a 422, never a database error (PostgreSQL refuses the comparison, SQLite does not)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Hub

pytestmark = pytest.mark.integration

INT32_MAX = 2**31 - 1


@pytest.fixture
def db_url(sql_url: str) -> str:
    return sql_url


def test_every_integer_parameter_is_bounded_to_32_bits(hub: Hub) -> None:
    doc = hub.client.get("/openapi.json").json()
    seen = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                schemas = [param["schema"], *param["schema"].get("anyOf", [])]
                for schema in schemas:
                    if (
                        schema.get("type") == "integer"
                        or schema.get("items", {}).get("type") == "integer"
                    ):
                        seen += 1
                        bound = schema.get("maximum", schema.get("items", {}).get("maximum"))
                        where = f"{method.upper()} {path} {param['name']}"
                        assert bound is not None, f"{where} has no maximum"
                        assert bound <= INT32_MAX, f"{where} admits {bound}"
    assert seen >= 10


def test_dead_letter_paging_at_and_past_the_column_range(hub: Hub) -> None:
    ok = hub.client.get(
        "/api/v1/deadletters", params={"before_id": INT32_MAX}, headers=hub.h(hub.operator)
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() == []
    past = hub.client.get(
        "/api/v1/deadletters", params={"before_id": INT32_MAX + 1}, headers=hub.h(hub.operator)
    )
    assert past.status_code == 422, past.text
