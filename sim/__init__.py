"""City in a box: the real edge agent on simulated drivers, many at once."""
