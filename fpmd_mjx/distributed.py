"""Several processes (hosts) in one sweep, on JAX's own multi-controller runtime.

``jax.distributed.initialize`` joins the processes; the sweep's mesh then spans every
device of every process and each program's run axis is sharded over all of them. Runs
never communicate, so the only exchanges are the coordination service's key-value
store (a sign of life at every chunk boundary, :meth:`Distributed.sync`) and the small
gathers and collective checkpoint saves of :mod:`fpmd_mjx.runner`.
"""
from __future__ import annotations

import contextlib
import dataclasses

from fpmd_mjx.config import ConfigError


class PeerLost(RuntimeError):
    """Another process of a multi-process sweep stopped responding (one-line message)."""


@dataclasses.dataclass
class Distributed:
    """The job's processes (``jax.distributed``): none for a one-process sweep.

    Runs never communicate; processes only exchange a sign of life through the
    coordination service's key-value store at every chunk boundary (:meth:`sync`), so
    a dead process is named within ``peer_timeout`` seconds instead of leaving the
    others waiting at a collective forever."""

    coordinator: str | None = None
    num_processes: int = 1
    process_id: int = 0
    peer_timeout: float = 120.0
    _round: int = 0
    _stop: object = None
    _beater: object = None

    @classmethod
    def from_args(cls, coordinator, num_processes, process_id, peer_timeout: float = 120.0) -> Distributed:
        """Validated settings (one-line ConfigError)."""
        if not coordinator:
            if num_processes not in (None, 1) or process_id not in (None, 0):
                raise ConfigError("--num-processes/--process-id need --coordinator HOST:PORT (or "
                                  "JAX_COORDINATOR_ADDRESS)")
            return cls(peer_timeout=peer_timeout)
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--coordinator {coordinator!r}: expected HOST:PORT")
        if num_processes is None or num_processes < 1:
            raise ConfigError(f"--num-processes must be >= 1 with --coordinator, got {num_processes}")
        if process_id is None or not 0 <= process_id < num_processes:
            raise ConfigError(f"--process-id {process_id} out of range; valid: 0..{num_processes - 1}")
        if peer_timeout <= 0:
            raise ConfigError(f"--peer-timeout must be > 0, got {peer_timeout}")
        return cls(coordinator, num_processes, process_id, peer_timeout)

    def initialize(self) -> None:
        """``jax.distributed.initialize`` (before any other JAX call) and this process's
        heartbeat. ConfigError when the coordinator cannot be reached within
        ``peer_timeout`` seconds, or the job is not complete within max(``peer_timeout``,
        300) seconds (processes on several hosts are rarely started at the same moment)."""
        if not self.coordinator:
            return
        import socket
        import time

        import jax

        host, port = self.coordinator.rsplit(":", 1)
        if self.process_id != 0:  # the runtime aborts the process on an unreachable coordinator: look first
            deadline = time.time() + self.peer_timeout
            while True:
                try:
                    socket.create_connection((host, int(port)), timeout=1.0).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise ConfigError(f"process {self.process_id}: cannot join the job at coordinator "
                                          f"{self.coordinator} within {self.peer_timeout:g} s (nothing listens "
                                          f"there)") from None
                    time.sleep(0.5)
        # a lost peer must not abort the survivors from inside the runtime: sync() names it
        jax.config.update("jax_enable_recoverability", True)
        try:  # jax's own heartbeat outlasts ours, so a lost peer is reported by sync() first
            jax.distributed.initialize(self.coordinator, self.num_processes, self.process_id,
                                       initialization_timeout=max(int(self.peer_timeout), 300),
                                       heartbeat_timeout_seconds=int(3 * self.peer_timeout) + 10,
                                       shutdown_timeout_seconds=int(3 * self.peer_timeout) + 10)
        except Exception as e:  # noqa: BLE001 - the runtime raises several types
            raise ConfigError(f"process {self.process_id}: cannot join the job at coordinator {self.coordinator} "
                              f"within {self.peer_timeout:g} s ({type(e).__name__})") from None
        self._beat(self._client())

    @staticmethod
    def _client():
        """The coordination service's client (JAX keeps it private; orbax reads it the same way)."""
        from jax._src import distributed

        return distributed.global_state.client

    def _beat(self, client) -> None:
        """Background sign of life (every second, also while this process compiles)."""
        import threading

        def loop():
            n = 0
            while not self._stop.wait(0 if n == 0 else 1.0):
                n += 1
                try:
                    client.key_value_set(f"fpmd_mjx/beat/{self.process_id}", str(n), allow_overwrite=True)
                except Exception:  # noqa: BLE001 - the coordinator is gone; sync() reports it
                    return

        self._stop = threading.Event()
        self._beater = threading.Thread(target=loop, daemon=True)
        self._beater.start()

    def sync(self) -> None:
        """Publish this process's progress and wait for every other process to reach the
        same point; PeerLost names the first one whose heartbeat stopped for
        ``peer_timeout`` seconds (a peer that is still compiling keeps beating)."""
        if not self.coordinator or self.num_processes == 1:
            return
        client = self._client()
        self._round += 1
        client.key_value_set(f"fpmd_mjx/alive/{self._round}/{self.process_id}", "1")
        for p in range(self.num_processes):
            if p != self.process_id:
                self._watch([p], until=f"fpmd_mjx/alive/{self._round}/{p}")

    def lost_peer(self) -> str | None:
        """After a failed exchange (a collective or a checkpoint barrier): the one-line
        PeerLost message for a process whose heartbeat has stopped, or None when every
        other process still beats (the failure was something else). Takes at most
        ``peer_timeout`` seconds."""
        if not self.coordinator or self.num_processes == 1:
            return None
        try:
            self._watch([p for p in range(self.num_processes) if p != self.process_id])
        except PeerLost as e:
            return str(e)
        return None

    def _watch(self, peers: list, until: str | None = None) -> None:
        """Wait until the key ``until`` appears (None: until every peer has beaten once
        more); PeerLost for the first peer without a new heartbeat for ``peer_timeout`` s."""
        import time

        client = self._client()
        start = time.time()
        last, seen = {p: None for p in peers}, {p: start for p in peers}
        fresh = set()
        while True:
            if until is not None:
                with contextlib.suppress(Exception):  # not there yet, or the coordinator is gone
                    client.blocking_key_value_get(until, 1000)
                    return
            else:
                time.sleep(0.5)
            for p in peers:
                try:
                    beat = client.key_value_try_get(f"fpmd_mjx/beat/{p}")
                except Exception:  # noqa: BLE001 - no beat yet, or the coordinator is gone
                    beat = None
                if beat is not None and beat != last[p]:
                    if last[p] is not None:
                        fresh.add(p)
                    last[p], seen[p] = beat, time.time()
                elif time.time() - seen[p] > self.peer_timeout:
                    who = f"process {p}" + (" (the coordinator)" if p == 0 else "")
                    raise PeerLost(f"{who} of {self.num_processes} stopped responding "
                                   f"(no sign of life for {self.peer_timeout:g} s)")
            if until is None and fresh == set(peers):
                return

    def shutdown(self) -> None:
        """Leave the job together. With recoverable tasks the runtime's own shutdown has
        no barrier, and process 0 hosts the coordination service: were it to stop the
        service while another process is still disconnecting, that process would be
        aborted. So the others leave first and process 0 waits (at most
        ``peer_timeout`` seconds) until they are gone."""
        if not self.coordinator:
            return
        import time

        import jax

        self.sync()  # every process has finished its work
        if self._stop is not None:
            self._stop.set()
            self._beater.join()
        if self.process_id == 0 and self.num_processes > 1:
            client, others = self._client(), list(range(1, self.num_processes))
            deadline = time.time() + self.peer_timeout
            while time.time() < deadline and set(client.get_live_nodes([0, *others])) & set(others):
                time.sleep(0.05)
        jax.distributed.shutdown()
