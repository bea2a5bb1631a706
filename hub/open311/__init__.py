"""Open311 GeoReport v2 (with FixMyStreet's extensions) over the hub's tickets."""
