"""The gate writer's bookkeeping: one patch per pod however many deciders ask, none for a view that only
predates this writer's own patch, a bound on patches in flight, and failures that keep the old value.

The Kubernetes client is a recording stand-in here (this is the writer's pure logic); the real patches
are proven on the control plane (tests/controlplane/operator)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from kubemaint_operator.gates import GATE_TYPE, GateWriter, PodView
from kubemaint_operator.kube import KubeClient
from kubemaint_operator.model import MaintenanceObject

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class RecordingKube:
    """Answers pod patches after ``delay`` seconds; records them and the most in flight at once."""

    def __init__(self, delay: float = 0.01, gone: frozenset[str] = frozenset()) -> None:
        self.delay, self.gone = delay, gone
        self.patches: list[tuple[str, str]] = []
        self.in_flight = self.most_in_flight = 0
        self.fail: Exception | None = None

    async def patch_pod_status(self, namespace: str, name: str, body: Mapping[str, Any]) -> bool:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            (condition,) = body["status"]["conditions"]
            assert condition["type"] == GATE_TYPE
            self.patches.append((name, condition["status"]))
            return name not in self.gone
        finally:
            self.in_flight -= 1


def _writer(kube: RecordingKube, concurrency: int = 16) -> GateWriter:
    return GateWriter(cast(KubeClient, kube), concurrency)


def _pod(name: str, serving: bool | None = True, version: str = "1", app: str = "web") -> PodView:
    return PodView("shop", name, (("app.kubernetes.io/name", app),), serving, resource_version=version)


def _maintenance(name: str, service: str = "web") -> MaintenanceObject:
    return MaintenanceObject.from_body(
        {"metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}"}, "spec": {"service": service}}
    )


OBJECTS = [_maintenance(f"m{i}") for i in range(5)]


async def test_five_deciders_on_the_same_stale_views_patch_each_pod_once() -> None:
    kube = RecordingKube()
    writer = _writer(kube)
    pods = [_pod(f"p{i}") for i in range(15)]
    results = await asyncio.gather(*(writer.apply(pods, OBJECTS, NOW) for _ in OBJECTS))
    assert sorted(kube.patches) == sorted((pod.name, "False") for pod in pods)
    for serving, error in results:
        assert error is None
        assert serving == {pod.name: False for pod in pods}


async def test_a_view_that_predates_the_writers_patch_is_not_patched_again() -> None:
    kube = RecordingKube()
    writer = _writer(kube)
    await writer.apply([_pod("a")], OBJECTS, NOW)
    assert kube.patches == [("a", "False")]
    serving, _ = await writer.apply([_pod("a")], OBJECTS, NOW)  # the index has not caught up yet
    assert serving == {"a": False}
    assert kube.patches == [("a", "False")]
    assert writer.current(_pod("a", serving=False, version="2")) is False, "the index caught up"


async def test_a_newer_view_wins_over_what_the_writer_remembers() -> None:
    kube = RecordingKube()
    writer = _writer(kube)
    await writer.apply([_pod("a")], OBJECTS, NOW)
    # Someone set the condition back by hand after the writer's patch: the newer view is the truth.
    serving, _ = await writer.apply([_pod("a", serving=True, version="3")], OBJECTS, NOW)
    assert serving == {"a": False}
    assert kube.patches == [("a", "False"), ("a", "False")]


async def test_the_way_back_patches_over_a_value_the_writer_set() -> None:
    kube = RecordingKube()
    writer = _writer(kube)
    await writer.apply([_pod("a")], OBJECTS, NOW)
    serving, _ = await writer.apply([_pod("a")], [], NOW)  # every Maintenance gone, view still at "1"
    assert serving == {"a": True}
    assert kube.patches == [("a", "False"), ("a", "True")]


async def test_patches_in_flight_are_bounded() -> None:
    kube = RecordingKube(delay=0.02)
    writer = _writer(kube, concurrency=4)
    serving, error = await writer.apply([_pod(f"p{i}") for i in range(40)], OBJECTS, NOW)
    assert set(serving.values()) == {False}
    assert error is None
    assert len(kube.patches) == 40
    assert kube.most_in_flight == 4


async def test_a_failed_patch_keeps_the_old_value_and_says_why() -> None:
    kube = RecordingKube()
    kube.fail = TimeoutError()
    writer = _writer(kube)
    serving, error = await writer.apply([_pod("a"), _pod("new", serving=None)], OBJECTS, NOW)
    assert serving == {"a": True}, "a pod without the condition yet is left out"
    assert error is not None
    assert "the API server did not answer in time" in error
    kube.fail = None
    serving, error = await writer.apply([_pod("a")], OBJECTS, NOW)
    assert (serving, error) == ({"a": False}, None), "nothing was remembered of the failed patch"


async def test_a_pod_that_is_gone_is_left_out_and_forgotten() -> None:
    kube = RecordingKube(gone=frozenset({"gone"}))
    writer = _writer(kube)
    serving, error = await writer.apply([_pod("gone"), _pod("other", app="db")], OBJECTS, NOW)
    assert (serving, error) == ({"other": True}, None)
    assert kube.patches == [("gone", "False")], "the pod of another app was already right"
    writer.forget(_pod("other"))
    assert writer.current(_pod("other")) is True


def test_the_intended_values_are_what_apply_sets_and_patch_nothing() -> None:
    kube = RecordingKube()
    writer = _writer(kube)
    pods = [_pod("web-1"), _pod("web-2", serving=None), _pod("api-1", app="api")]
    intended = writer.intended(pods, OBJECTS, NOW)
    assert kube.patches == []
    assert intended == {"web-1": False, "web-2": False, "api-1": True}
    serving, error = asyncio.run(writer.apply(pods, OBJECTS, NOW))
    assert error is None
    assert serving == intended
