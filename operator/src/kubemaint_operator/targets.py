"""Which etcd and which key a Maintenance writes (pure).

Objects are merged per target, that is per (etcd, key). With the default settings the key is
``<prefix>/<service>``, so this is DESIGN.md's merge per service; objects in two namespaces that name the
same service on the same etcd share that key, so they are merged too rather than overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemaint_operator.model import MaintenanceObject

__all__ = ["EtcdTarget", "target_of"]


@dataclass(frozen=True, slots=True)
class EtcdTarget:
    """One etcd key: ``endpoints`` empty means the operator's own etcd (``ETCD_ENDPOINTS``).

    ``secret`` is the (namespace, name) of the Secret holding TLS material or credentials for
    ``endpoints``; it is how to connect, not part of the key's identity.
    """

    endpoints: tuple[str, ...]
    key: str
    secret: tuple[str, str] | None = None

    @property
    def identity(self) -> str:
        """A stable string naming the key: objects with the same identity are merged."""
        where = ",".join(self.endpoints) if self.endpoints else "default"
        return f"{where}|{self.key}"


def target_of(obj: MaintenanceObject, prefix: str) -> EtcdTarget:
    """``spec.etcd`` if given, else the operator's etcd; ``spec.etcd.key``, else ``<prefix>/<service>``."""
    override = obj.spec.etcd
    key = f"{prefix.rstrip('/')}/{obj.spec.service}"
    if override is None:
        return EtcdTarget(endpoints=(), key=key)
    secret = (obj.namespace, override.secret_name) if override.secret_name and override.endpoints else None
    return EtcdTarget(endpoints=override.endpoints, key=override.key or key, secret=secret)
