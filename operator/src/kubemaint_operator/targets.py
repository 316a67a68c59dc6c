"""Which etcd and which key a Maintenance writes (pure).

Objects are merged per target, that is per (etcd, key). With the default settings the key is
``<prefix>/<service>``, so this is DESIGN.md's merge per service; objects in two namespaces that name the
same service on the same etcd share that key, so they are merged too rather than overwrite each other.

"The same etcd" is decided on endpoints normalised by the library's own parser
(:func:`kubemaint.client.parse_endpoints`): scheme, host case, order and repeats do not matter, and an
object without ``spec.etcd`` names the operator's own endpoints. So ``127.0.0.1:2379`` in one object and
no ``spec.etcd`` in another (with ``ETCD_ENDPOINTS=http://127.0.0.1:2379``) are one key and one merge.
Host names are not resolved: ``localhost`` and ``127.0.0.1`` are different etcds to the operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubemaint.client import Endpoint, parse_endpoints
from kubemaint.state import key_for

from kubemaint_operator.model import MaintenanceObject

__all__ = ["EtcdTarget", "servers_of", "target_of"]


@dataclass(frozen=True, slots=True)
class EtcdTarget:
    """One etcd key: ``endpoints`` empty means the operator's own etcd (``ETCD_ENDPOINTS``, its settings).

    ``endpoints`` are normalised (``http://host:port``). ``servers`` names the etcd for merging: the sorted
    ``host:port`` addresses. ``secret`` is the (namespace, name) of the Secret holding TLS material or
    credentials for ``endpoints``; it is how to connect, not part of the key's identity.
    """

    endpoints: tuple[str, ...]
    key: str
    secret: tuple[str, str] | None = None
    servers: str = "default"

    @property
    def identity(self) -> str:
        """A stable string naming the key: objects with the same identity are merged."""
        return f"{self.servers}|{self.key}"


def servers_of(endpoints: Sequence[Endpoint]) -> str:
    """The etcd that ``endpoints`` name, as one string: sorted ``host:port`` addresses."""
    return ",".join(sorted({endpoint.address for endpoint in endpoints}))


def target_of(obj: MaintenanceObject, prefix: str, own: Sequence[Endpoint]) -> EtcdTarget:
    """``spec.etcd`` if given, else the operator's etcd (``own``); ``spec.etcd.key``, else
    ``<prefix>/<service>``. Endpoints that name the operator's own etcd, without a Secret, are the
    operator's own target (its own connection settings), so they merge with objects without ``spec.etcd``.
    """
    override = obj.spec.etcd
    key = key_for(obj.spec.service, prefix)
    own_servers = servers_of(own)
    if override is None:
        return EtcdTarget(endpoints=(), key=key, servers=own_servers)
    key = override.key or key
    if not override.endpoints:
        return EtcdTarget(endpoints=(), key=key, servers=own_servers)
    parsed = parse_endpoints(override.endpoints)  # valid: MaintenanceSpec.from_dict checked them
    servers = servers_of(parsed)
    secret = (obj.namespace, override.secret_name) if override.secret_name else None
    if servers == own_servers and secret is None:
        return EtcdTarget(endpoints=(), key=key, servers=own_servers)
    return EtcdTarget(endpoints=tuple(str(e) for e in parsed), key=key, secret=secret, servers=servers)
