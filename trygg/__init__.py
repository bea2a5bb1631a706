"""Trygg: edge monitoring for public spaces (shared core: contract, clock, stack, CLI)."""
