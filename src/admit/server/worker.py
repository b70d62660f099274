"""One worker process: the app on uvicorn (uvloop + httptools) accepting from the listening
socket it shares with the other workers, and the background chores (heartbeat to the
supervisor, TLS reload, decision-log flush)."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
import uvloop

from admit.server.app import AdmitApp
from admit.server.config import ServerConfig
from admit.server.connections import tls_http
from admit.server.decision_log import DecisionLog
from admit.server.feed import FLUSH_EVERY, FeedPublisher
from admit.server.metrics import Metrics
from admit.server.policies import ClusterSource, PolicySource, WatchedSource
from admit.server.protocol import with_request_timeout
from admit.server.tls import ReloadingContext

log = logging.getLogger("admit.worker")


def listening_socket(host: str, port: int) -> socket.socket:
    """The listening TCP socket on host:port that every worker accepts from.

    One shared accept queue rather than SO_REUSEPORT: a worker whose loop is blocked stops
    accepting and the others take its share; with SO_REUSEPORT the kernel would keep queueing a
    share of new connections on the blocked worker until it is replaced.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _every(seconds: float, chore: Callable[[], object]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            chore()
        except Exception:
            log.exception("background chore failed")


def run_worker(
    config: ServerConfig,
    policies: PolicySource,
    sock: socket.socket,
    beat: Callable[[], None],
    cluster_factory: Callable[[], ClusterSource] | None = None,
) -> None:
    """Serve until SIGTERM (graceful: in-flight requests complete) or SIGINT."""
    tls = ReloadingContext(config.tls_cert, config.tls_key, config.ssl_context)
    decision_log = DecisionLog(config.decision_log)
    metrics = Metrics(config.metrics_dir)
    cluster = cluster_factory() if cluster_factory is not None else None
    feed = FeedPublisher(config.feed_socket) if config.feed_socket is not None else None
    app = AdmitApp(
        policies,
        max_body=config.max_body,
        rule_timeout=config.rule_timeout,
        metrics=metrics,
        decision_log=decision_log,
        cluster=cluster,
        feed=feed,
    )
    app.install_deadline()
    uv = uvicorn.Config(
        app,
        loop="uvloop",
        # TLS is the gate's (uv.ssl stays None): it bounds the handshake and the connection count
        # (uvicorn's limit_concurrency counted idle connections too, and answered 503).
        http=tls_http(
            tls.context,
            with_request_timeout(config.client_timeout),
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
    server = uvicorn.Server(uv)

    def publish_metrics() -> None:
        current = policies.current()
        metrics.bundle = current.digest if current is not None else ""
        metrics.flush()

    async def main() -> None:
        chores = [
            asyncio.ensure_future(_every(0.25, beat)),
            asyncio.ensure_future(_every(config.tls_poll_interval, tls.poll)),
            asyncio.ensure_future(_every(0.2, decision_log.flush)),
            asyncio.ensure_future(_every(1.0, publish_metrics)),
        ]
        if feed is not None:
            chores.append(asyncio.ensure_future(_every(FLUSH_EVERY, feed.flush)))
        if cluster is not None:

            def reads() -> tuple[Any, ...]:
                current = policies.current()
                return current.reads if current is not None else ()

            chores.append(asyncio.ensure_future(cluster.follow(reads)))
        if isinstance(policies, WatchedSource):
            policies.on_event = metrics.reloaded
            chores.append(asyncio.ensure_future(policies.watch()))
        try:
            await server.serve(sockets=[sock])
        finally:
            for chore in chores:
                chore.cancel()
            decision_log.close()
            publish_metrics()

    beat()
    # Everything loaded so far (modules, the bundle) lives as long as the worker: keep it out of
    # the garbage collector's scans, which otherwise dominate the per-request cost.
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
