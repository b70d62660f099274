"""The supervisor: forks the workers, the policy source and the console, keeps them running, and
drains them on SIGTERM. It never imports a bundle and never exits because of what a request or
a rule did.

- A worker that dies is replaced, with a backoff that grows while replacements keep dying
  young; the server never gives up. A worker whose event loop stops beating (a rule stuck where
  no signal reaches it) is killed after `stall_limit`, shorter than the webhook timeout.
- A worker that dies or stalls while a rule runs names that rule (its slot holds the rule's
  index): a rule that ends its worker twice with the same policy version is quarantined
  (`quarantine.json`; the workers answer it by its `on_error` without running it) until a new
  version is published.
- The policy source (a directory or ConfigMaps) runs in a process of its own and publishes
  versions into the run directory; every worker follows what it publishes. So does the audit
  (`serve --audit-interval`), which writes reports once per cluster.
- Exits, restarts and quarantined rules are logged, reported in `supervisor.json` (shown by
  /readyz) and counted in the metrics.

The listening socket is bound before anything is forked (a taken port fails at start), and every
worker accepts from it (see `worker.listening_socket` for why not SO_REUSEPORT).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import select
import signal
import socket
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from admit.server.config import ServerConfig
from admit.server.state import NO_RULE, SERVING, Slots, WorkerSlot, read_report, write_report
from admit.server.worker import StoreFactory, run_worker

log = logging.getLogger("admit.supervisor")
YOUNG = 10.0  # a replacement that dies sooner than this makes the next one wait longer
MAX_BACKOFF = 10.0
QUARANTINE_AFTER = 2  # deaths of a worker in the same rule, with the same policy version


@dataclass
class _Child:
    role: str  # "worker", "source", "console" or "audit"
    slot: int = -1
    started: float = 0.0


class Supervisor:
    def __init__(
        self,
        config: ServerConfig,
        sock: socket.socket,
        policies: StoreFactory,
        *,
        worker: Callable[..., None] = run_worker,
        source: Callable[[], None] | None = None,
        cluster_factory: Callable[[], Any] | None = None,
        console: Callable[[], None] | None = None,
        audit: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.sock = sock
        self.policies = policies
        self.worker = worker
        self.source = source
        self.cluster_factory = cluster_factory
        self.console = console
        self.audit = audit
        self.run_dir = config.run_dir
        self.stall_limit = config.stall_limit
        self.slots = Slots(config.workers)
        self.children: dict[int, _Child] = {}
        self.pending: dict[tuple[str, int], float] = {}  # (role, slot) -> when to start it
        self.failures: Counter[tuple[str, int]] = Counter()  # young deaths in a row
        self.stopping = False
        self.exits: Counter[str] = Counter()  # by reason, for the metrics
        self.recent: deque[dict[str, Any]] = deque(maxlen=20)
        self.deaths: Counter[tuple[str, str]] = Counter()  # (digest, rule) -> worker deaths
        self.quarantine: dict[str, int] = {}  # rule -> deaths, for `quarantine_digest`
        self.quarantine_digest = ""
        self._stalled: set[int] = set()
        self._told: set[int] = set()  # children sent SIGTERM

    # --- starting children -------------------------------------------------------------------
    def _fork(self, role: str, slot: int, body: Callable[[], None]) -> None:
        if role == "worker":
            self.slots.reset(slot)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # until a worker listens for it
                if role != "worker":
                    self.sock.close()  # only workers accept webhook connections
                body()
            except BaseException:
                log.exception("%s %d failed", role, os.getpid())
                code = 1
            finally:
                os._exit(code)
        self.children[pid] = _Child(role, slot, time.monotonic())
        if role == "worker":
            self.slots[slot].pid = pid
        log.info("%s %d started%s", role, pid, f" (slot {slot})" if slot >= 0 else "")

    def _start(self, role: str, slot: int = -1) -> None:
        if role == "worker":
            own = WorkerSlot(self.slots[slot])
            self._fork(
                role,
                slot,
                lambda: self.worker(
                    self.config, self.policies, self.sock, self.slots, own, self.cluster_factory
                ),
            )
        elif role == "source" and self.source is not None:
            self._fork(role, slot, self.source)
        elif role == "console" and self.console is not None:
            self._fork(role, slot, self.console)
        elif role == "audit" and self.audit is not None:
            self._fork(role, slot, self.audit)

    def _start_due(self) -> None:
        now = time.monotonic()
        for (role, slot), when in list(self.pending.items()):
            if when <= now:
                del self.pending[(role, slot)]
                self._start(role, slot)

    # --- children that end ---------------------------------------------------------------------
    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            if self.stopping:
                log.info("%s %d stopped (%s)", child.role, pid, _describe(status))
                continue
            self._ended(pid, child, status)

    def _ended(self, pid: int, child: _Child, status: int) -> None:
        reason = "stalled" if pid in self._stalled else _describe(status)
        self._stalled.discard(pid)
        lived = time.monotonic() - child.started
        entry: dict[str, Any] = {"time": time.time(), "role": child.role, "pid": pid}
        entry["reason"] = reason
        key = (child.role, child.slot)
        young = lived < YOUNG
        if child.role == "worker":
            slot = self.slots[child.slot]
            serving = slot.state == SERVING
            entry["slot"], entry["serving"] = child.slot, serving
            rule = self._running_rule(slot.digest.decode(), slot.rule)
            if rule is not None:
                entry["rule"] = rule
                self._blame(slot.digest.decode(), rule)
            young = young and (not serving or rule is None)
        self.failures[key] = self.failures[key] + 1 if young else 0
        delay = 0.0 if self.failures[key] <= 1 else min(MAX_BACKOFF, 0.1 * 2 ** self.failures[key])
        entry["restart_in"] = round(delay, 2)
        self.exits[f"{child.role}: {reason}"] += 1
        self.recent.append(entry)
        log.warning(
            "%s %d exited (%s)%s; starting another%s",
            child.role,
            pid,
            reason,
            f" while running rule {entry['rule']}" if "rule" in entry else "",
            f" in {delay:.1f}s" if delay else "",
        )
        self.pending[key] = time.monotonic() + delay
        self._report()

    def _running_rule(self, digest: str, index: int) -> str | None:
        """The key of the rule at `index` of the version `digest`, if that is the published one."""
        if index == NO_RULE:
            return None
        current = read_report(self.run_dir, "current") or {}
        rules = current.get("rules") or []
        if current.get("digest") != digest or not 0 <= index < len(rules):
            return None
        return str(rules[index])

    def _blame(self, digest: str, rule: str) -> None:
        self.deaths[(digest, rule)] += 1
        deaths = self.deaths[(digest, rule)]
        if deaths < QUARANTINE_AFTER:
            return
        if self.quarantine_digest != digest:
            self.quarantine_digest, self.quarantine = digest, {}
        self.quarantine[rule] = deaths
        log.error(
            "rule %s ended its worker %d times with policy version %s: quarantined; it is "
            "answered by its on_error without running until the bundle changes",
            rule,
            deaths,
            digest[:12],
        )
        if self.run_dir is not None:
            write_report(
                self.run_dir, "quarantine", {"digest": digest, "rules": dict(self.quarantine)}
            )
        for pid, child in self.children.items():  # look now, not at the next poll
            if child.role == "worker" and self.slots[child.slot].state == SERVING:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGUSR1)

    def _check_heartbeats(self) -> None:
        now = time.monotonic()
        for pid, child in list(self.children.items()):
            if child.role != "worker" or pid in self._stalled:
                continue
            silent = now - self.slots[child.slot].beat
            if silent > self.stall_limit:
                log.error(
                    "worker %d has not responded for %.1fs (a rule stuck outside Python?); "
                    "killing it: its requests in flight fail, and kube-apiserver applies the "
                    "webhook's failurePolicy to them",
                    pid,
                    silent,
                )
                self._stalled.add(pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    # --- reports -------------------------------------------------------------------------------
    def _report(self) -> None:
        """`supervisor.json` for /readyz, and this process's counters for /metrics."""
        report = {
            "pid": os.getpid(),
            "exits": dict(self.exits),
            "recent_exits": list(self.recent),
            "restarting": [
                {"role": role, "slot": slot, "in": round(max(0.0, when - time.monotonic()), 2)}
                for (role, slot), when in self.pending.items()
            ],
            "quarantine": {"digest": self.quarantine_digest, "rules": self.quarantine},
        }
        if self.run_dir is not None:
            write_report(self.run_dir, "supervisor", report)
        if self.config.metrics_dir is not None:
            write_report(
                self.config.metrics_dir,
                f"worker-{os.getpid()}",
                {
                    "pid": os.getpid(),
                    "bundle": "",
                    "exits": [[*reason.split(": ", 1), n] for reason, n in self.exits.items()],
                    "quarantined": [[rule, n] for rule, n in self.quarantine.items()],
                },
            )

    # --- stopping ------------------------------------------------------------------------------
    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("received %s: draining workers", signal.Signals(signum).name)
            self.stopping = True
            self.pending.clear()
            # Stop accepting first: the kernel completes handshakes for a listening socket as
            # long as any process holds it, and this copy is never accepted from. Held through
            # the drain, it queued new connections only to reset them at the end; closed, they
            # are refused at once once the workers close theirs.
            self.sock.close()

    def _signal_all(self, sig: int) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            self._told.add(pid)

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; returns the exit code (0)."""
        wake, woken = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
            signal.signal(signal.SIGCHLD, lambda signum, frame: None)
            signal.set_wakeup_fd(woken)  # a child that ends wakes the loop at once
            # What is imported and built so far lives as long as the server, in every process
            # forked from here: out of the collector's reach, its pages stay shared.
            gc.collect()
            gc.freeze()
            for slot in range(self.config.workers):
                self._start("worker", slot)
            self._start("source")
            self._start("console")
            self._start("audit")
            self._report()
            deadline: float | None = None
            while self.children or (self.pending and not self.stopping):
                self._reap()
                if self.stopping:
                    if self._told != set(self.children):  # also a child forked as it came
                        self._signal_all(signal.SIGTERM)
                    deadline = deadline or time.monotonic() + self.config.drain_timeout + 5
                    if time.monotonic() > deadline:
                        log.error("workers did not drain in time; killing them")
                        self._signal_all(signal.SIGKILL)
                else:
                    self._check_heartbeats()
                    self._start_due()
                if select.select([wake], [], [], 0.05)[0]:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake, 4096)
        finally:
            signal.set_wakeup_fd(-1)
            os.close(wake)
            os.close(woken)
            self.sock.close()
        log.info("stopped")
        return 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"

