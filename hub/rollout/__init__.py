"""Staged rollouts of a release to the fleet: the pure plan, its SQL rows and the worker."""
