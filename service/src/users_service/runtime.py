"""Everything one running service holds, built from :class:`Settings` in :func:`create_app` and started
and stopped by the app's lifespan: the maintenance manager, the pool handler, the repository, the metrics.

Nothing here connects anywhere when built; :meth:`ServiceRuntime.start` does, inside the running loop.
"""

from __future__ import annotations

import logging

from kubemaint.manager import Manager, ManagerConfig, default_instance
from kubemaint.pgpool import PoolHandler
from kubemaint.policy import LossPolicy
from prometheus_client import CollectorRegistry

from users_service.bootstrap import Bootstrap
from users_service.database import Database
from users_service.maintenance_metrics import MaintenanceCollector
from users_service.repository import UserRepository
from users_service.request_metrics import RequestMetrics
from users_service.settings import Settings

__all__ = ["ServiceRuntime"]

log = logging.getLogger(__name__)


class ServiceRuntime:
    """The service's long-lived parts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.instance = settings.instance_name or default_instance()
        self.manager = Manager(
            ManagerConfig(
                key=settings.key,
                etcd=settings.etcd_config(),
                instance=self.instance,
                drain_timeout=settings.drain_timeout,
                on_etcd_loss=LossPolicy(settings.maintenance_on_etcd_loss),
                loss_grace=settings.maintenance_loss_grace,
            )
        )
        self.pool = PoolHandler(
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            maintenance_max=settings.db_pool_maintenance_max,
            readonly_max=settings.db_pool_readonly_max,
            retire_timeout=max(settings.drain_timeout, 1.0),
            **settings.database_params,
            timeout=5.0,
            server_settings={"application_name": f"{settings.service_name}/{self.instance}"[:63]},
        )
        self.manager.register(self.pool)
        self.database = Database(self.pool)
        self.bootstrap = Bootstrap(
            self.database, seed=settings.seed_sample_data, after_open=lambda: self.manager.reapply(self.pool)
        )
        self.users = UserRepository(self.database)
        self.registry = CollectorRegistry()
        self.request_metrics = RequestMetrics(self.registry)
        self.registry.register(
            MaintenanceCollector(self.manager, self.pool, lambda: self.bootstrap.schema_ready)
        )

    @property
    def schema_ready(self) -> bool:
        return self.bootstrap.schema_ready

    async def start(self) -> None:
        """Open the pool and create the schema (or keep trying), then read the maintenance key."""
        await self.bootstrap.start()
        await self.manager.start()
        state = self.manager.state
        log.info(
            "users-service started: instance %s, key %s, maintenance %s (source %s, revision %d)",
            self.instance,
            self.settings.key,
            state.label,
            self.manager.source,
            self.manager.revision,
        )

    async def stop(self) -> None:
        """Stop following etcd (the ack goes), then close the pool."""
        await self.manager.stop()
        await self.bootstrap.stop()
        await self.database.close()
        log.info("users-service stopped: pool closed")

    def stats(self) -> dict[str, object]:
        maintenance = self.manager.stats()
        return {
            "service": self.settings.service_name,
            "instance": self.instance,
            "key": self.settings.key,
            "maintenance": maintenance,
            "pool": self.pool.stats(),
            "inFlight": self.manager.in_flight.count,
            "transitions": self.manager.transitions,
            "schemaReady": self.bootstrap.schema_ready,
            "databaseError": self.bootstrap.last_error,
        }
