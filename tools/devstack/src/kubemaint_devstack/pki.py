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

_VALIDITY = datetime.timedelta(days=365)
APISERVER_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
APISERVER_IPS = ("127.0.0.1", "10.96.0.1")  # 10.96.0.1: first address of the service range


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
) -> None:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(_name(cn, orgs), ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(_key_usage(), critical=True)
    )
    if server:
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in APISERVER_DNS]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in APISERVER_IPS]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write(pki.crt(name), cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(pki.key(name), _key_pem(key), 0o600)


def ensure_pki(directory: Path) -> Pki:
    """Create the CA, the serving and client certificates and the service-account keys (kept if present).

    - ``apiserver``: serving certificate for 127.0.0.1, localhost and kubernetes.default.svc names;
    - ``admin``: client CN=kubemaint-admin, O=system:masters;
    - ``controller-manager``: client CN=system:kube-controller-manager;
    - ``service-account.key``/``.pub``: the token signing pair.
    """
    pki = Pki(directory)
    if pki.sa_pub.is_file():
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        _builder(_name("kubemaint-dev-ca"), _name("kubemaint-dev-ca"), ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(pki.key("ca"), _key_pem(ca_key), 0o600)
    ca = (ca_cert, ca_key)
    _issue(pki, "apiserver", ca, "kube-apiserver", server=True)
    _issue(pki, "admin", ca, "kubemaint-admin", orgs=["system:masters"])
    _issue(pki, "controller-manager", ca, "system:kube-controller-manager")
    sa = ec.generate_private_key(ec.SECP256R1())
    _write(pki.sa_key, _key_pem(sa), 0o600)
    pub = sa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write(pki.sa_pub, pub, 0o644)  # written last: its presence means the set is complete
    return pki
