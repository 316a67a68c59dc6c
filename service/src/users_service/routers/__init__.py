"""One router per resource: ``users`` (the API), ``ops`` (health, probes, stats, metrics), ``debug``."""
