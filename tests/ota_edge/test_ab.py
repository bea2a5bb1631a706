"""The A/B folders and the launcher: switch, trial, commit, rollback, and power cuts at
every step of a switch (pure file operations on a temporary root; no services)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge import ab

A, B, C = "a" * 64, "b" * 64, "c" * 64


def _installed(root: Path, *releases: str) -> ab.Layout:
    layout = ab.Layout(root)
    layout.ensure()
    for release in releases:
        (layout.releases / release / "lib").mkdir(parents=True)
    return layout


@pytest.fixture
def layout(tmp_path: Path) -> ab.Layout:
    layout = _installed(tmp_path / "ab", A, B)
    layout.point("current", A)
    return layout


def test_switch_then_commit_keeps_the_new_release_and_the_old_as_previous(
    layout: ab.Layout,
) -> None:
    trial = layout.switch(B, command="cmd-1")
    assert (trial.release, trial.previous, trial.starts) == (B, A, 0)
    assert (layout.link("current"), layout.link("previous")) == (B, A)
    assert layout.prestart() == f"trial start 1 of {B}"
    assert layout.trial() == ab.Trial(B, A, 1, "cmd-1")
    assert layout.commit() is not None
    assert layout.trial() is None
    assert (layout.link("current"), layout.link("previous")) == (B, A)
    assert layout.prestart() == "no trial"


def test_a_release_that_never_passes_is_rolled_back_by_the_launcher(layout: ab.Layout) -> None:
    layout.switch(B, command="cmd-2")
    for start in range(1, ab.MAX_STARTS + 1):
        assert layout.prestart() == f"trial start {start} of {B}"
        assert layout.link("current") == B
    assert "rolled back" in layout.prestart()
    assert layout.link("current") == A
    assert layout.trial() is None
    [(_path, report)] = layout.pending_reports()
    assert report["release"] == B
    assert report["state"] == "rolled_back"
    assert report["command"] == "cmd-2"
    assert "3 start(s)" in str(report["reason"])


def test_rollback_by_the_agent_goes_back_and_reports(layout: ab.Layout) -> None:
    layout.switch(B, command=None)
    layout.prestart()
    layout.rollback("health check failed: no acknowledgement from the hub")
    assert layout.link("current") == A
    assert layout.trial() is None
    [(_p, report)] = layout.pending_reports()
    assert report["reason"] == "health check failed: no acknowledgement from the hub"


def test_commit_removes_releases_that_are_neither_current_nor_previous(tmp_path: Path) -> None:
    layout = _installed(tmp_path, A, B, C)
    layout.point("current", A)
    layout.switch(B, command=None)
    layout.commit()
    assert sorted(p.name for p in layout.releases.iterdir()) == [A, B]


def test_a_switch_cut_after_any_step_ends_on_a_complete_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Power cut after each filesystem step of a switch: the next prestart always leaves
    ``current`` on an installed release and a consistent trial (or none)."""
    original = ab.fsync_dir
    for cut_after in range(10):
        root = tmp_path / f"cut{cut_after}"
        layout = _installed(root, A, B)
        layout.point("current", A)
        steps = 0

        def counting(folder: Path, limit: int = cut_after) -> None:
            nonlocal steps
            original(folder)
            steps += 1
            if steps > limit:
                raise KeyboardInterrupt("power cut")

        monkeypatch.setattr(ab, "fsync_dir", counting)
        with contextlib.suppress(KeyboardInterrupt):
            layout.switch(B, command="c")
        monkeypatch.setattr(ab, "fsync_dir", original)
        after = ab.Layout(root)
        after.prestart()
        current = after.link("current")
        assert current in (A, B), cut_after
        trial = after.trial()
        if current == B:
            assert trial is not None
            assert trial.previous == A
            assert trial.starts == 1
        else:
            assert trial is None or trial.release == B


def test_a_broken_current_link_falls_back_to_previous(layout: ab.Layout) -> None:
    layout.switch(B, command=None)
    layout.commit()
    shutil.rmtree(layout.releases / B)
    assert "back to" in layout.prestart()
    assert layout.link("current") == A


def test_prestart_throws_away_staging(layout: ab.Layout) -> None:
    (layout.staging / "half.build").mkdir()
    (layout.staging / "half.build" / "x").write_text("partial")
    layout.prestart()
    assert list(layout.staging.iterdir()) == []


def test_a_half_deleted_release_is_never_installed(layout: ab.Layout) -> None:
    assert not layout.installed(C)
    with pytest.raises(ValueError, match="not installed"):
        layout.point("current", C)
    with pytest.raises(ValueError, match="not a release id"):
        layout.release_dir("../../etc")


def test_unreadable_reports_are_dropped(layout: ab.Layout) -> None:
    layout.queue_report(B, None, "failed", "x" * 500)
    (layout.reports / "junk.json").write_text("{")
    [(_p, report)] = layout.pending_reports()
    assert len(str(report["reason"])) == 300
    assert not (layout.reports / "junk.json").exists()


def test_the_launcher_runs_standalone_on_the_stdlib_only(tmp_path: Path, layout: ab.Layout) -> None:
    """Installed as a lone file outside any release, it needs nothing of the project."""
    lone = tmp_path / "opt" / "ab.py"
    lone.parent.mkdir()
    shutil.copy(Path(ab.__file__), lone)
    layout.switch(B, command=None)
    env = {"PATH": os.environ["PATH"]}
    out = subprocess.run(
        [sys.executable, "-S", "-I", str(lone), "prestart", "--root", str(layout.root)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    assert f"trial start 1 of {B}" in out.stderr
    fake = tmp_path / "fakepython"
    fake.write_text('#!/bin/sh\necho "$PYTHONPATH|$*"\n')
    fake.chmod(0o755)
    argv = ["exec", "--root", str(layout.root), "--python", str(fake), "--", "--config", "d.yaml"]
    out = subprocess.run(
        [sys.executable, "-S", "-I", str(lone), *argv],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    lib, _, args = out.stdout.strip().partition("|")
    assert lib == str((layout.releases / B / "lib").resolve())
    assert args == "-P -m edge --config d.yaml"
    code = (
        "import json, sys, edge.ab; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
        "- set(sys.stdlib_module_names))))"
    )
    repo = Path(ab.__file__).parents[1]
    mods = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert json.loads(mods.stdout) == ["__main__", "edge"]


def test_a_damaged_trial_file_goes_back_to_previous(layout: ab.Layout) -> None:
    layout.switch(B, command=None)
    layout.trial_file.write_bytes(b"\x00garbage")
    assert "rolled back" in layout.prestart()
    assert layout.link("current") == A
    assert layout.trial() is None
