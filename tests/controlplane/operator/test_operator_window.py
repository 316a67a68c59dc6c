"""A window a few seconds ahead: Scheduled, then Active at its start, then Completed at its end. The key is
written ahead with the window's ``start`` and ``until``, so nothing is written at the start: every replica
opens the window by itself."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from kube_support import Kube, OperatorProcess, maintenance
from kubemaint_devstack.etcd import EtcdServer

from tests.support.polling import eventually


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_window_goes_scheduled_active_completed_on_time(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now + timedelta(seconds=6), now + timedelta(seconds=12)
    kube.apply(
        maintenance("nightly", namespace, service_name, window={"start": _stamp(start), "end": _stamp(end)})
    )

    scheduled = kube.wait_phase(namespace, "nightly", "Scheduled", 5)
    assert kube.condition(scheduled, "Ready") == "True"
    assert datetime.now(UTC) < start, "the test machine was too slow to see the Scheduled phase"
    ahead = eventually(lambda: json.loads(etcd.get(key) or "{}"), 5, "the window written ahead")
    assert (ahead["enabled"], ahead["start"], ahead["until"]) == (True, _stamp(start), _stamp(end))
    written = etcd.mod_revision(key)

    active = kube.wait_phase(namespace, "nightly", "Active", 6 + 5)
    seen_active = datetime.now(UTC)
    assert seen_active >= start, "active before the window opened"
    print(f"Active {(seen_active - start).total_seconds():.2f} s after the start")
    value = json.loads(etcd.get(key) or "{}")
    assert (value["enabled"], value["start"], value["until"]) == (True, _stamp(start), _stamp(end))
    assert etcd.mod_revision(key) == written, "no write at the boundary"
    assert active["status"]["activeSince"] >= _stamp(start)

    kube.wait_phase(namespace, "nightly", "Completed", 6 + 5)
    seen_done = datetime.now(UTC)
    assert seen_done >= end
    print(f"Completed {(seen_done - end).total_seconds():.2f} s after the end")
    eventually(
        lambda: json.loads(etcd.get(key) or "{}").get("enabled") is False, 5, "key off after the window"
    )
    time.sleep(1.5)
    final = kube.maintenance(namespace, "nightly")
    assert final is not None
    assert final["status"]["phase"] == "Completed", "stays Completed"
