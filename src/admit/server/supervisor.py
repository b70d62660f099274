"""The supervisor: forks the workers (after the bundle is loaded, so they share it), restarts one
that dies or whose event loop stops beating (a rule stuck where no signal reaches it), and
drains them all on SIGTERM. With a console, it also forks the console process (restarted when
it dies, never heartbeat-checked: it serves people, not the API server).

The supervisor binds the listening socket before forking, so a port already taken is an error
at start, and every worker accepts from it (see `worker.listening_socket` for why not
SO_REUSEPORT).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from admit.server.config import ServerConfig
from admit.server.policies import ClusterSource, PolicySource, WatchedSource
from admit.server.worker import listening_socket, run_worker

log = logging.getLogger("admit.supervisor")
_CRASH_WINDOW = 10.0  # a worker that dies this soon after starting counts towards a crash loop
_CRASH_LIMIT = 5


class Supervisor:
    def __init__(
        self,
        config: ServerConfig,
        policies: PolicySource,
        worker: Callable[..., None] = run_worker,
        cluster_factory: Callable[[], ClusterSource] | None = None,
        console: Callable[[], None] | None = None,
    ) -> None:
        self.cluster_factory = cluster_factory
        self.console = console
        self.console_pid: int | None = None
        self._console_started = 0.0
        self.config = config
        self.policies = policies
        self.worker = worker
        self.stall_limit = max(5.0, config.rule_timeout + 3.0) if config.rule_timeout else 30.0
        self.heartbeats: Any = multiprocessing.RawArray("d", config.workers)
        self.workers: dict[int, tuple[int, float]] = {}  # pid -> (slot, started)
        self.stopping = False
        self.crashes = 0
        self.sock: socket.socket | None = None
        self._next_refresh = 0.0

    def _spawn(self, slot: int) -> None:
        self.heartbeats[slot] = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                heartbeats = self.heartbeats

                def beat() -> None:
                    heartbeats[slot] = time.monotonic()

                assert self.sock is not None
                self.worker(self.config, self.policies, self.sock, beat, self.cluster_factory)
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        self.workers[pid] = (slot, time.monotonic())
        log.info("worker %d started (slot %d)", pid, slot)

    def _spawn_console(self) -> None:
        assert self.console is not None
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                if self.sock is not None:
                    self.sock.close()  # the console never accepts webhook connections
                self.console()
            except BaseException:
                log.exception("console %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        self.console_pid, self._console_started = pid, time.monotonic()
        log.info("console %d started", pid)

    def _console_exited(self, status: int) -> None:
        self.console_pid = None
        if self.stopping or self.console is None:
            return
        log.warning("console exited (%s); starting another", _describe(status))
        if time.monotonic() - self._console_started < _CRASH_WINDOW:
            time.sleep(1.0)  # a console that cannot start must not spin; the webhook goes on
        self._spawn_console()

    def _children(self) -> list[int]:
        return [*self.workers, *([self.console_pid] if self.console_pid else [])]

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("received %s: draining workers", signal.Signals(signum).name)
            self.stopping = True
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for pid in self._children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _reap(self) -> None:
        while self._children():
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.console_pid:
                self._console_exited(status)
                continue
            slot, started = self.workers.pop(pid, (-1, 0.0))
            if slot < 0 or self.stopping:
                continue
            log.warning("worker %d exited (%s); starting another", pid, _describe(status))
            if time.monotonic() - started < _CRASH_WINDOW:
                self.crashes += 1
                if self.crashes >= _CRASH_LIMIT:
                    log.error("workers keep dying right after start; giving up")
                    self.stopping = True
                    self._signal_all(signal.SIGTERM)
                    continue
                time.sleep(min(2.0, 0.1 * 2**self.crashes))
            else:
                self.crashes = 0
            self._spawn(slot)

    def _check_heartbeats(self) -> None:
        now = time.monotonic()
        for pid, (slot, _) in list(self.workers.items()):
            silent = now - self.heartbeats[slot]
            if silent > self.stall_limit:
                log.error(
                    "worker %d has not responded for %.1fs (a rule stuck outside Python?);"
                    " killing it",
                    pid,
                    silent,
                )
                self.heartbeats[slot] = now
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _refresh_policies(self) -> None:
        """Keep the supervisor's copy fresh too, so a restarted worker forks the newest set."""
        now = time.monotonic()
        if isinstance(self.policies, WatchedSource) and now >= self._next_refresh:
            self._next_refresh = now + 1.0
            try:
                self.policies.check()
            except Exception:
                log.exception("checking the bundle for changes failed")

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; returns the exit code."""
        self.sock = listening_socket(self.config.host, self.config.port)
        try:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
            for slot in range(self.config.workers):
                self._spawn(slot)
            if self.console is not None:
                self._spawn_console()
            deadline: float | None = None
            while self._children():
                self._reap()
                if self.stopping:
                    deadline = deadline or time.monotonic() + self.config.drain_timeout + 5
                    if time.monotonic() > deadline:
                        log.error("workers did not drain in time; killing them")
                        self._signal_all(signal.SIGKILL)
                else:
                    self._check_heartbeats()
                    self._refresh_policies()
                time.sleep(0.1)
        finally:
            self.sock.close()
        log.info("stopped")
        return 1 if self.crashes >= _CRASH_LIMIT else 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"
