"""Backups of a hub and their restore: the SQL database, InfluxDB, the fleet's PKI and the
configuration, in one folder whose manifest names every file with its SHA-256.

The SQL database is copied before InfluxDB. The hub writes a batch to InfluxDB before it
advances the devices' watermarks in SQL, so an InfluxDB copy taken after the SQL copy holds
every reading at or below the copied watermarks: a restored hub has no gap below a
watermark, and what it stored above one is only written again (an InfluxDB point with the
same series and time replaces itself), never doubled.
"""
