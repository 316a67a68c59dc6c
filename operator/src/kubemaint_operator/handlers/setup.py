"""Operator start-up and shutdown: settings, clients and kopf's own settings; the liveness probe."""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
from pathlib import Path
from typing import Any

import kopf

from kubemaint_operator.etcd_clients import EtcdClients
from kubemaint_operator.kube import COMPONENT, GROUP, KubeClient, describe_api_error
from kubemaint_operator.notifications import Notifier
from kubemaint_operator.peering_check import PeeringWatch, missing_message
from kubemaint_operator.runtime import OperatorRuntime, runtime_of
from kubemaint_operator.settings import ConfigurationError, OperatorSettings, load_settings
from kubemaint_operator.stand_in import StandIns

FINALIZER = f"{GROUP}/finalizer"


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: Any, logger: kopf.Logger, **_: Any) -> None:
    """Build the runtime once; a bad variable stops the operator with one clear line."""
    config = getattr(memo, "settings", None)
    if not isinstance(config, OperatorSettings):
        try:
            config = load_settings()
        except ConfigurationError as exc:
            raise kopf.PermanentError(f"invalid configuration: {exc}") from None
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.level = logging.WARNING  # kopf's own events: handler failures only
    settings.posting.reporting_component = COMPONENT  # the operator's transition Events (kopf.event)
    settings.posting.reporting_instance = socket.gethostname()
    settings.scanning.disabled = True  # least privilege: no cluster-wide CRD or namespace watching
    settings.peering.lifetime = config.peering_lifetime
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    kube = await KubeClient.connect()
    material = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="kubemaint-operator-"))
    etcd = EtcdClients(config.etcd_config(), kube, material)
    runtime = OperatorRuntime(settings=config, kube=kube, etcd=etcd)
    if not config.standalone:
        runtime.peering = PeeringWatch(
            lambda: _peering_exists(kube, config.peering_name, config.namespaces),
            missing_message(config.peering_name, config.namespaces),
        )
        runtime.peering.start()
    if config.notify_webhook_url and config.notify_webhook_secret is not None:
        secret = config.notify_webhook_secret.get_secret_value().encode()
        runtime.notifier = Notifier(config.notify_webhook_url, secret)
        runtime.notifier.start()
    if config.responder_service:
        runtime.stand_ins = StandIns(kube, config.responder_service, config.responder_port_range)
        try:
            await runtime.stand_ins.sweep()
        except Exception as exc:  # the garbage collector still removes a stand-in whose owners are gone
            logger.warning("cannot sweep the stand-in EndpointSlices: %s", describe_api_error(exc))
    memo.runtime = runtime
    logger.info(
        "kubemaint operator started: etcd %s, prefix %s, %s",
        config.etcd_endpoints,
        config.maintenance_prefix,
        ", ".join(config.namespaces) if config.namespaces else "all namespaces",
    )


@kopf.on.cleanup()
async def stop(memo: Any, **_: Any) -> None:
    runtime = getattr(memo, "runtime", None)
    if isinstance(runtime, OperatorRuntime):
        await runtime.close()


async def _peering_exists(kube: KubeClient, name: str, namespaces: tuple[str, ...]) -> bool:
    if not namespaces:
        return await kube.peering_exists(name, None)
    found = await asyncio.gather(*(kube.peering_exists(name, namespace) for namespace in namespaces))
    return all(found)


@kopf.on.probe(id="peering")
def peering(memo: Any, **_: Any) -> str:
    """Liveness detail: ``ok``, ``standalone``, or what is missing (the replica then handles nothing)."""
    watch = runtime_of(memo).peering
    if watch is None:
        return "standalone"
    return watch.problem or "ok"


@kopf.on.probe(id="objects")
def objects(memo: Any, **_: Any) -> int:
    """Liveness detail: how many Maintenance objects this replica follows (one daemon each)."""
    return len(runtime_of(memo).wakeups)
