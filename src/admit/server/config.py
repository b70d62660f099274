"""The server's one typed configuration. `admit serve` flags (each also read from an `ADMIT_*`
environment variable) map onto it; it alone builds the TLS context (TLS >= 1.2, ALPN http/1.1)."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from admit.core.decision import DEFAULT_MESSAGE_FORMAT, message_format_problem
from admit.server.decision_log import DecisionLogSettings
from admit.server.decision_upload import UploadSettings

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything `admit serve` needs; defaults are production defaults."""

    tls_cert: Path
    tls_key: Path
    host: str = "0.0.0.0"
    port: int = 8443
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    rule_timeout: float = 2.0
    message_format: str = DEFAULT_MESSAGE_FORMAT  # how denials and warnings read
    max_body: int = 4 * MiB
    client_timeout: float = 10.0
    # kube-apiserver drops a connection idle for 90 s (Go's IdleConnTimeout): waiting a little
    # longer means the server never closes one that kube-apiserver is about to reuse.
    keepalive_timeout: float = 100.0
    handshake_timeout: float = 5.0  # also bounds the TLS close (uvloop's default: 60 s and 30 s)
    max_connections: int = 1024  # per worker: handshaking, idle and busy connections together
    drain_timeout: float = 25.0
    decision_log: str | None = "-"  # where decision-log events go: a file, "-" (stdout), None
    decision_logs: DecisionLogSettings = field(default_factory=DecisionLogSettings)
    decision_upload: UploadSettings | None = None  # ship events to an HTTP service as OPA does
    default_decision: str = "system/main"  # what `POST /` answers (OPA's default_decision)
    metrics_dir: Path | None = None
    tls_poll_interval: float = 1.0
    feed_socket: Path | None = None  # where workers send decisions for the console (None: off)
    run_dir: Path | None = None  # published policy versions and the supervisor's reports

    @property
    def stall_limit(self) -> float:
        """Seconds a worker's event loop may stay silent before it is replaced: a second past
        the rule timeout, at least 3s, so a rule stuck in C is cut off before kube-apiserver's
        webhook timeout (5s as `admit manifests` renders it) rather than holding the worker."""
        return max(3.0, (self.rule_timeout or 2.0) + 1.0)

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is not between 1 and 65535")
        if self.workers < 1:
            problems.append("workers must be at least 1")
        if self.rule_timeout < 0:
            problems.append("rule timeout must be 0 (off) or positive")
        if (problem := message_format_problem(self.message_format)) is not None:
            problems.append(f"message format {problem}")
        if self.max_body < 1024:
            problems.append("max body must be at least 1024 bytes")
        if self.handshake_timeout <= 0 or self.keepalive_timeout <= 0 or self.client_timeout <= 0:
            problems.append("the handshake, client and keep-alive timeouts must be positive")
        if self.max_connections < 1:
            problems.append("max connections must be at least 1")
        if problems:
            raise ValueError("; ".join(problems))

    def ssl_context(self) -> ssl.SSLContext:
        """A server TLS context with the configured certificate (TLS >= 1.2, ALPN http/1.1).

        Only http/1.1 is offered: kube-apiserver then speaks HTTP/1.1 on a kept-alive connection.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        context.load_cert_chain(self.tls_cert, self.tls_key)
        return context
