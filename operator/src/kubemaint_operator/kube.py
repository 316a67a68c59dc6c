"""The operator's own asynchronous Kubernetes client (kubernetes_asyncio).

kopf watches the Maintenance objects, keeps their finalizers and posts their Events; this client does the
rest: pod status patches (the readiness gate), the Maintenance status (its daemon publishes it, see
:mod:`kubemaint_operator.handlers.follow`), kopf's peering object check, reading the Secret named by
``spec.etcd.secretRef``, and the stand-in EndpointSlices (:mod:`kubemaint_operator.stand_in`).
Everything is awaited on the operator's loop; nothing blocks it.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubemaint.client import describe_error
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

__all__ = ["GROUP", "PLURAL", "REQUEST_TIMEOUT", "VERSION", "KubeClient", "SecretData", "describe_api_error"]

Json = dict[str, Any]

log = logging.getLogger(__name__)

GROUP = "kubemaint.io"
VERSION = "v1alpha1"
PLURAL = "maintenances"
COMPONENT = "kubemaint-operator"
REQUEST_TIMEOUT = 10.0
"""Seconds any one API call may take (kubernetes_asyncio's own default is 300 s). Calls run under an
object's lock, so a hung call must fail soon and be retried rather than stall that object for minutes."""


def describe_api_error(exc: BaseException) -> str:
    """One line for a failed API call: the status and reason, or that it timed out (never the headers
    and body an ApiException carries)."""
    if isinstance(exc, ApiException):
        return f"the API server answered {exc.status} {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "the API server did not answer in time"
    return describe_error(exc)


@dataclass(frozen=True, slots=True)
class SecretData:
    """What the operator reads of a Secret: its annotations (the owner's approval) and its data."""

    annotations: Mapping[str, str]
    data: Mapping[str, bytes]


class KubeClient:
    """A thin typed wrapper over kubernetes_asyncio's API client."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)
        self._discovery = client.DiscoveryV1Api(api)

    @classmethod
    async def connect(cls) -> KubeClient:
        """In a pod: its ServiceAccount; elsewhere: ``KUBECONFIG`` (or ``~/.kube/config``)."""
        configuration = client.Configuration()
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
            )
        return cls(client.ApiClient(configuration))

    async def close(self) -> None:
        await self._api.close()

    async def patch_pod_status(self, namespace: str, name: str, body: Mapping[str, Any]) -> bool:
        """Strategic-merge patch of ``pods/status``; False when the pod is gone."""
        try:
            await self._core.patch_namespaced_pod_status(
                name, namespace, dict(body), _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def patch_maintenance_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
        """Merge patch of ``maintenances/status``; False when the object is gone."""
        try:
            await self._custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": dict(status)},
                # kubernetes_asyncio honours _content_type; its stubs do not list it. A dict body would
                # otherwise be sent as a JSON patch, which custom objects refuse for this shape.
                _content_type="application/merge-patch+json",  # type: ignore[call-arg]
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def peering_exists(self, name: str, namespace: str | None) -> bool:
        """Whether kopf's peering object exists: ``ClusterKopfPeering``, or ``KopfPeering`` in ``namespace``.

        A filtered ``list`` (kopf's own verb on them), not a ``get``; a missing CRD counts as missing.
        """
        selector = f"metadata.name={name}"
        try:
            if namespace is None:
                found = await self._custom.list_cluster_custom_object(
                    "kopf.dev", "v1", "clusterkopfpeerings", field_selector=selector,
                    _request_timeout=REQUEST_TIMEOUT,
                )  # fmt: skip
            else:
                found = await self._custom.list_namespaced_custom_object(
                    "kopf.dev", "v1", namespace, "kopfpeerings", field_selector=selector,
                    _request_timeout=REQUEST_TIMEOUT,
                )  # fmt: skip
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return bool(found.get("items"))

    async def read_secret(self, namespace: str, name: str) -> SecretData:
        """One Secret's annotations and decoded data (``get`` only: the operator never lists Secrets)."""
        secret = await self._core.read_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        data: dict[str, str] = secret.data or {}
        annotations: dict[str, str] = (secret.metadata.annotations if secret.metadata else None) or {}
        return SecretData(
            annotations=dict(annotations),
            data={key: base64.b64decode(value) for key, value in data.items()},
        )

    async def list_services(self, namespace: str) -> list[Json]:
        """The Services of ``namespace`` as plain JSON."""
        found = await self._core.list_namespaced_service(namespace, _request_timeout=REQUEST_TIMEOUT)
        return list(self._plain(found).get("items") or [])

    async def list_endpoint_slices(self, namespace: str | None, label_selector: str) -> list[Json]:
        """EndpointSlices matching ``label_selector``, in ``namespace`` or (None) every namespace."""
        if namespace is None:
            return (await self.list_endpoint_slices_at(label_selector))[0]
        found = await self._discovery.list_namespaced_endpoint_slice(
            namespace, label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT
        )
        return list(self._plain(found).get("items") or [])

    async def list_endpoint_slices_at(self, label_selector: str) -> tuple[list[Json], str]:
        """Every namespace's EndpointSlices matching ``label_selector``, and the list's resourceVersion
        (where a watch of them starts)."""
        found = self._plain(
            await self._discovery.list_endpoint_slice_for_all_namespaces(
                label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT
            )
        )
        return list(found.get("items") or []), str((found.get("metadata") or {}).get("resourceVersion") or "")

    async def watch_endpoint_slices(
        self, label_selector: str, resource_version: str, seconds: int
    ) -> AsyncIterator[tuple[str, Json]]:
        """The changes to those slices after ``resource_version``, for ``seconds`` (then it ends)."""
        stream = watch.Watch()
        try:
            async for event in stream.stream(
                self._discovery.list_endpoint_slice_for_all_namespaces,
                label_selector=label_selector,
                resource_version=resource_version,
                timeout_seconds=seconds,
                _request_timeout=seconds + REQUEST_TIMEOUT,
            ):
                if event["type"] in {"ADDED", "MODIFIED", "DELETED"}:
                    yield str(event["type"]), dict(event["raw_object"])
        finally:
            stream.stop()
            await stream.close()

    async def put_endpoint_slice(self, body: Json) -> None:
        """Create the slice, or replace it when one of that name exists."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        try:
            await self._discovery.create_namespaced_endpoint_slice(
                namespace,
                body,  # type: ignore[arg-type]  # kubernetes_asyncio sends a plain dict as it is
                _request_timeout=REQUEST_TIMEOUT,
            )
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
        current = await self._discovery.read_namespaced_endpoint_slice(
            name, namespace, _request_timeout=REQUEST_TIMEOUT
        )
        replacement = {
            **body,
            "metadata": {**body["metadata"], "resourceVersion": current.metadata.resource_version},
        }
        await self._discovery.replace_namespaced_endpoint_slice(
            name,
            namespace,
            replacement,  # type: ignore[arg-type]  # as above
            _request_timeout=REQUEST_TIMEOUT,
        )

    async def delete_endpoint_slice(self, namespace: str, name: str) -> None:
        """Delete the slice; one that is gone already is fine."""
        try:
            await self._discovery.delete_namespaced_endpoint_slice(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def maintenance_uids(self, namespace: str) -> set[str]:
        """The uids of the Maintenance objects in ``namespace``."""
        found = await self._custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT
        )
        return {str(item["metadata"]["uid"]) for item in found.get("items") or []}

    def _plain(self, model: object) -> Json:
        plain: Json = self._api.sanitize_for_serialization(model)
        return plain
