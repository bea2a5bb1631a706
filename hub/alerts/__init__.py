"""Alerts: situations that endanger people, a stream apart from maintenance tickets."""
