"""One worker process: the app on uvicorn (uvloop + httptools) accepting from the listening
socket it shares with the other workers, and the background chores (heartbeat to the
supervisor, following the published policy version, TLS reload, decision-log flush).

A worker defends itself against the rules it runs: what they print, and the decision log, go to
private copies of stdout and stderr (a rule that closes fd 1 cannot make the next accepted socket
receive log lines); a process a rule forks ends at once (it must never serve) and is reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
import uvloop

from admit import __version__
from admit.core.engine import PolicySet
from admit.server.app import AdmitApp
from admit.server.config import ServerConfig
from admit.server.connections import tls_http
from admit.server.data_api import DataAPI
from admit.server.decision_log import DecisionLog, new_decision_id
from admit.server.decision_upload import DecisionUploader
from admit.server.feed import FLUSH_EVERY, FeedPublisher
from admit.server.metrics import Metrics
from admit.server.observers import Observer, data_errors, rule_errors
from admit.server.policies import ClusterSource, PolicySource
from admit.server.protocol import RequestDeadlineProtocol, with_request_timeout
from admit.server.state import Slots, WorkerSlot
from admit.server.tls import ReloadingContext

log = logging.getLogger("admit.worker")

# Builds a process's policy store; the argument transforms each set it serves (rule marking).
StoreFactory = Callable[[Callable[[PolicySet], PolicySet] | None], PolicySource]


def listening_socket(host: str, port: int) -> socket.socket:
    """The listening TCP socket on host:port that every worker accepts from.

    One shared accept queue rather than SO_REUSEPORT: a worker whose loop is blocked stops
    accepting and the others take its share; with SO_REUSEPORT the kernel would keep queueing a
    share of new connections on the blocked worker until it is replaced.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def _every(seconds: float, chore: Callable[[], object]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            chore()
        except Exception:
            log.exception("background chore failed")


DRAIN_GRACE = 2.0  # seconds an idle kept-alive connection may still bring a request on SIGTERM
UPLOAD_GRACE = 5.0  # seconds the decision-log uploader may take to ship its last events


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose connections learn that it drains before it stops them, so the
    last answer on each says `Connection: close` (see `RequestDeadlineProtocol.shutdown`)."""

    def __init__(self, config: uvicorn.Config, http: type[RequestDeadlineProtocol]) -> None:
        super().__init__(config)
        self.http = http

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.http.draining = True
        await super().shutdown(sockets)


def protect_std_streams() -> None:
    """Write stdout and stderr through private copies of fds 1 and 2 from now on."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        with contextlib.suppress(OSError, ValueError):
            old.flush()
        stream = os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")
        setattr(sys, name, stream)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(stream)


def _never_serve() -> None:
    """In a process forked by a rule: end at once (it holds the listening socket)."""
    os._exit(0)


def _reap_forked() -> None:
    """Collect processes that rules forked (they ended at once), so none stays a zombie."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def run_worker(
    config: ServerConfig,
    store: Callable[..., PolicySource],
    sock: socket.socket,
    slots: Slots,
    slot: WorkerSlot,
    cluster_factory: Callable[[], ClusterSource] | None = None,
) -> None:
    """Serve until SIGTERM (graceful: in-flight requests complete) or SIGINT."""
    protect_std_streams()
    metrics = Metrics(config.metrics_dir)
    os.register_at_fork(after_in_child=_never_serve)
    # From now on SIGTERM and SIGINT stop the worker by returning, never by the default action:
    # one that comes while it starts (before uvicorn takes them) is noted and acted on by the
    # heartbeat; uvicorn raises them again once it has stopped, and then they only get noted.
    stop_asked: list[int] = []
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda signum, frame: stop_asked.append(signum))
    slot.beat()
    policies = store(slot.marked)
    policies.subscribe(slot.serves)
    policies.subscribe(metrics.serves)
    policies.refresh()  # the published version, loaded before the first request is accepted
    tls = ReloadingContext(config.tls_cert, config.tls_key, config.ssl_context)
    uploader = None
    if config.decision_upload is not None:
        uploader = DecisionUploader(config.decision_upload, user_agent=f"admit/{__version__}")
    ship = uploader.add if uploader is not None else None
    decision_log = DecisionLog(config.decision_log, config.decision_logs, ship=ship)
    cluster = cluster_factory() if cluster_factory is not None else None
    feed = FeedPublisher(config.feed_socket) if config.feed_socket is not None else None
    observers: list[Observer] = [metrics.observe, decision_log.record, rule_errors]
    if feed is not None:
        observers.append(feed.observe)
    data_api = DataAPI(
        default_decision=config.default_decision,
        decision_ids=new_decision_id if decision_log.enabled else None,
        observers=[decision_log.record_data, data_errors],
        version=__version__,
        max_body=config.max_body,
    )
    app = AdmitApp(
        policies,
        max_body=config.max_body,
        rule_timeout=config.rule_timeout,
        metrics=metrics,
        observers=observers,
        cluster=cluster,
        slots=slots,
        running=slot,
        run_dir=config.run_dir,
        data_api=data_api,
        plugins=uploader,
    )
    app.install_deadline()
    http = with_request_timeout(config.client_timeout)
    http.drain_grace = min(DRAIN_GRACE, config.drain_timeout)
    uv = uvicorn.Config(
        app,
        loop="uvloop",
        # TLS is the gate's (uv.ssl stays None): it bounds the handshake and the connection count
        # (uvicorn's limit_concurrency counted idle connections too, and answered 503).
        http=tls_http(
            tls.context,
            http,
            max_connections=config.max_connections,
            handshake_timeout=config.handshake_timeout,
        ),
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        date_header=False,
        timeout_keep_alive=int(config.keepalive_timeout),
        timeout_graceful_shutdown=int(config.drain_timeout),
    )
    uv.load()
    server = DrainingServer(uv, http)

    def publish_metrics() -> None:
        metrics.decision_log = decision_log.counts()
        if uploader is not None:
            metrics.decision_log.update(uploader.counts())
        metrics.flush()

    def beat() -> None:
        slot.beat()
        _reap_forked()
        if stop_asked and server.started:  # asked to stop while starting
            server.should_exit = True

    async def main() -> None:
        chores = [
            asyncio.ensure_future(_every(0.25, beat)),
            asyncio.ensure_future(_every(config.tls_poll_interval, tls.poll)),
            asyncio.ensure_future(_every(0.2, decision_log.flush)),
            asyncio.ensure_future(_every(1.0, publish_metrics)),
            asyncio.ensure_future(policies.follow()),
        ]
        if feed is not None:
            chores.append(asyncio.ensure_future(_every(FLUSH_EVERY, feed.flush)))
        if uploader is not None:
            chores.append(asyncio.ensure_future(uploader.run()))
        if cluster is not None:

            def reads() -> tuple[Any, ...]:
                current = policies.current()
                return current.reads if current is not None else ()

            chores.append(asyncio.ensure_future(cluster.follow(reads)))

        # The supervisor's nudge after it quarantined a rule: apply it before the next request.
        # It nudges accepting workers only, so one that starts accepting looks once itself.
        quarantine = functools.partial(policies.refresh, load=False)
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, quarantine)
        slot.accepting()
        quarantine()
        try:
            await server.serve(sockets=[sock])
        finally:
            slot.stopping()
            for chore in chores:
                chore.cancel()
            decision_log.close()
            if uploader is not None:  # the last events get one more try, within the drain
                await uploader.drain(min(UPLOAD_GRACE, config.drain_timeout))
            publish_metrics()

    beat()
    # Everything loaded so far (modules, the bundle) lives as long as the worker: keep it out of
    # the garbage collector's scans, which otherwise dominate the per-request cost.
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
