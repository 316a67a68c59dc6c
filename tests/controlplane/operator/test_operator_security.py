"""Credentials stay home: a ``spec.etcd.secretRef`` Secret is used only for endpoints its owner approved.

A Maintenance author names the endpoints and the Secret; only the Secret's owner, who can annotate it,
decides where its credentials may go (``kubemaint.io/etcd-endpoints``). The "server of the author's choosing"
here is a TCP listener on loopback that records every connection and byte it receives.
"""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from kube_support import Kube, OperatorProcess, maintenance
from kubemaint_devstack.etcd import EtcdServer

from tests.support.polling import eventually

APPROVAL = "kubemaint.io/etcd-endpoints"


class Recorder:
    """Accepts TCP connections on 127.0.0.1 and keeps everything sent to it, answering nothing; each
    connection is held open for ``hold`` seconds (an etcd that never answers)."""

    def __init__(self, hold: float = 5.0) -> None:
        self._hold = hold
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = int(self._socket.getsockname()[1])
        self.connections = 0
        self.received = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        deadline = time.monotonic() + self._hold
        with conn:
            while time.monotonic() < deadline and not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                with self._lock:
                    self.received += chunk

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def _etcd_synced(obj: dict[str, object] | None) -> tuple[str, str, str] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:  # type: ignore[attr-defined]
        if item.get("type") == "EtcdSynced":
            return str(item.get("status")), str(item.get("reason")), str(item.get("message"))
    return None


def _secret(namespace: str, password: str, approved: str | None) -> dict[str, object]:
    metadata: dict[str, object] = {"name": "creds", "namespace": namespace}
    if approved is not None:
        metadata["annotations"] = {APPROVAL: approved}
    data = {
        "username": base64.b64encode(b"team").decode(),
        "password": base64.b64encode(password.encode()).decode(),
    }
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": data}


def test_a_secret_goes_only_to_endpoints_its_owner_approved(
    kube: Kube, recorder: Recorder, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    password = f"pw-{secrets.token_hex(8)}"
    kube.apply(
        _secret(namespace, password, approved=None),
        maintenance("m", namespace, service_name,
                    etcd={"endpoints": [recorder.endpoint], "secretRef": {"name": "creds"}}),
    )  # fmt: skip
    refused = eventually(
        lambda: (o := kube.maintenance(namespace, "m")) and (_etcd_synced(o) or ("",))[0] == "False" and o,
        30,
        "the object refused",
    )
    _, reason, message = _etcd_synced(refused) or ("", "", "")
    assert reason == "SecretNotApproved", message
    assert APPROVAL in message, "the status says how the Secret's owner approves an endpoint"
    assert refused["status"]["phase"] == "Failed"

    # Approval for another server is no approval for this one.
    kube.apply(_secret(namespace, password, approved="http://etcd.elsewhere:2379"))
    eventually(
        lambda: (
            recorder.endpoint.removeprefix("http://")
            in ((_etcd_synced(kube.maintenance(namespace, "m")) or ("", "", ""))[2])
        ),
        30,
        "the refusal names the endpoint not approved",
    )
    time.sleep(5)  # two resyncs (RESYNC_SECONDS=2): the operator retried and refused again
    assert recorder.connections == 0, "no connection was opened to an endpoint the Secret does not approve"
    assert password.encode() not in recorder.received

    # The control: once the owner approves this endpoint the operator does connect there, so the recorder
    # would have seen it above.
    kube.apply(_secret(namespace, password, approved=recorder.endpoint))
    eventually(lambda: recorder.connections > 0, 30, "the operator connects once approved")

    # Withdrawn again: the object is refused once more and, being refused, can be deleted (its finalizer
    # does not wait for an etcd it may no longer write).
    kube.kubectl("annotate", "secret", "creds", "-n", namespace, f"{APPROVAL}-")
    kube.kubectl("delete", "maint", "m", "-n", namespace, "--timeout=60s")
    kube.wait_gone(namespace, "m", 30)


def test_an_etcd_that_never_answers_holds_up_only_its_own_objects(
    kube: Kube,
    etcd: EtcdServer,
    start_operator: Callable[..., OperatorProcess],
    namespace: str,
    service_name: str,
) -> None:
    silent = Recorder(hold=90)
    try:
        # Logins wait up to ETCD_TIMEOUT. Before each etcd had its own lock, one login that never got an
        # answer held the one lock of every etcd client, and so every other object, for that long.
        start_operator(ETCD_TIMEOUT="30")
        kube.apply(
            _secret(namespace, "pw", approved=silent.endpoint),
            maintenance("stuck", namespace, service_name,
                        etcd={"endpoints": [silent.endpoint], "secretRef": {"name": "creds"}}),
        )  # fmt: skip
        eventually(lambda: silent.connections > 0, 30, "a login to the silent etcd under way")
        other = f"{service_name}-free"
        kube.apply(maintenance("free", namespace, other))
        started = time.monotonic()
        eventually(lambda: etcd.get(f"/maintenance/{other}"), 10, "the other object's key during the login")
        print(f"key of the other object written {time.monotonic() - started:.2f} s after its apply")
        assert kube.wait_phase(namespace, "free", "Active")
    finally:
        # Withdrawing the approval makes the stuck object a refused one, which its finalizer lets go.
        kube.kubectl("annotate", "secret", "creds", "-n", namespace, f"{APPROVAL}-")
        silent.close()
        kube.kubectl("delete", "maint", "stuck", "-n", namespace, "--timeout=90s")
