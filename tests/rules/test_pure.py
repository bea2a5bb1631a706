"""The rules' decision modules stay pure: importing them loads no I/O library."""

from __future__ import annotations

import json
import subprocess
import sys

from hub.gauges import Snapshot, gauge_lines

PURE = [
    "hub.rules.actions",
    "hub.rules.condition",
    "hub.rules.params",
    "hub.rules.codec",
    "hub.rules.lamp",
    "hub.rules.cabinet",
    "hub.rules.bin",
    "hub.rules.camera",
    "hub.rules.device",
    "hub.rules.certificates",
]
IO = ["asyncio", "sqlalchemy", "paho", "httpx", "psycopg", "sqlite3", "socket", "fastapi"]


def test_rule_modules_import_no_io_library() -> None:
    code = (
        "import json, sys\n"
        + "".join(f"import {m}\n" for m in PURE)
        + f"print(json.dumps(sorted(m for m in {IO!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_gauge_lines_are_line_protocol_for_dashboards() -> None:
    snap = Snapshot(
        open_by={("lampOut", 2, "solna-north"): 3, ("binFire", 1, "none"): 1},
        breached_by={"lampOut": 2},
        devices_total=10,
        devices_offline=1,
        bins_forecast_full=4,
    )
    lines = gauge_lines(snap, 1_797_000_000_000)
    assert "tickets_open,area=solna-north,kind=lampOut,priority=2 count=3i 1797000000000" in lines
    assert "tickets_open_total count=4i 1797000000000" in lines
    assert "tickets_sla_breached,kind=lampOut count=2i 1797000000000" in lines
    assert "devices online=9i,offline=1i,total=10i 1797000000000" in lines
    assert "bins_forecast_full count=4i 1797000000000" in lines


def test_gauges_carry_asset_state_for_the_map_and_the_sun_per_site() -> None:
    from hub.gauges import Snapshot, gauge_lines

    snap = Snapshot(
        {},
        {},
        2,
        1,
        0,
        (
            ("lamp-1", "streetlight", "solna", "pole-1", 59.36, 18.0, "alarm"),
            ("bin-1", "bin", "solna", "pole-2", 59.37, 18.01, "offline"),
        ),
    )
    lines = gauge_lines(snap, 1_797_336_000_000)  # 2026-12-15 12:00 UTC: sun up in Solna
    states = [ln for ln in lines if ln.startswith("asset_state,")]
    assert len(states) == 2
    assert 'state="alarm"' in states[1] or 'state="alarm"' in states[0]
    sun = [ln for ln in lines if ln.startswith("sun,site=solna ")]
    assert len(sun) == 1
    assert "daylight=true" in sun[0]
