"""Feeds stored readings and device states to the pure rules and applies their actions.

Rule state that matters (timers, active flags) is persisted in ``rule_state`` so a hub
restart continues where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import tickets
from hub.db import Asset, Device, RuleState
from hub.rules.actions import Action, Raise
from hub.rules.lamp import LampOutState, lamp_out_step
from trygg import contract as c
from trygg.clock import Clock, from_ms

log = logging.getLogger(__name__)


class RuleEngine:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        self.lamp: dict[str, LampOutState] = {}
        self.tickets_opened = 0

    def load(self) -> None:
        with self.sessions() as s:
            for row in s.scalars(select(RuleState).where(RuleState.key.like("lampOut:%"))):
                self.lamp[row.key.split(":", 1)[1]] = LampOutState(**row.state)

    async def feed(self, items: list[tuple[str, Any]]) -> None:
        await asyncio.to_thread(self._feed, items)

    def _feed(self, items: list[tuple[str, Any]]) -> None:
        now = self.clock.now()
        with self.sessions.begin() as s:
            changed: dict[str, LampOutState] = {}
            actions: list[Action] = []
            for tag, message in items:
                if tag == "state":
                    self._on_state(s, message)
                elif isinstance(message, c.Data):
                    actions += self._on_data(s, message, changed)
            for action in actions:
                if isinstance(action, Raise):
                    outcome = tickets.raise_alarm(
                        s,
                        asset_id=action.asset,
                        alarm_type=action.alarm,
                        severity=action.severity,
                        now=now,
                        details=dict(action.details),
                    )
                    self.tickets_opened += int(outcome.created)
                else:
                    tickets.clear_alarm(s, asset_id=action.asset, alarm_type=action.alarm, now=now)
            for asset, state in changed.items():
                s.merge(RuleState(key=f"lampOut:{asset}", state=asdict(state), updated_at=now))

    def _on_state(self, s: Session, state: c.State) -> None:
        dev = s.get(Device, state.device)
        if dev is None or state.boot < dev.boot:
            return  # a stale death from an earlier boot arriving after the new birth
        dev.online, dev.boot, dev.state_changed = state.online, state.boot, from_ms(state.ts)

    def _on_data(self, s: Session, data: c.Data, changed: dict[str, LampOutState]) -> list[Action]:
        actions: list[Action] = []
        for r in data.readings:
            if r.kind != c.AssetKind.STREETLIGHT or r.field != "powerState":
                continue
            asset = s.get(Asset, r.asset)
            if asset is None:
                continue
            state = changed.get(r.asset) or self.lamp.get(r.asset, LampOutState())
            new, acts = lamp_out_step(
                state,
                asset=r.asset,
                power_on=r.v == "on",
                t_ms=r.t,
                now=from_ms(r.t),
                lat=asset.lat,
                lon=asset.lon,
            )
            if new != state:
                changed[r.asset] = new
                self.lamp[r.asset] = new
            actions += acts
        return actions
