"""The stand-in: while a maintenance gates every replica of a Service, an extra EndpointSlice of that
Service points at the maintenance responder (:mod:`kubemaint.responder`), so clients get the service's own
503 with ``Retry-After`` and reason instead of the ingress's bare one (``docs/DESIGN.md``, "The stand-in").

- **Where**: every Service of the object's namespace that selects pods carrying the gate, while the key's
  value is in force and all of those pods have it False, or are about to: a reconcile publishes it
  before it closes the gates. Decided for the key, not for one object, so objects that share a Service
  never disagree. After the maintenance it stays
  until the Service lists a replica back for good (at most :data:`LINGER_SECONDS`), answering "coming
  back".
- **The slice** ``<service>-kubemaint``: labels ``kubernetes.io/service-name`` (kube-proxy and ingress
  controllers read every slice of a Service) and ``endpointslice.kubernetes.io/managed-by:
  kubemaint.io`` (the EndpointSlice controller leaves it alone); the responder's ready pod addresses; one
  port per Service port, named as the Service's, all on the responder port given to this Service; the
  key and its value (the text written to etcd) as annotations, which the responder serves; owner
  references to the Maintenance objects of that key in that namespace, so the garbage collector removes
  it if they go without the operator.
- **Its end**: not when a pod's Ready turns True but once the Service's own slices (the EndpointSlice
  controller's) list an endpoint that is back for good (:class:`Comeback`). A pod Ready in its status is
  not yet an address kube-proxy knows, and a ready address listed just after a short maintenance may be
  the kubelet's answer to the gate before it closed, its Ready False still to come; removing the stand-in
  before either leaves the Service with no endpoint, and kube-proxy refuses connections to it. Its slices
  are listed every :data:`RETIRE_POLL_SECONDS` meanwhile.
- **Ports** are given out lowest first from ``RESPONDER_PORTS``; the slices themselves record them, so
  nothing else holds state. No port left: no stand-in, and a warning in the log.
- **Requests**: none while the key is off and nothing is published; while a stand-in may be needed, one
  list of the namespace's Services per reconcile. What this process published is remembered; a
  namespace's stand-ins are listed once when it begins to lead (another replica may have made them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubemaint_operator.gates import PodView
from kubemaint_operator.kube import GROUP, VERSION, Json, KubeClient, describe_api_error
from kubemaint_operator.model import MaintenanceObject

__all__ = [
    "KEY_ANNOTATION",
    "MANAGED_BY",
    "SERVICE_NAME",
    "VALUE_ANNOTATION",
    "Comeback",
    "StandIns",
    "build_slice",
    "every_pod_gated",
    "free_port",
    "ready_addresses",
    "service_pods",
    "slice_name",
]

log = logging.getLogger(__name__)

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "kubemaint.io"
KEY_ANNOTATION = f"{GROUP}/key"
VALUE_ANNOTATION = f"{GROUP}/value"
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
"""The label selector of every stand-in slice."""
LINGER_SECONDS = 60.0
"""How long a stand-in outlives its maintenance at most, while no replica is Ready yet."""
RETIRE_POLL_SECONDS = 0.2
"""How often the Service's own slices are listed while a stand-in waits for one of them to be ready."""
SETTLE_SECONDS = 5.0
"""How long an address must be ready in every look at the Service's own slices to count as back when they
never listed it not ready since the maintenance ended (a Deployment's ``minReadySeconds``, in effect)."""


def slice_name(service: str) -> str:
    return f"{service}-kubemaint"


def service_pods(service: Mapping[str, Any], pods: Iterable[PodView]) -> list[PodView]:
    """The pods (of those that carry the gate) that the Service selects; none for a Service without a
    selector (its endpoints are made by hand, and no gate takes them out)."""
    selector: Mapping[str, str] = (service.get("spec") or {}).get("selector") or {}
    return [pod for pod in pods if _selects(selector, pod)]


def _selects(selector: Mapping[str, str], pod: PodView) -> bool:
    """A Service's selector (a plain label map) picks ``pod``; an empty one picks nothing."""
    labels = dict(pod.labels)
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def every_pod_gated(pods: Sequence[PodView]) -> bool:
    """Whether ``pods`` are all gated out of their Service (and there is at least one)."""
    return bool(pods) and all(pod.serving is False for pod in pods)


