"""Counters of one agent, shared by its sampling and its link (the simulator sums them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AgentStats:
    readings: int = 0
    messages: int = 0
    published: int = 0
    acked: int = 0
    refused: int = 0
    driver_errors: int = 0
    connects: int = 0
    events: int = 0
    births: int = 0
    acks: int = 0  # end-to-end acknowledgements received from the hub
