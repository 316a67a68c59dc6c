"""kopf handlers, one concern per module. Importing this package registers them all."""

from . import follow, indexes, lifecycle, pods, setup

__all__ = ["follow", "indexes", "lifecycle", "pods", "setup"]
