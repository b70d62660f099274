"""The console process: the console app on uvicorn over plain HTTP (or HTTPS with the server's
certificate, and client certificates when asked: `admit.console.access`), on a socket the CLI
bound before the supervisor forked (so a taken port fails at start). It follows the published policy
version like a worker does, owns the decision feed's socket, and samples the workers'
metrics. Nothing here can reach the webhook's workers: a crash only restarts the console."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import uvicorn
import uvloop

from admit.console.access import ConsoleAccess, TokenGate
from admit.console.app import ConsoleApp
from admit.console.decisions import DecisionFeed
from admit.console.hosts import DEFAULT_NAMES
from admit.console.stats import SAMPLE_SECONDS, MetricsHistory
from admit.core.decision import Decision
from admit.core.engine import PolicySet
from admit.core.review import Request
from admit.server.app import AdmitApp
from admit.server.config import ServerConfig
from admit.server.policies import PolicySource
from admit.server.worker import listening_socket

log = logging.getLogger("admit.console")


def console_socket(host: str, port: int) -> socket.socket:
    """The console's listening socket (plain HTTP), bound now so a taken port fails early."""
    return listening_socket(host, port)


def run_console(
    config: ServerConfig,
    store: Callable[..., PolicySource],
    sock: socket.socket,
    webhook_url: str = "",
    host_names: frozenset[str] = DEFAULT_NAMES,
    access: ConsoleAccess | None = None,
) -> None:
    """Serve the console until SIGTERM or SIGINT, answering requests for `host_names` (and IP
    addresses) only, to those `access` lets in. Its certificate is read at start: a console
    serving HTTPS picks up a renewed one when it restarts."""
    access = access or ConsoleAccess()
    policies = store(None)
    policies.refresh()
    assert config.feed_socket is not None
    feed = DecisionFeed(config.feed_socket)
    feed.bind()
    history = MetricsHistory(config.metrics_dir)
    # The playground judges as a worker does: same engine, same rule timeout (SIGALRM here too).
    webhook = AdmitApp(policies, rule_timeout=config.rule_timeout)
    webhook.install_deadline()

    def judge(policy_set: PolicySet, request: Request) -> Decision:
        return webhook.judge(policy_set, request, "all")

    app = ConsoleApp(
        policies,
        feed,
        history,
        judge,
        webhook_url=webhook_url,
        host_names=host_names,
        rule_timeout=config.rule_timeout,
        gate=TokenGate(access.token_file) if access.token_file is not None else None,
    )
    tls: dict[str, object] = {}
    if access.https:
        tls = {"ssl_certfile": config.tls_cert, "ssl_keyfile": config.tls_key}
    if access.client_ca is not None:
        tls |= {"ssl_ca_certs": str(access.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    uv = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=1,
        **tls,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(uv)

    async def sample() -> None:
        while True:
            try:
                history.sample()
            except Exception:
                log.exception("sampling metrics failed")
            await asyncio.sleep(SAMPLE_SECONDS)  # workers publish every second

    async def main() -> None:
        feed.start(asyncio.get_running_loop())
        chores = [asyncio.ensure_future(sample())]
        chores.append(asyncio.ensure_future(policies.follow()))
        try:
            await server.serve(sockets=[sock])
        finally:
            for chore in chores:
                chore.cancel()
            feed.close(asyncio.get_running_loop())

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def feed_path(directory: Path) -> Path:
    """Where the feed's socket lives (UNIX socket paths are limited to ~100 bytes)."""
    return directory / "feed.sock"
