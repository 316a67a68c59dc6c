"""kopf handlers, one concern per module. Importing this package registers them all."""

from . import drained, drift, indexes, lifecycle, pods, setup, window_timer

__all__ = ["drained", "drift", "indexes", "lifecycle", "pods", "setup", "window_timer"]
