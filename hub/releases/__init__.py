"""Signed releases on the hub: stored content-addressed, published by operators, served to
poles over mutually authenticated TLS."""
