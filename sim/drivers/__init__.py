"""The simulator's world-driven drivers: cameras and crowds of their own, and bins built
from the edge's twins; all implement edge/drivers/base.py's Driver protocol and read their
behaviour from :class:`sim.world.World`."""
