"""install_release as a command: what is refused at once, and the reports it queues (no
services; the install itself is tested on real poles in test_ota_pole.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge import ab
from edge.commands import CommandError
from edge.config import ReleaseConfig
from edge.release_fetch import Tls
from edge.updater import Health, Releases
from trygg import contract as c

A, B = "a" * 64, "b" * 64


def _cmd(release: object, cid: str = "cmd-1") -> c.Command:
    raw = {
        "id": cid,
        "name": "install_release",
        "args": {"release": release},
        "ts": 1_790_000_000_000,
    }
    return c.Command.model_validate(raw)


def _releases(root: Path) -> tuple[Releases, list[str]]:
    restarts: list[str] = []
    config = ReleaseConfig(url="https://hub/releases", public_keys=[root / "k.pub"], root=root)
    rel = Releases(
        config=config,
        device_id="pole-9",
        tls=lambda: Tls(root / "ca.crt", None, None),
        restart=lambda: restarts.append("restart"),
    )
    return rel, restarts


def _layout(tmp: Path, *releases: str) -> ab.Layout:
    layout = ab.Layout(tmp / "ab")
    layout.ensure()
    for rid in releases:
        (layout.releases / rid).mkdir()
    return layout


@pytest.mark.parametrize("bad", ["", "A" * 64, "a" * 63, 42, "../" + "a" * 61])
def test_a_malformed_release_id_is_refused(tmp_path: Path, bad: object) -> None:
    rel, _ = _releases(_layout(tmp_path).root)
    with pytest.raises(CommandError, match="release id"):
        rel.request(_cmd(bad))


def test_one_install_at_a_time_and_the_running_release_is_reported_healthy(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path, A)
    layout.point("current", A)
    rel, _ = _releases(layout.root)
    assert rel.running == A
    assert "already running" in rel.request(_cmd(A, "cmd-a"))
    assert "started" in rel.request(_cmd(B, "cmd-b"))
    with pytest.raises(CommandError, match="already under way"):
        rel.request(_cmd(B, "cmd-c"))
    [(key, payload)] = rel.pending()
    report = c.decode(c.Kind.RELEASE, payload)
    assert (report.device, report.release, report.state, report.command) == (
        "pole-9",
        A,
        "healthy",
        "cmd-a",
    )
    rel.sent(key)
    assert rel.pending() == []


def test_nothing_is_installed_while_a_release_is_on_trial(tmp_path: Path) -> None:
    layout = _layout(tmp_path, A, B)
    layout.point("current", A)
    layout.switch(B, command="x")
    rel, _ = _releases(layout.root)
    assert rel.trial is not None
    with pytest.raises(CommandError, match="on trial"):
        rel.request(_cmd(A))


def test_a_failed_health_check_rolls_back_and_asks_for_a_restart(tmp_path: Path) -> None:
    layout = _layout(tmp_path, A, B)
    layout.point("current", A)
    layout.switch(B, command="cmd-t")
    rel, restarts = _releases(layout.root)
    rel.config = rel.config.model_copy(update={"health_deadline_s": 0.2})

    class Sick:
        def health(self) -> list[str]:
            return ["no acknowledgement from the hub"]

    asyncio.run(_check(rel, Sick()))
    assert restarts == ["restart"]
    assert layout.link("current") == A
    assert layout.trial() is None
    [(_k, payload)] = rel.pending()
    report = c.decode(c.Kind.RELEASE, payload)
    assert report.state == "rolled_back"
    assert report.command == "cmd-t"
    assert "no acknowledgement from the hub" in report.reason


def test_a_passed_health_check_commits(tmp_path: Path) -> None:
    layout = _layout(tmp_path, A, B)
    layout.point("current", A)
    layout.switch(B, command=None)
    rel, restarts = _releases(layout.root)

    class Well:
        def health(self) -> list[str]:
            return []

    asyncio.run(_check(rel, Well()))
    assert restarts == []
    assert layout.link("current") == B
    assert layout.trial() is None
    assert [c.decode(c.Kind.RELEASE, p).state for _k, p in rel.pending()] == ["healthy"]


async def _check(rel: Releases, health: Health) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(rel.run(stop, health))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if rel.trial is None or rel.layout.trial() is None:
            break
    stop.set()
    await task
