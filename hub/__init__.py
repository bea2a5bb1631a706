"""The Trygg hub: ingest, rules, alarms, tickets and the HTTP API."""
