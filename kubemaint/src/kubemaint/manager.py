"""Manager: turns the values an EtcdSource reports into transitions of one replica, one at a time.

* Entering (or switching mode): stop admitting at once (:attr:`Manager.state` changes first), wait for the
  requests in flight to finish (all of them in ``full`` mode, writes in ``read-only``; at most
  ``drain_timeout``), then call every handler's ``on_start``. Leaving: every handler's ``on_end`` first
  (restore the pool), then admit again.
* Transitions run in one task: while one is in progress newer values only replace the target, and the
  latest wins (a drain is cut short when the target stops needing it).
* ``until`` is enforced by a timer, so a maintenance ends on time without an etcd event. The manager is
  the one place that decides the state in force (expiry included, through
  :func:`~kubemaint.policy.target_state`): :attr:`Manager.state` is what it admits, and at ``until`` it
  stays in force until every handler has restored, so requests are admitted only after the pool is back
  (DESIGN: restore, then admit). The middleware and :func:`~kubemaint.admission.decide` take it as given.
* After each transition has taken effect the replica acknowledges at ``<key>/acks/<instance>`` under a
  kept-alive lease (:class:`~kubemaint.ack_publisher.AckPublisher`). When the drain timed out the ack says
  ``drained: false``; the replica keeps waiting for the requests in flight in the background (at most
  ``late_drain_timeout``, until the next transition or stop) and acknowledges again with ``drained: true``.
* Losing etcd follows :class:`~kubemaint.policy.LossPolicy`; a malformed value keeps the last good state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from kubemaint.ack_publisher import AckPublisher
from kubemaint.acks import Ack, ack_key
from kubemaint.client import EtcdConfig
from kubemaint.handler import Handler, safe_health, safe_stats
from kubemaint.inflight import InFlight
from kubemaint.policy import LossPolicy, Target, Transition, next_deadline, target_state, transition_between
from kubemaint.source import EtcdSource, Observation
from kubemaint.state import OFF, MaintenanceState, Mode, format_time
from kubemaint.tasks import cancel_and_wait

__all__ = ["Manager", "ManagerConfig", "default_instance", "start_with_etcd"]

log = logging.getLogger(__name__)


def default_instance() -> str:
    """A replica name: ``POD_NAME`` when set, else ``<hostname>-<pid>``."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ManagerConfig:
    """What a Manager follows and how it behaves. ``key`` is the full key, e.g. ``/maintenance/users``."""

    key: str
    etcd: EtcdConfig
    instance: str
    drain_timeout: float = 30.0
    on_etcd_loss: LossPolicy = LossPolicy.LAST_KNOWN
    loss_grace: float = 10.0
    ack_ttl: int = 10
    start_timeout: float = 10.0
    acknowledge: bool = True
    watchdog_interval: float = 1.0
    late_drain_timeout: float = 600.0


