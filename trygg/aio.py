"""Small asyncio helpers shared by the edge agent, the simulator and the hub."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait at most ``seconds`` for ``event``; True when it is set.

    The same as ``wait_for(event.wait(), seconds)`` with the timeout suppressed, but without
    the task Python 3.11's ``wait_for`` creates (and, on a timeout, cancels and waits for)
    on every call: a simulator's thousands of agents each sleep this way several times
    per message."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
