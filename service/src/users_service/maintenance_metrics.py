"""Prometheus figures of the maintenance machinery and the pool, read from the runtime at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from kubemaint.manager import Manager
from kubemaint.pgpool import PoolHandler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["MaintenanceCollector"]

_POOL_FIGURES = ("min", "max", "size", "idle", "in_use", "waiting", "retiring")


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class MaintenanceCollector(Collector):
    """``kubemaint_*`` gauges and counters for one manager and its pool handler."""

    def __init__(self, manager: Manager, pool: PoolHandler, schema_ready: Callable[[], bool]) -> None:
        self._manager = manager
        self._pool = pool
        self._schema_ready = schema_ready

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        manager = self._manager
        state = manager.state
        active = GaugeMetricFamily(
            "kubemaint_maintenance_active", "1 while this replica is in maintenance.", labels=["mode"]
        )
        active.add_metric([state.mode.value], 1.0 if state.enabled else 0.0)
        yield active
        source = GaugeMetricFamily(
            "kubemaint_maintenance_source",
            "Where the state in force comes from (etcd, last-known, loss-policy, none): 1 for the current.",
            labels=["source"],
        )
        for name in ("etcd", "last-known", "loss-policy", "none"):
            source.add_metric([name], 1.0 if manager.source == name else 0.0)
        yield source
        yield GaugeMetricFamily(
            "kubemaint_maintenance_revision",
            "etcd mod revision of the last good maintenance value read.",
            value=float(manager.revision),
        )
        yield GaugeMetricFamily(
            "kubemaint_etcd_connected", "1 while the etcd watch is connected.", value=float(manager.connected)
        )
        yield CounterMetricFamily(
            "kubemaint_maintenance_transitions",
            "Transitions into, out of, or between maintenance modes.",
            value=float(manager.transitions),
        )
        etcd = manager.etcd.stats()
        yield CounterMetricFamily(
            "kubemaint_etcd_malformed_values",
            "Malformed maintenance values seen (the last good state was kept).",
            value=_number(etcd.get("malformed")),
        )
        yield CounterMetricFamily(
            "kubemaint_etcd_compactions",
            "Watches restarted after a compaction.",
            value=_number(etcd.get("compactions")),
        )
        yield GaugeMetricFamily(
            "kubemaint_in_flight_requests", "Requests being served.", value=float(manager.in_flight.count)
        )
        healthy = GaugeMetricFamily(
            "kubemaint_handler_healthy", "1 while a handler is healthy.", labels=["handler"]
        )
        for name, ok in manager.handler_health().items():
            healthy.add_metric([name], 1.0 if ok else 0.0)
        yield healthy
        pool = self._pool.stats()
        figures = GaugeMetricFamily(
            "kubemaint_db_pool_connections", "Database pool figures, by figure.", labels=["figure"]
        )
        for figure in _POOL_FIGURES:
            figures.add_metric([figure], _number(pool.get(figure)))
        yield figures
        mode = GaugeMetricFamily("kubemaint_db_pool_mode", "1 for the pool's current mode.", labels=["mode"])
        for name in ("normal", "maintenance", "read-only", "closed"):
            mode.add_metric([name], 1.0 if pool.get("mode") == name else 0.0)
        yield mode
        yield GaugeMetricFamily(
            "users_service_schema_ready", "1 once the users table exists.", value=float(self._schema_ready())
        )