def ready_addresses(slices: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The addresses of the ready endpoints of ``slices``, sorted (a missing ``ready`` counts as ready,
    as kube-proxy counts it)."""
    found = {
        address
        for item in slices
        for endpoint in item.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready") is not False
        for address in endpoint.get("addresses") or []
    }
    return tuple(sorted(found))


class Comeback:
    """Whether a Service is back for good after a maintenance, from successive looks at its own slices.

    An address is back once the slices list it ready after having listed it not ready in an earlier look:
    that Ready is the kubelet's answer to the opened gate. An address listed ready all along may still be
    its answer to the gate before it closed (a maintenance shorter than the kubelet's reaction), with its
    Ready False on the way; it counts only after :data:`SETTLE_SECONDS` ready in every look.
    """

    def __init__(self, settle: float = SETTLE_SECONDS) -> None:
        self.settle = settle
        self._was_unready: set[str] = set()
        self._ready_since: dict[str, float] = {}

    def back(self, slices: Iterable[Mapping[str, Any]], now: float) -> str | None:
        """Take one look (``slices`` as listed at ``now``, monotonic seconds): an address that is back
        and why, or None."""
        slices = list(slices)
        ready = set(ready_addresses(slices))
        self._was_unready |= {
            address
            for item in slices
            for endpoint in item.get("endpoints") or []
            for address in endpoint.get("addresses") or []
        } - ready
        self._ready_since = {address: self._ready_since.get(address, now) for address in ready}
        for address, since in sorted(self._ready_since.items()):
            if address in self._was_unready:
                return f"{address} ready again"
            if now - since >= self.settle:
                return f"{address} ready for {now - since:.0f} s"
        return None


def free_port(used: Iterable[int], ports: range) -> int | None:
    """The lowest port of ``ports`` not in ``used``."""
    taken = set(used)
    return next((port for port in ports if port not in taken), None)


def build_slice(
    service: Mapping[str, Any],
    port: int,
    addresses: Sequence[str],
    key: str,
    value: str,
    owners: Iterable[MaintenanceObject],
) -> Json:
    """The stand-in EndpointSlice of ``service``: every Service port on ``port`` of ``addresses``."""
    metadata = service["metadata"]
    ports = [
        {"name": item.get("name") or "", "port": port, "protocol": item.get("protocol") or "TCP"}
        for item in (service.get("spec") or {}).get("ports") or []
        if (item.get("protocol") or "TCP") == "TCP"
    ]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(metadata["name"]),
            "namespace": metadata["namespace"],
            "labels": {SERVICE_NAME: metadata["name"], MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {KEY_ANNOTATION: key, VALUE_ANNOTATION: value},
            "ownerReferences": [
                {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Maintenance", "name": obj.name, "uid": obj.uid}
                for obj in sorted(owners, key=lambda o: o.uid)
            ],
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}} for address in addresses],
        "ports": ports,
    }


def _port_of(item: Mapping[str, Any]) -> int | None:
    ports = item.get("ports") or []
    return int(ports[0]["port"]) if ports and ports[0].get("port") else None


@dataclass
class _Published:
    body: Json
    port: int
    key: str
    """The etcd key whose maintenance it stands in for."""
    selector: Mapping[str, str]
    """The Service's selector, to see a replica Ready again while the stand-in lingers."""
    ended: float | None = None
    """When the maintenance ended (monotonic seconds) while no replica was ready yet."""


class StandIns:
    """Publishes and removes the stand-in slices; one per process, shared by every object's daemon."""

    def __init__(self, kube: KubeClient, responder: str, ports: range) -> None:
        self.kube = kube
        self.responder_namespace, _, self.responder_service = responder.partition("/")
        self.ports = ports
        self._published: dict[tuple[str, str], _Published] = {}
        self._looked_up: set[str] = set()
        """The namespaces whose stand-ins this process has listed since it (last) began to lead."""
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._retiring: dict[tuple[str, str], asyncio.Task[None]] = {}
        """The stand-ins whose maintenance is over, each waiting for its Service to list a pod back."""

    def forget(self, namespace: str) -> None:
        """Look the namespace's stand-ins up again next time (an object's daemon stopped: another replica
        may lead now)."""
        self._looked_up.discard(namespace)

    async def sync(
        self,
        namespace: str,
        *,
        in_force: bool,
        pods: Sequence[PodView],
        key: str,
        value: str,
        owners: Iterable[MaintenanceObject],
    ) -> str | None:
        """Publish, update or remove the stand-ins of ``key`` in ``namespace``; an error, or None.

        A stand-in goes to every Service of the namespace that selects gated pods and all of whose gated
        pods are gated out (``pods``: the namespace's gated pods as they now stand). Once the maintenance
        ends it lingers, answering "coming back" (``Retry-After: 1``), until the Service's own slices list
        a replica back (:meth:`replica_ready`, :meth:`_retire`) or :data:`LINGER_SECONDS` have passed, so
        that clients never see the gap while the kubelet notices the opened gates. It lingers with no
        owner reference when the last Maintenance of the key is being deleted, whether its pods look
        Ready or not (the garbage collector would remove it with that object, before any replica is
        back); this process removes it, or the next one's start-up sweep.
        """
        try:
            async with self._lock:
                await self._look_up(namespace)
                mine = {
                    where
                    for where, item in self._published.items()
                    if where[0] == namespace and item.key == key
                }
                if not mine and not (in_force and any(pod.serving is False for pod in pods)):
                    return None  # the common case: no request at all
                errors = []
                services = await self.kube.list_services(namespace)
                for service in services:
                    where = (namespace, str(service["metadata"]["name"]))
                    chosen = service_pods(service, pods)
                    current = self._published.get(where)
                    if chosen and in_force and every_pod_gated(chosen):
                        errors.append(
                            await self._publish(where, service, key, value, list(owners), ended=None)
                        )
                        mine.discard(where)
                    elif current is not None and where in mine and chosen:
                        # Over: it says "coming back" and loses the owners being deleted (the garbage
                        # collector would remove it with them, under clients still sent to it).
                        ended = current.ended or time.monotonic()
                        if time.monotonic() - ended < LINGER_SECONDS:
                            if current.ended is None:
                                expiry = asyncio.create_task(self._expire(where, ended))
                                self._tasks.add(expiry)
                                expiry.add_done_callback(self._tasks.discard)
                            errors.append(
                                await self._publish(where, service, key, value, list(owners), ended=ended)
                            )
                            if any(p.ready for p in chosen):  # perhaps the kubelet's stale Ready
                                self._retire(where)
                            mine.discard(where)
                listed = {str(service["metadata"]["name"]) for service in services}
                for where in mine:  # lingered its time, selects no gated pod now, or its Service is gone
                    if where[1] in listed:
                        self._retire(where)
                    else:
                        await self._remove(where, "the Service is gone")
                return next((error for error in errors if error), None)
        except Exception as exc:
            return f"stand-ins of {key} in {namespace}: {describe_api_error(exc)}"

    def lingers_in(self, namespace: str) -> bool:
        """Whether a stand-in of ``namespace`` waits for a replica to be Ready again."""
        return any(
            where[0] == namespace and item.ended is not None for where, item in self._published.items()
        )

    async def replica_ready(self, pod: PodView) -> None:
        """A gated pod is Ready: the lingering stand-ins of the Services that select it go as soon as
        those Services list it (or another pod) as back for good."""
        async with self._lock:
            for where, item in list(self._published.items()):
                if where[0] == pod.namespace and item.ended is not None and _selects(item.selector, pod):
                    log.debug("stand-in of %s/%s: pod %s is Ready", *where, pod.name)
                    self._retire(where)

    def _retire(self, where: tuple[str, str]) -> None:
        """Remove the stand-in of ``where`` once its Service's own slices list an endpoint back for good
        (:class:`Comeback`; at the latest :data:`LINGER_SECONDS` from now); once is enough, a second call
        changes nothing."""
        if where in self._retiring:
            return
        log.info("the stand-in of Service %s/%s stays until the Service lists a replica back", *where)
        task = asyncio.create_task(self._retire_when_served(where))
        self._retiring[where] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retire_when_served(self, where: tuple[str, str]) -> None:
        deadline = time.monotonic() + LINGER_SECONDS
        selector = f"{SERVICE_NAME}={where[1]},{MANAGED_BY_LABEL}!={MANAGED_BY}"
        comeback = Comeback()
        why = f"no replica back within {LINGER_SECONDS:.0f} s"
        try:
            while time.monotonic() < deadline:
                try:
                    slices = await self.kube.list_endpoint_slices(where[0], selector)
                    back = comeback.back(slices, time.monotonic())
                    if back is not None:
                        why = back
                        break
                except Exception as exc:  # keep waiting: the deadline bounds it
                    log.debug("cannot list the slices of Service %s/%s: %s", *where, describe_api_error(exc))
                await asyncio.sleep(RETIRE_POLL_SECONDS)
            async with self._lock:
                if self._retiring.get(where) is asyncio.current_task():  # not kept meanwhile
                    await self._remove_quietly(where, f"the Service lists {why}")
        finally:
            if self._retiring.get(where) is asyncio.current_task():
                del self._retiring[where]

    def _keep(self, where: tuple[str, str]) -> None:
        """A maintenance is in force again: the stand-in of ``where`` stays."""
        task = self._retiring.pop(where, None)
        if task is not None:
            task.cancel()

    async def _expire(self, where: tuple[str, str], ended: float) -> None:
        await asyncio.sleep(LINGER_SECONDS)
        async with self._lock:
            item = self._published.get(where)
            if item is not None and item.ended == ended:
                await self._remove_quietly(where, f"{LINGER_SECONDS:.0f} s after its maintenance")

    async def _remove_quietly(self, where: tuple[str, str], why: str) -> None:
        try:
            await self._remove(where, why)
        except Exception as exc:  # the next sync or start-up sweep removes it
            log.warning("cannot remove the stand-in of Service %s/%s: %s", *where, describe_api_error(exc))

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def sweep(self) -> int:
        """At start-up: delete every stand-in none of whose owners exists any more (the garbage collector
        would too, but only for owner references it can resolve); return how many went. The daemons of
        the objects that exist decide about the rest."""
        removed = 0
        live: dict[str, set[str]] = {}
        for item in await self.kube.list_endpoint_slices(None, SELECTOR):
            metadata = item["metadata"]
            namespace = metadata["namespace"]
            if namespace not in live:
                live[namespace] = await self.kube.maintenance_uids(namespace)
            owners = {ref.get("uid") for ref in metadata.get("ownerReferences") or []}
            if not owners & live[namespace]:
                await self.kube.delete_endpoint_slice(namespace, metadata["name"])
                log.info(
                    "swept the stand-in EndpointSlice %s/%s: no Maintenance owns it",
                    namespace,
                    metadata["name"],
                )
                removed += 1
        return removed

    async def _look_up(self, namespace: str) -> None:
        if namespace in self._looked_up:
            return
        found = await self.kube.list_endpoint_slices(namespace, SELECTOR)
        for where in [where for where in self._published if where[0] == namespace]:
            del self._published[where]
        for item in found:
            metadata = item["metadata"]
            service = (metadata.get("labels") or {}).get(SERVICE_NAME)
            port = _port_of(item)
            if service and metadata["name"] == slice_name(service) and port is not None:
                key = (metadata.get("annotations") or {}).get(KEY_ANNOTATION, "")
                self._published[(namespace, service)] = _Published(body=item, port=port, key=key, selector={})
        self._looked_up.add(namespace)

    async def _remove(self, where: tuple[str, str], why: str) -> None:
        if self._published.pop(where, None) is not None:
            await self.kube.delete_endpoint_slice(where[0], slice_name(where[1]))
            log.info("removed the stand-in EndpointSlice of Service %s/%s: %s", *where, why)

    async def _publish(
        self,
        where: tuple[str, str],
        service: Json,
        key: str,
        value: str,
        owners: list[MaintenanceObject],
        *,
        ended: float | None,
    ) -> str | None:
        responder = await self.kube.list_endpoint_slices(
            self.responder_namespace, f"{SERVICE_NAME}={self.responder_service}"
        )
        addresses = ready_addresses(responder)
        if not addresses:
            await self._remove(where, "the responder has no ready pod")
            return (
                f"the responder Service {self.responder_namespace}/{self.responder_service} has no ready pod"
            )
        if ended is None:
            self._keep(where)
        current = self._published.get(where)
        port = current.port if current else await self._allocate()
        if port is None:
            return f"no free responder port in {self.ports.start}-{self.ports.stop - 1}"
        body = build_slice(service, port, addresses, key, value, owners)
        selector = dict((service.get("spec") or {}).get("selector") or {})
        if current is not None and _same(current.body, body):
            current.ended = ended
            return None
        await self.kube.put_endpoint_slice(body)
        self._published[where] = _Published(body=body, port=port, key=key, selector=selector, ended=ended)
        if current is None:
            log.info(
                "published the stand-in EndpointSlice of Service %s/%s on responder port %d", *where, port
            )
        return None

    async def _allocate(self) -> int | None:
        used = (_port_of(item) for item in await self.kube.list_endpoint_slices(None, SELECTOR))
        return free_port((port for port in used if port is not None), self.ports)


def _same(published: Json, wanted: Json) -> bool:
    """Whether a slice as stored already says what ``wanted`` says (the API server adds fields)."""
    a, b = published.get("metadata") or {}, wanted["metadata"]
    return (
        (a.get("labels") or {}) == b["labels"]
        and (a.get("annotations") or {}) == b["annotations"]
        and [(o.get("uid"), o.get("name")) for o in a.get("ownerReferences") or []]
        == [(o["uid"], o["name"]) for o in b["ownerReferences"]]
        and [tuple(e.get("addresses") or []) for e in published.get("endpoints") or []]
        == [tuple(e["addresses"]) for e in wanted["endpoints"]]
        and [(p.get("name") or "", p.get("port"), p.get("protocol")) for p in published.get("ports") or []]
        == [(p["name"], p["port"], p["protocol"]) for p in wanted["ports"]]
    )
