"""Follow-up: hourly history that lasts, and the figures the city reports per period."""