class Manager:
    """One replica's maintenance state, handlers and acknowledgement."""

    def __init__(self, config: ManagerConfig) -> None:
        self.config = config
        self.in_flight = InFlight()
        self.transitions = 0
        self.last_error: str | None = None
        self._handlers: list[Handler] = []
        self._known: MaintenanceState | None = None
        self._known_revision = 0
        self._admitted: MaintenanceState = OFF
        self._applied: MaintenanceState = OFF
        self._origin = "none"
        self._connected = False
        self._disconnected_at: float | None = None
        self._wake = asyncio.Event()
        self._recheck = False
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._etcd = EtcdSource(
            config.etcd,
            config.key,
            self._observed,
            self._connection_changed,
            watchdog_interval=config.watchdog_interval,
        )
        self._acks = (
            AckPublisher(config.etcd, ack_key(config.key, config.instance), ttl=config.ack_ttl)
            if config.acknowledge
            else None
        )
        self._acked: tuple[int, bool, Mode | None, bool] | None = None
        self._drained = True
        self._late_drain: asyncio.Task[None] | None = None

    def register(self, handler: Handler) -> None:
        """Add a handler; call before :meth:`start`."""
        self._handlers.append(handler)

    @property
    def handlers(self) -> Sequence[Handler]:
        return tuple(self._handlers)

    @property
    def state(self) -> MaintenanceState:
        """The state enforced now, as the manager decided it: past ``until`` it turns off once the
        handlers have restored (a few milliseconds after ``until``), never before."""
        return self._admitted

    @property
    def revision(self) -> int:
        """Mod revision of the last good value read from etcd (0: none yet or the key never existed)."""
        return self._known_revision

    @property
    def source(self) -> str:
        """Where :attr:`state` comes from: ``etcd``, ``last-known``, ``loss-policy`` or ``none``."""
        return self._origin

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def etcd(self) -> EtcdSource:
        return self._etcd

    def handler_health(self) -> dict[str, bool]:
        """Each handler's health by name; a ``health()`` that raises counts as unhealthy (and is logged)."""
        return {handler.name: safe_health(handler) for handler in self._handlers}

    def healthy(self) -> bool:
        """Every handler healthy (etcd trouble is not unhealthiness: the loss policy covers it)."""
        return all(self.handler_health().values())

    async def start(self) -> None:
        """Read the key (up to ``start_timeout``) and apply it before returning: a replica started during
        maintenance starts in it. Without etcd it starts as the loss policy says."""
        if self._task is not None:
            return
        self._disconnected_at = asyncio.get_running_loop().time()
        self._etcd.start()
        if self._acks is not None:
            self._acks.start()
        if not await self._etcd.wait_first(self.config.start_timeout):
            log.warning(
                "could not read %s within %.0f s; starting with the %s policy",
                self.config.key,
                self.config.start_timeout,
                self.config.on_etcd_loss.value,
            )
        self._task = asyncio.create_task(self._loop(), name=f"maintenance-manager {self.config.key}")
        await self._ready.wait()

    async def stop(self) -> None:
        """Stop following etcd and remove this replica's acknowledgement. Handlers are left as they are."""
        task, self._task = self._task, None
        for running in (task, self._late_drain):
            await cancel_and_wait(running)
        self._late_drain = None
        await self._etcd.stop()
        if self._acks is not None:
            await self._acks.stop()

    async def __aenter__(self) -> Manager:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def stats(self) -> dict[str, object]:
        """JSON-ready figures for ``/stats``."""
        state = self.state
        return {
            "maintenance": state.enabled,
            "mode": state.mode.value if state.enabled else None,
            "label": state.label,
            "reason": state.reason,
            "until": format_time(state.until) if state.until else None,
            "revision": self._known_revision,
            "source": self._origin,
            "connected": self._connected,
            "policy": self.config.on_etcd_loss.value,
            "instance": self.config.instance,
            "transitions": self.transitions,
            "inFlight": self.in_flight.count,
            "lastError": self.last_error,
            "etcd": self._etcd.stats(),
            "ack": self._acks.stats() if self._acks is not None else None,
            "handlers": {
                handler.name: {"healthy": safe_health(handler), **safe_stats(handler)}
                for handler in self._handlers
            },
        }

    def _observed(self, observation: Observation) -> None:
        if observation.state is None:
            self.last_error = f"malformed value at revision {observation.revision}: {observation.error}"
            return
        self._known = observation.state
        self._known_revision = observation.revision
        self._wake.set()

    def _connection_changed(self, connected: bool) -> None:
        self._connected = connected
        self._disconnected_at = None if connected else asyncio.get_running_loop().time()
        self._wake.set()

    def _disconnected_for(self) -> float | None:
        if self._disconnected_at is None:
            return None
        return asyncio.get_running_loop().time() - self._disconnected_at

    def _target(self) -> Target:
        return target_state(
            self._known,
            now=datetime.now(UTC),
            connected=self._connected,
            disconnected_for=self._disconnected_for(),
            policy=self.config.on_etcd_loss,
            grace=self.config.loss_grace,
        )

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._apply(self._target())
            except Exception as exc:
                self.last_error = f"transition failed: {exc}"
                log.exception("maintenance transition failed")
            self._ready.set()
            if self._wake.is_set() or self._recheck:
                self._recheck = False
                continue
            timeout = next_deadline(
                self._admitted,
                now=datetime.now(UTC),
                connected=self._connected,
                disconnected_for=self._disconnected_for(),
                policy=self.config.on_etcd_loss,
                grace=self.config.loss_grace,
                known=self._known,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if timeout is None else timeout + 0.01):
                    await self._wake.wait()

    async def _apply(self, target: Target) -> None:
        kind = transition_between(self._applied, target.state)
        self._origin = target.origin
        if kind in (Transition.ENTER, Transition.SWITCH, Transition.LEAVE):
            self._cancel_late_drain()
        if kind in (Transition.ENTER, Transition.SWITCH):
            self._admitted = target.state
            log.info("entering maintenance (%s): draining", target.state.label)
            drained = await self._drain(target.state)
            if self._wake.is_set() and not self._still_wanted(target.state):
                return  # superseded while draining: the loop applies the newer target
            self._drained = drained
            for handler in self._handlers:
                await self._call(handler, "on_start", target.state)
        elif kind is Transition.LEAVE:
            log.info("leaving maintenance")
            for handler in reversed(self._handlers):
                await self._call(handler, "on_end", target.state)
            self._admitted = target.state
            self._drained = True
        else:
            self._admitted = target.state
        self._applied = target.state
        if kind in (Transition.ENTER, Transition.SWITCH, Transition.LEAVE):
            self.transitions += 1
            log.info("maintenance is now %s (revision %d)", target.state.label, self._known_revision)
        self._acknowledge(self._known_revision)
        if not self._drained and self._late_drain is None and self._acks is not None:
            self._late_drain = asyncio.create_task(
                self._finish_drain(self._applied), name=f"late drain {self.config.key}"
            )

    async def _finish_drain(self, state: MaintenanceState) -> None:
        """After a timed-out drain: once the requests in flight are done, acknowledge ``drained: true``."""
        try:
            writes_only = state.mode is Mode.READ_ONLY
            if not await self.in_flight.wait_idle(self.config.late_drain_timeout, writes_only=writes_only):
                log.warning("requests still in flight %.0f s after the drain", self.config.late_drain_timeout)
                return
            if self._acked is None:  # a transition would have cancelled this task
                return
            log.info("requests in flight finished after the drain timeout: drained")
            self._drained = True
            self._acknowledge(self._acked[0])
        finally:
            if self._late_drain is asyncio.current_task():
                self._late_drain = None

    def _cancel_late_drain(self) -> None:
        task, self._late_drain = self._late_drain, None
        if task is not None:
            task.cancel()

    async def _drain(self, state: MaintenanceState) -> bool:
        """Wait for in-flight requests; stop early when a newer target no longer needs this drain."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.drain_timeout
        writes_only = state.mode is Mode.READ_ONLY
        while True:
            remaining = deadline - loop.time()
            idle = asyncio.ensure_future(
                self.in_flight.wait_idle(max(0.0, remaining), writes_only=writes_only)
            )
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({idle, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
                idle.cancel()
            if idle.done() and not idle.cancelled():
                if not idle.result():
                    self.last_error = (
                        f"drain timed out after {self.config.drain_timeout:.0f} s "
                        f"with {self.in_flight.count} request(s) in flight"
                    )
                    log.warning("%s; continuing", self.last_error)
                    return False
                return True
            if not self._still_wanted(state):
                return False
            self._admitted = self._target().state  # e.g. a new reason: clients see it at once
            self._recheck = True  # and the loop applies it fully once this transition is done
            self._wake.clear()

    async def reapply(self, handler: Handler) -> None:
        """Bring ``handler`` to the state already applied to every handler: for one whose resource came
        up after that transition (a pool opened once the database answered). ``on_start`` in maintenance,
        nothing otherwise; a failure is recorded like a transition's."""
        if self._applied.enabled:
            await self._call(handler, "on_start", self._applied)

    def _still_wanted(self, state: MaintenanceState) -> bool:
        target = self._target().state
        return target.enabled and target.mode is state.mode

    async def _call(self, handler: Handler, method: str, state: MaintenanceState) -> None:
        try:
            await getattr(handler, method)(state)
        except Exception as exc:
            self.last_error = f"handler {handler.name} {method} failed: {exc}"
            log.exception("handler %s %s failed", handler.name, method)

    def _acknowledge(self, revision: int) -> None:
        if self._acks is None:
            return
        state = self._applied
        marker = (revision, state.enabled, state.mode if state.enabled else None, self._drained)
        if marker == self._acked:
            return
        self._acked = marker
        self._acks.publish(
            Ack.of(
                self.config.instance,
                revision,
                state,
                in_flight=self.in_flight.count,
                drained=self._drained,
                source=self._origin,
                at=datetime.now(UTC),
            )
        )


async def start_with_etcd(
    endpoints: str | EtcdConfig,
    key: str,
    *handlers: Handler,
    instance: str | None = None,
    **options: object,
) -> Manager:
    """One call, like GoMaint's ``StartWithEtcd``: configure, register ``handlers``, start, return.

    ``options`` are :class:`ManagerConfig` fields (``drain_timeout=...``, ``on_etcd_loss=...``).
    """
    etcd = endpoints if isinstance(endpoints, EtcdConfig) else EtcdConfig.from_endpoints(endpoints)
    config = ManagerConfig(key=key, etcd=etcd, instance=instance or default_instance(), **options)  # type: ignore[arg-type]
    manager = Manager(config)
    for handler in handlers:
        manager.register(handler)
    await manager.start()
    return manager
