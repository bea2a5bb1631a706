"""The simulator's own drivers: world-driven twins (bins, cameras, crowds) that implement
edge/drivers/base.py's Driver protocol and read their behaviour from :class:`sim.world.World`."""
