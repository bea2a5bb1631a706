"""The crew page: a small mobile web app served by the hub (Swedish first, English too)."""
