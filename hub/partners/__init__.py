"""Place partnerships: organisations (property and centre owners, the police, security
companies) whose ``partner`` users see their own places only, read-only, and may report a
problem there. Every partner read is audited."""
