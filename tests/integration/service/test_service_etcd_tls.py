"""The ``users-service`` process against an etcd that serves TLS only and demands client certificates
(ETCD_ENDPOINTS=https://..., ETCD_CA_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from kubemaint_devstack.etcd import EtcdServer

from tests.support.polling import eventually_async


def tls_env(server: EtcdServer) -> dict[str, str]:
    return {
        "ETCD_ENDPOINTS": server.endpoint,
        "ETCD_CA_FILE": str(server.ca_file),
        "ETCD_CERT_FILE": str(server.client_cert_file),
        "ETCD_KEY_FILE": str(server.client_key_file),
    }


def acks(server: EtcdServer, key: str) -> list[dict[str, object]]:
    lines = server.etcdctl("get", "--prefix", "--print-value-only", f"{key}/acks/").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


async def test_a_put_over_tls_flips_the_process_to_503_and_back(
    start_process: Callable[..., Any],
    etcd_tls: EtcdServer,
    unique_key: str,
) -> None:
    assert etcd_tls.endpoint.startswith("https://")
    service = start_process(**tls_env(etcd_tls))
    service.wait_ready("/readyz", timeout=60)
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        maintenance = (await client.get("/stats")).json()["maintenance"]
        assert maintenance["connected"] is True, maintenance
        assert maintenance["source"] == "etcd"
        assert (await client.get("/users")).status_code == 200
        await eventually_async(
            lambda: acks(etcd_tls, unique_key)
        )  # written over TLS, under a kept-alive lease

        on = etcd_tls.put(
            unique_key, json.dumps({"enabled": True, "reason": "tls maintenance", "retryAfter": 90})
        )

        async def refused() -> bool:
            return (await client.get("/users")).status_code == 503

        await eventually_async(refused)
        response = await client.get("/users")
        assert response.headers["retry-after"] == "90"
        assert response.headers["x-maintenance"] == "on"
        assert response.json()["reason"] == "tls maintenance"
        assert (await client.get("/stats")).json()["maintenance"]["revision"] == on
        await eventually_async(
            lambda: any(a["revision"] == on and a["maintenance"] for a in acks(etcd_tls, unique_key))
        )

        off = etcd_tls.put(unique_key, "off")

        async def served() -> bool:
            return (await client.get("/users")).status_code == 200

        await eventually_async(served)
        assert (await client.get("/users")).headers["x-maintenance"] == "off"
        assert (await client.get("/stats")).json()["maintenance"]["revision"] == off
    assert "Traceback" not in service.log()


async def test_without_its_client_certificate_the_process_says_why_it_is_not_connected(
    start_process: Callable[..., Any], etcd_tls: EtcdServer
) -> None:
    env = tls_env(etcd_tls)
    del env["ETCD_CERT_FILE"], env["ETCD_KEY_FILE"]
    service = start_process(**env)
    service.wait_ready("/livez", timeout=60)  # starts without etcd, as MAINTENANCE_ON_ETCD_LOSS says
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        maintenance = (await client.get("/stats")).json()["maintenance"]
    assert maintenance["connected"] is False
    assert maintenance["source"] != "etcd"
    # grpc's words for the server's "certificate required" alert: "Unwrap failed (TSI_DATA_CORRUPTED)"
    assert re.search(r"(?i)handshake|certificate|TSI_|SSL", str(maintenance["etcd"]["lastError"])), (
        maintenance
    )
