"""`admit serve`'s settings: one typed value, `ServeSettings`, that every option, its `ADMIT_*`
environment variable and a `--settings` file key map onto by name (hypercorn's `Config`).

Each section (a nested dataclass) heads a part of `--help`. Click checks each value (ranges,
choices, files); `ServeSettings.check` the combinations, before anything starts. The command
(`serve.py`) maps the value onto the server's own `ServerConfig` in one place; the sections'
methods build the settings of the other layers (console access here; decision logs and the
bundle server in opa_settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from admit.cli.flags import argument, flag, section
from admit.cli.opa_settings import BundleServer, DecisionLog
from admit.cli.options import (
    BUNDLE,
    CONFIG_HELP,
    DIRECTORY,
    FILE,
    MESSAGE_FORMAT_HELP,
    SET_HELP,
    check_message_format,
)
from admit.core.decision import DEFAULT_MESSAGE_FORMAT
from admit.core.reports import REPORT_APIS, ReportApi

if TYPE_CHECKING:
    from admit.console.access import ConsoleAccess

MiB = 1024 * 1024
LogLevel = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class Listening:
    """Where the webhook listens, with how many workers, and how the process reports."""

    host: str = flag("--host", default="0.0.0.0", help="Address to listen on.")
    port: int = flag("--port", type=click.IntRange(1, 65535), default=8443, help="HTTPS port.")
    workers: int | None = flag(
        "--workers",
        type=click.IntRange(1, 256),
        default=None,
        help="Worker processes on the port  [default: CPU count]",
    )
    drain_timeout: float = flag(
        "--drain-timeout",
        type=click.FloatRange(0),
        default=25.0,
        help="On SIGTERM, seconds to let in-flight requests finish.",
    )
    log_level: LogLevel = flag(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"]),
        default="info",
        help="How much the processes log (to stderr).",
    )
    metrics_dir: Path | None = flag(
        "--metrics-dir",
        type=DIRECTORY,
        default=None,
        help="Scratch directory for multi-process metrics.",
    )


@dataclass(frozen=True, slots=True)
class Tls:
    """The serving certificate: given, or made for local use."""

    cert: Path | None = flag(
        "--tls-cert",
        type=FILE,
        default=None,
        help="Serving certificate (PEM); reloaded when it changes.",
    )
    key: Path | None = flag("--tls-key", type=FILE, default=None, help="Its private key (PEM).")
    self_signed: bool = flag(
        "--self-signed",
        is_flag=True,
        default=False,
        help="For local use: make a CA and a serving certificate in --tls-dir.",
    )
    directory: Path = flag(
        "--tls-dir",
        type=DIRECTORY,
        default=Path("admit-tls"),
        help="Where --self-signed keeps ca.crt, tls.crt and tls.key.",
    )
    sans: tuple[str, ...] = flag(
        "--san", multiple=True, default=(), help="Extra DNS name or IP for --self-signed."
    )


@dataclass(frozen=True, slots=True)
class Policies:
    """Where policies come from besides BUNDLE, and how a new version goes live."""

    watch: bool = flag(
        "--watch/--no-watch",
        default=True,
        help="Reload the bundle when its files change (a broken change keeps the last good one).",
    )
    configmaps: str | None = flag(
        "--configmaps",
        default=None,
        help="Serve the bundles in ConfigMaps matching this label selector instead of BUNDLE; "
        "each load's outcome is written back as the annotation admit.dev/status.",
    )
    configmap_namespaces: tuple[str, ...] = flag(
        "--configmap-namespace",
        multiple=True,
        default=(),
        help="Namespace to watch for --configmaps (repeatable)  "
        "[default: $POD_NAMESPACE or default]",
    )
    config_files: tuple[str, ...] = flag(
        "--config",
        type=click.Path(dir_okay=False),
        multiple=True,
        metavar="FILE",
        default=(),
        help=CONFIG_HELP,
    )
    assignments: tuple[str, ...] = flag(
        "--set", multiple=True, metavar="POLICY.PARAM=VALUE", default=(), help=SET_HELP
    )
    state_dir: Path | None = flag(
        "--state-dir",
        type=DIRECTORY,
        default=None,
        help="Keep policy versions here: a restart whose bundle or ConfigMaps do not load serves "
        "the last good version (marked restored in /readyz) instead of denying  "
        "[default: a temporary directory, removed at exit]",
    )
    load_timeout: float = flag(
        "--load-timeout",
        type=click.FloatRange(1),
        default=10.0,
        help="Seconds a new policy version may take to load (in a sandbox process) before it "
        "counts as broken.",
    )
    require_tests: bool = flag(
        "--require-tests",
        is_flag=True,
        default=False,
        help="Publish a new policy version only if its own *_test.yaml cases pass (run in the "
        "sandbox, as `admit test` would); one whose tests fail is a failed load.",
    )


@dataclass(frozen=True, slots=True)
class Evaluation:
    """How requests are judged and answered."""

    rule_timeout: float = flag(
        "--rule-timeout",
        type=click.FloatRange(0),
        default=2.0,
        help="Seconds a request's rules may run; past it the running rule errors (0: off).",
    )
    message_format: str = flag(
        "--message-format",
        default=DEFAULT_MESSAGE_FORMAT,
        callback=check_message_format,
        metavar="FORMAT",
        help=MESSAGE_FORMAT_HELP,
    )
    default_decision: str = flag(
        "--default-decision",
        default="system/main",
        metavar="PATH",
        help="The decision POST / answers with the request body as its input (OPA's "
        "default_decision).",
    )


@dataclass(frozen=True, slots=True)
class Connections:
    """What each connection and request may take."""

    max_body: int = flag(
        "--max-body",
        type=click.IntRange(1024),
        default=4 * MiB,
        help="Largest request body in bytes.",
    )
    handshake_timeout: float = flag(
        "--handshake-timeout",
        type=click.FloatRange(0.1),
        default=5.0,
        help="Seconds from a new connection to its completed TLS handshake (also the longest a "
        "TLS close waits for the client).",
    )
    client_timeout: float = flag(
        "--client-timeout",
        type=click.FloatRange(0.1),
        default=10.0,
        help="Seconds a client may take to send a whole request: from the handshake (or, on a "
        "kept-alive connection, the request's first byte) to its last byte.",
    )
    keepalive_timeout: int = flag(
        "--keepalive-timeout",
        type=click.IntRange(1),
        default=100,
        help="Seconds an idle kept-alive connection stays open (kube-apiserver closes its own "
        "after 90 s).",
    )
    max_connections: int = flag(
        "--max-connections",
        type=click.IntRange(1),
        default=1024,
        help="Connections per worker, counting handshaking, idle and busy ones. At the limit an "
        "idle one is closed for a new one (silent ones first); a new one is refused only when all "
        "are busy with a request.",
    )


@dataclass(frozen=True, slots=True)
class Console:
    """The web console: off unless --console-port is given."""

    port: int | None = flag(
        "--console-port",
        type=click.IntRange(1, 65535),
        default=None,
        help="Serve the read-only web console (policies, live decisions, playground) on this "
        "port.",
    )
    host: str = flag(
        "--console-host",
        default="127.0.0.1",
        help="Address of the console. Any but loopback needs --console-token-file or "
        "--console-client-ca.",
    )
    token_file: Path | None = flag(
        "--console-token-file",
        type=FILE,
        default=None,
        help="The console asks for the token in this file (at least 16 characters; re-read "
        "when it changes): people sign in on its login page, scripts send Authorization: "
        "Bearer TOKEN.",
    )
    client_ca: Path | None = flag(
        "--console-client-ca",
        type=FILE,
        default=None,
        help="Serve the console over HTTPS (the --tls-cert certificate) to clients presenting a "
        "certificate this CA (PEM) signed; others fail the TLS handshake.",
    )
    tls: bool = flag(
        "--console-tls",
        is_flag=True,
        default=False,
        help="Serve the console over HTTPS with the --tls-cert certificate, so its token never "
        "crosses a network in clear.",
    )
    allowed_hosts: tuple[str, ...] = flag(
        "--console-allowed-host",
        multiple=True,
        default=(),
        envvar="ADMIT_CONSOLE_ALLOWED_HOSTS",
        metavar="NAME",
        help="A host name the console answers to besides IP addresses, localhost and "
        "--console-host (repeatable). Requests naming any other host get 403: a web page cannot "
        "reach the console through a name of its own (DNS rebinding).",
    )

    def access(self) -> ConsoleAccess:
        from admit.console.access import ConsoleAccess

        return ConsoleAccess(self.token_file, self.client_ca, self.tls)


@dataclass(frozen=True, slots=True)
class ClusterAccess:
    """The cluster rules read (`request.cluster`)."""

    kubeconfig: Path | None = flag(
        "--kubeconfig",
        type=FILE,
        default=None,
        help="Cluster access for the cache of kinds rules read (default: in-cluster, then "
        "~/.kube).",
    )
    cache: bool = flag(
        "--cluster-cache/--no-cluster-cache",
        default=True,
        help="Cache the kinds rules read (reads=) from the cluster; off: request.cluster is "
        "empty.",
    )


@dataclass(frozen=True, slots=True)
class Audit:
    """Auditing the cluster's existing objects from the server (off by default)."""

    interval: float = flag(
        "--audit-interval",
        type=click.FloatRange(0),
        default=0,
        metavar="SECONDS",
        help="Also audit the cluster's existing objects (as `admit audit`), following them by "
        "list+watch: each change is judged again, and every SECONDS the reports of what changed "
        "are written as policy reports. One replica writes at a time (a Lease in "
        "$POD_NAMESPACE); 0: off.",
    )
    report_api: ReportApi = flag(
        "--report-api",
        type=click.Choice(REPORT_APIS),
        default="openreports",
        help="The reports --audit-interval writes: OpenReports (openreports.io/v1alpha1 Report, "
        "ClusterReport) or wgpolicyk8s.io/v1alpha2 PolicyReport, ClusterPolicyReport.",
    )
    lease_duration: float = flag(
        "--audit-lease-duration",
        type=click.FloatRange(1),
        default=15.0,
        help="Seconds the audit's Lease lasts unrenewed before a standby replica takes over.",
    )


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Everything `admit serve` is given; the defaults are production defaults."""

    bundle: Path | None = argument("bundle", default=None, type=BUNDLE)
    server: Listening = section("Server", Listening)
    tls: Tls = section("TLS", Tls)
    policies: Policies = section("Policies", Policies)
    bundle_server: BundleServer = section("Bundle server", BundleServer)
    evaluation: Evaluation = section("Evaluation", Evaluation)
    connections: Connections = section("Connections", Connections)
    decision_log: DecisionLog = section("Decision log", DecisionLog)
    console: Console = section("Console", Console)
    cluster: ClusterAccess = section("Cluster", ClusterAccess)
    audit: Audit = section("Audit", Audit)

    def check(self) -> None:
        """Raise a `click.UsageError` for options that do not go together."""
        tls, policies, bundle_server = self.tls, self.policies, self.bundle_server
        if bundle_server.url is None and bundle_server.verification_key is not None:
            raise click.UsageError("--verification-key checks bundles from --bundle-url")
        if tls.self_signed and (tls.cert or tls.key):
            raise click.UsageError("give either --self-signed or --tls-cert/--tls-key, not both")
        if not tls.self_signed and not (tls.cert and tls.key):
            raise click.UsageError(
                "HTTPS needs --tls-cert and --tls-key (or --self-signed for local use)"
            )
        given = [self.bundle, policies.configmaps, bundle_server.url]
        if sum(source is not None for source in given) != 1:
            raise click.UsageError(
                "serve a BUNDLE directory, --configmaps SELECTOR or --bundle-url URL (one of them)"
            )
        if self.bundle is None and (policies.config_files or policies.assignments):
            where = (
                "with --configmaps, set parameters in each ConfigMap's admit.yaml"
                if policies.configmaps is not None
                else "with --bundle-url, set parameters in the bundle's admit.yaml"
            )
            raise click.UsageError(f"--set and --config apply to a BUNDLE; {where}")
        if self.console.port and (problems := self.console.access().problems(self.console.host)):
            raise click.UsageError("; ".join(problems))
        if bundle_server.url is not None:
            bundle_server.source_settings()
