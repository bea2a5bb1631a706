"""Sensor drivers: one module per device, each real driver with a simulated twin."""
