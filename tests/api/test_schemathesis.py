"""Schemathesis fuzzes every operation in the published OpenAPI document, as every role
(anonymous, crew, operator, admin) and on both databases (SQLite and PostgreSQL).

No 5xx, and no status code, content type or body that the document does not promise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import Hub, add_lamp, open_ticket
from tests.shared_data import PROJECT_ROOT

pytestmark = pytest.mark.integration

ST = Path(sys.executable).parent / "st"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


ROLES = ("anonymous", "crew", "operator", "admin")


@pytest.fixture
def db_url(sql_url: str) -> str:
    return sql_url


def _auth(hub: Hub, role: str) -> list[str]:
    """Schemathesis' options for ``role``: its token, and logging out and revoking left out
    (they would revoke that token mid-run); the anonymous caller has neither, so it fuzzes
    every operation."""
    if role == "anonymous":
        return []
    token: str = getattr(hub, role)
    return [
        "-H",
        f"Authorization: Bearer {token}",
        "--exclude-operation-id",
        "log_out_api_v1_session_delete",
        "--exclude-operation-id",
        "revoke_api_v1_tokens__token_id__delete",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_finds_no_server_error(
    hub: Hub, role: str, db_url: str, tmp_path: Path
) -> None:
    for i in range(3):
        asset = add_lamp(
            hub.sessions, device=f"c{i}", site="centrum", lat=59.36 + i * 1e-3, lon=18.0
        )
        open_ticket(hub.sessions, hub.clock, asset)
    report = tmp_path / "st.json"
    cmd = [
        str(ST),
        "run",
        f"{hub.url}/openapi.json",
        # No 5xx, and every answer is one the document promises (status, type, schema).
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "25",
        "--seed",
        "7311",
        # The same cases on every run: no examples carried over from earlier runs.
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "10",
        "--suppress-health-check",
        "all",
        # /ready takes no input and answers 503 by design here: this app runs no workers, so
        # it is not ready (tests/supervision checks /ready against a running hub).
        "--exclude-operation-id",
        "ready_ready_get",
        # The live stream never ends by design (tests/api/test_crew_live.py reads it).
        "--exclude-operation-id",
        "stream_api_v1_tickets_stream_get",
        *_auth(hub, role),
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    run = subprocess.run(
        cmd, capture_output=True, text=True, timeout=900, cwd=PROJECT_ROOT, check=False
    )
    tail = "\n".join(run.stdout.splitlines()[-40:])
    assert run.returncode == 0, tail + run.stderr[-2000:]
    doc = json.loads(report.read_text())
    ops, cases = doc["operations"], doc["test_cases"]
    assert ops["errored"] == 0
    assert ops["tested"] == ops["selected"] >= 29
    assert cases["with_failures"] == 0
    assert cases["errored"] == 0
    assert cases["generated"] > 500
    assert doc["failures"] == []
    db = db_url.split(":", 1)[0].split("+", 1)[0]
    summary = {
        "role": role,
        "database": db,
        "operations_tested": ops["tested"],
        "operations_total": ops["total"],
        "test_cases": cases["generated"],
        "failures": cases["unique_failures"],
        "seconds": round(doc["running_time"], 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"schemathesis-summary-{db}-{role}.json").write_text(json.dumps(summary, indent=1))
    print("schemathesis:", summary)
