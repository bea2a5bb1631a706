"""Fault rules as pure state machines: ``(state, input, now) -> (state, actions)``."""
