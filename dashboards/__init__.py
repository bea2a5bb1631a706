"""Operators' Grafana dashboards, written as code and generated to JSON."""
