"""Finding the dev stack's binaries, and the control plane's generated PKI."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubemaint_devstack.pki import ensure_pki
from kubemaint_devstack.tools import MissingToolError, find_tool


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBEMAINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    return tmp_path


def test_path_wins_over_the_cache_by_default(cache: Path) -> None:
    on_path = _exe(cache / "path" / "helm")
    in_cache = _exe(cache / "cache" / "bin" / "helm")
    assert find_tool("helm") == on_path
    assert find_tool("helm", prefer_cache=True) == in_cache


def test_cache_is_used_when_path_lacks_the_tool(cache: Path) -> None:
    in_cache = _exe(cache / "cache" / "bin" / "kube-apiserver")
    assert find_tool("kube-apiserver") == in_cache


@pytest.mark.parametrize(
    ("tool", "hint"),
    [("kube-controller-manager", "scripts/build-tools.sh k8s"), ("etcdctl", "scripts/build-tools.sh etcd")],
)
def test_missing_tool_names_the_install_command(cache: Path, tool: str, hint: str) -> None:
    with pytest.raises(MissingToolError, match=f"^{hint}$"):
        find_tool(tool)


def test_pki_issues_what_the_control_plane_needs(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    ca = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())

    def load(name: str) -> x509.Certificate:
        cert = x509.load_pem_x509_certificate(pki.crt(name).read_bytes())
        cert.verify_directly_issued_by(ca)
        return cert

    serving = load("apiserver")
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage

    admin = load("admin").subject
    assert admin.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubemaint-admin"
    assert admin.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    manager = load("controller-manager").subject
    assert manager.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-controller-manager"
    assert pki.sa_key.stat().st_mode & 0o077 == 0
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)


def test_pki_is_kept_across_calls(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path / "pki").ca_file.read_bytes()
    assert ensure_pki(tmp_path / "pki").ca_file.read_bytes() == first
