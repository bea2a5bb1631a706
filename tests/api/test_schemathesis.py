"""Schemathesis fuzzes every operation in the published OpenAPI document.

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


def test_schemathesis_finds_no_server_error(hub: Hub, tmp_path: Path) -> None:
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
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "10",
        "--suppress-health-check",
        "all",
        # Logging out or revoking would revoke the token the run authenticates with.
        "--exclude-operation-id",
        "log_out_api_v1_session_delete",
        "--exclude-operation-id",
        "revoke_api_v1_tokens__token_id__delete",
        "-H",
        f"Authorization: Bearer {hub.admin}",
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
    summary = {
        "operations_tested": ops["tested"],
        "operations_total": ops["total"],
        "test_cases": cases["generated"],
        "failures": cases["unique_failures"],
        "seconds": round(doc["running_time"], 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "schemathesis-summary.json").write_text(json.dumps(summary, indent=1))
    print("schemathesis:", summary)
