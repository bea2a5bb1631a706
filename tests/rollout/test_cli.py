"""``trygg release publish`` and ``trygg fleet ...`` against a served hub API."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.releases.cli import UsageError, parse_stage
from tests.rollout.conftest import Api, Keys, build
from trygg.cli import main

pytestmark = pytest.mark.integration


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_publish_then_roll_out_from_the_command_line(
    api: Api, keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    hub = ["--hub", str(api.client.base_url)]
    bundle = build(tmp_path / "b", keys.private, version="2026.12.3", payload=b"cli")
    monkeypatch.setenv("TRYGG_HUB_TOKEN", api.operator)
    code, _, err = _run(capsys, "release", "publish", str(bundle.folder), *hub)
    assert (code, "needs the admin role" in err) == (1, True)

    monkeypatch.setenv("TRYGG_HUB_TOKEN", api.admin)
    code, out, _ = _run(capsys, "release", "publish", str(bundle.folder), *hub)
    assert code == 0
    assert out.startswith(f"{bundle.id} published: version 2026.12.3, 2 file(s)")
    code, out, _ = _run(capsys, "release", "publish", str(bundle.folder), *hub)
    assert "already published" in out

    monkeypatch.setenv("TRYGG_HUB_TOKEN", api.operator)
    code, out, _ = _run(capsys, "fleet", "releases", *hub)
    assert bundle.id in out
    assert "2026.12.3" in out
    code, out, err = _run(
        capsys, "fleet", "rollout", "create", bundle.id, *hub,
        "--stage", "kanarie=devices:pole-c1", "--stage", "norr=sites:norr",
        "--stage", "alla=share:100%",
    )  # fmt: skip
    assert code == 0, err
    assert "rollout 1: running" in out
    assert ">1. kanarie" in out
    code, out, _ = _run(capsys, "fleet", "rollout", "pause", "1", *hub)
    assert "rollout 1: paused" in out
    code, out, err = _run(capsys, "fleet", "rollout", "pause", "1", *hub)
    assert code == 1
    assert "cannot pause a rollout that is paused" in err
    code, out, _ = _run(capsys, "fleet", "rollout", "abort", "1", *hub)
    assert "rollout 1: aborted" in out
    code, out, _ = _run(capsys, "fleet", "rollout", "list", *hub)
    assert "aborted" in out
    code, out, _ = _run(capsys, "fleet", "rollout", "show", "1", "--devices", *hub)
    assert "pole-n2" in out
    code, _, err = _run(capsys, "fleet", "rollout", "show", "7", *hub)
    assert (code, "no rollout 7" in err) == (1, True)


def test_cli_refusals_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRYGG_HUB_TOKEN", raising=False)
    assert main(["release", "publish", str(tmp_path), "--hub", "http://127.0.0.1:9"]) == 2
    assert "no API token" in capsys.readouterr().err
    monkeypatch.setenv("TRYGG_HUB_TOKEN", "tr_x")
    assert main(["release", "publish", str(tmp_path), "--hub", "http://127.0.0.1:9"]) == 2
    assert "not a release bundle" in capsys.readouterr().err
    assert main(["fleet", "releases", "--hub", "http://127.0.0.1:9"]) == 3
    assert "cannot be reached" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("k=devices:a,b", {"name": "k", "devices": ["a", "b"]}),
        ("n=sites:norr", {"name": "n", "sites": ["norr"]}),
        ("d=places:Arenan", {"name": "d", "places": ["Arenan"]}),
        ("h=share:50%", {"name": "h", "share": 0.5}),
        ("h=share:0.25", {"name": "h", "share": 0.25}),
    ],
)
def test_stage_syntax(text: str, stage: dict[str, object]) -> None:
    assert parse_stage(text) == stage


@pytest.mark.parametrize("text", ["k", "k=devices", "=devices:a", "k=colour:red", "k=share:x"])
def test_bad_stage_syntax(text: str) -> None:
    with pytest.raises(UsageError):
        parse_stage(text)
