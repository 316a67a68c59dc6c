"""The certificates and keys of the local control plane, generated with ``cryptography`` (ECDSA P-256)."""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .nodenet import NODE_IP, NODE_NAME

_VALIDITY = datetime.timedelta(days=365)
APISERVER_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
APISERVER_IPS = ("127.0.0.1", "10.96.0.1", NODE_IP)  # the service range's first address; the local node's
ETCD_SERVER_DNS = ("localhost",)
ETCD_SERVER_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class Pki:
    """Paths of every file the control plane needs, all under one folder."""

    directory: Path

    def crt(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    @property
    def ca_file(self) -> Path:
        return self.crt("ca")

    @property
    def sa_key(self) -> Path:
        return self.key("service-account")

    @property
    def sa_pub(self) -> Path:
        return self.directory / "service-account.pub"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str, orgs: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _key_usage(*, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    path.write_bytes(data)
    os.chmod(path, mode)


def _issue(
    pki: Pki,
    name: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    cn: str,
    *,
    orgs: Sequence[str] = (),
    server: bool = False,
    client: bool | None = None,
    dns: Sequence[str] = APISERVER_DNS,
    ips: Sequence[str] = APISERVER_IPS,
) -> None:
    """Issue ``name``.crt/.key. A serving certificate carries ``dns`` and ``ips`` as subject alternative
    names; ``client`` (default: not ``server``) adds the client-auth usage."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    client_auth = not server if client is None else client
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else []
    builder = (
        _builder(_name(cn, orgs), ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(_key_usage(), critical=True)
    )
    if server:
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write(pki.crt(name), cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(pki.key(name), _key_pem(key), 0o600)


def _new_ca(pki: Pki, cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA written as ca.crt/ca.key."""
    pki.directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        _builder(_name(cn), _name(cn), ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(pki.key("ca"), _key_pem(ca_key), 0o600)
    return ca_cert, ca_key


def ensure_pki(directory: Path) -> Pki:
    """Create the CA, the serving and client certificates and the service-account keys (kept if present).

    - ``apiserver``: serving certificate for 127.0.0.1, localhost and kubernetes.default.svc names;
    - ``admin``: client CN=kubemaint-admin, O=system:masters;
    - ``controller-manager``: client CN=system:kube-controller-manager;
    - ``scheduler``: client CN=system:kube-scheduler;
    - ``kubelet-client``: the API server's client certificate towards kubelets (O=system:masters);
    - ``node``: the local node's kubelet, CN=system:node:<name>, O=system:nodes (the Node authorizer);
    - ``kube-proxy``: client CN=system:kube-proxy;
    - ``coredns``: client CN=kubemaint:coredns (the node's DNS; RBAC from the node harness);
    - ``service-account.key``/``.pub``: the token signing pair.
    """
    pki = Pki(directory)
    if pki.sa_pub.is_file():
        _complete(pki)  # a folder made before a certificate was added to the set gets the new ones
        return pki
    ca = _new_ca(pki, "kubemaint-dev-ca")
    _issue(pki, "apiserver", ca, "kube-apiserver", server=True)
    for name, (cn, orgs) in _CLIENTS.items():
        _issue(pki, name, ca, cn, orgs=orgs)
    sa = ec.generate_private_key(ec.SECP256R1())
    _write(pki.sa_key, _key_pem(sa), 0o600)
    pub = sa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write(pki.sa_pub, pub, 0o644)  # written last: its presence means the set is complete
    return pki


_CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("kubemaint-admin", ("system:masters",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
    "node": (f"system:node:{NODE_NAME}", ("system:nodes",)),
    "kube-proxy": ("system:kube-proxy", ()),
    "coredns": ("kubemaint:coredns", ()),
}
"""The client certificates: file name -> (CN, O)."""


def _complete(pki: Pki) -> None:
    missing = [name for name in _CLIENTS if not pki.key(name).is_file()]
    if not missing:
        return
    ca_cert = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.key("ca").read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{pki.key('ca')}: not the EC key this module writes")
    for name in missing:
        cn, orgs = _CLIENTS[name]
        _issue(pki, name, (ca_cert, ca_key), cn, orgs=orgs)


def ensure_etcd_pki(directory: Path) -> Pki:
    """Create a CA and the certificates of a TLS etcd on 127.0.0.1 (kept if present).

    - ``server``: serving certificate for 127.0.0.1 and localhost; it carries the client-auth usage too,
      because etcd's own gRPC gateway presents it to the server when client certificates are required;
    - ``client``: client CN=kubemaint-etcd-client.
    """
    pki = Pki(directory)
    if pki.key("client").is_file():
        return pki
    ca = _new_ca(pki, "kubemaint-etcd-dev-ca")
    _issue(pki, "server", ca, "etcd", server=True, client=True, dns=ETCD_SERVER_DNS, ips=ETCD_SERVER_IPS)
    _issue(pki, "client", ca, "kubemaint-etcd-client")  # client.key written last: the set is complete
    return pki
