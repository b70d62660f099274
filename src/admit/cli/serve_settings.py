"""`admit serve`'s settings: one typed value, `ServeSettings`, that every option, its `ADMIT_*`
environment variable and a `--settings` file key map onto by name (hypercorn's `Config`).

Each section (a nested dataclass) heads a part of `--help`. Click checks each value (ranges,
choices, files); `ServeSettings.check` the combinations, before anything starts. The command
(`serve.py`) maps the value onto the server's own `ServerConfig` in one place; the methods here
build the settings of the other layers (decision logs, the bundle server, console access).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from admit import __version__
from admit.cli.flags import argument, flag, section
from admit.cli.options import (
    BUNDLE,
    CONFIG_HELP,
    MESSAGE_FORMAT_HELP,
    SET_HELP,
    check_message_format,
)
from admit.core.decision import DEFAULT_MESSAGE_FORMAT
from admit.core.reports import REPORT_APIS, ReportApi

if TYPE_CHECKING:
    from admit.console.access import ConsoleAccess
    from admit.loading.bundle_server import BundleServerSettings
    from admit.server.decision_log import DecisionLogSettings
    from admit.server.decision_upload import UploadSettings

MiB = 1024 * 1024
FILE = click.Path(dir_okay=False, path_type=Path)
DIRECTORY = click.Path(file_okay=False, path_type=Path)
LogLevel = Literal["debug", "info", "warning", "error"]


def _label(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    labels = []
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE")
        labels.append((key, text))
    return tuple(labels)


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
class BundleServer:
    """`--bundle-url`: a bundle tarball on a bundle server, and how to poll it."""

    url: str | None = flag(
        "--bundle-url",
        default=None,
        metavar="URL",
        help="Serve the bundle tarball (.tar.gz, as `admit build` makes) at this URL instead "
        "of BUNDLE, polling it with If-None-Match; a bad download or a broken bundle keeps "
        "the last good one.",
    )
    name: str = flag(
        "--bundle-name",
        default="",
        metavar="NAME",
        show_default=False,
        help="The bundle's name in decision logs and provenance  [default: from the URL]",
    )
    token_file: Path | None = flag(
        "--bundle-token-file",
        type=FILE,
        default=None,
        help="Send the bearer token in this file with each download (re-read each time).",
    )
    ca: Path | None = flag(
        "--bundle-ca",
        type=FILE,
        default=None,
        help="The CA certificate (PEM) of an https --bundle-url.",
    )
    delay: tuple[float, float] = flag(
        "--bundle-delay",
        type=(click.FloatRange(0.1), click.FloatRange(0.1)),
        default=(60.0, 120.0),
        metavar="MIN MAX",
        help="Seconds between polls, at random in [MIN, MAX] (OPA's polling.min/max_delay).",
    )
    verification_key: Path | None = flag(
        "--verification-key",
        type=FILE,
        default=None,
        help="Serve only bundles signed with this key (PEM public key, or an HMAC secret): "
        "their .signatures.json, as `admit build --signing-key` writes it, must verify.",
    )

    def source_settings(self) -> BundleServerSettings:
        """The loader's settings for this server; a bad URL or delay is a usage error."""
        from admit.loading.bundle_server import BundleServerSettings
        from admit.loading.signing import Verifier

        assert self.url is not None
        verifier = Verifier(self.verification_key) if self.verification_key else None
        try:
            return BundleServerSettings(
                self.url, name=self.name, token_file=self.token_file, ca_file=self.ca,
                min_delay=self.delay[0], max_delay=self.delay[1], verifier=verifier,
            )  # fmt: skip
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None


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
class DecisionLog:
    """Where each decision's event goes and what it holds (OPA's decision logs)."""

    target: str = flag(
        "--decision-log",
        default="-",
        help="File for the decision log: one JSON line per decision, admission and data API, "
        "as OPA's decision-log events; - for stdout, off for none.",
    )
    include_input: bool = flag(
        "--decision-log-input/--no-decision-log-input",
        "--decision-log-requests",
        default=False,
        help="Log each decision's input (an admission's AdmissionReview, Secret data and the "
        "last-applied annotation redacted), as OPA does, so `admit replay` and `admit capture` "
        "can judge the traffic again. Off by default: it costs 50-110k instructions a request "
        "(bench/README.md).",
    )
    masks: tuple[str, ...] = flag(
        "--decision-log-mask",
        multiple=True,
        default=(),
        metavar="POINTER",
        help="Erase this JSON pointer (under /input or /result) from every decision-log event, "
        "as OPA's system.log.mask (a bundle may define that decision too). Repeatable.",
    )
    max_event: int = flag(
        "--decision-log-max-event",
        type=click.IntRange(1024),
        default=MiB,
        metavar="BYTES",
        help="Largest decision-log event: a larger one loses its input, then its result "
        "(listed in `erased`), else it is dropped and counted.",
    )
    labels: tuple[tuple[str, str], ...] = flag(
        "--label",
        multiple=True,
        callback=_label,
        default=(),
        metavar="KEY=VALUE",
        help="A label of this server in every decision-log event, beside id and version "
        "(OPA's labels). Repeatable.",
    )
    url: str | None = flag(
        "--decision-log-url",
        default=None,
        metavar="URL",
        help="Also POST decision-log events to this service, in gzip batches, as OPA's decision "
        "log plugin does (the URL includes the path, e.g. https://logs.example/logs).",
    )
    token_file: Path | None = flag(
        "--decision-log-token-file",
        type=FILE,
        default=None,
        help="Send the bearer token in this file with each upload (re-read each time).",
    )
    ca: Path | None = flag(
        "--decision-log-ca",
        type=FILE,
        default=None,
        help="The CA certificate (PEM) of an https --decision-log-url.",
    )
    delay: tuple[float, float] = flag(
        "--decision-log-delay",
        type=(click.FloatRange(0.1), click.FloatRange(0.1)),
        default=(5.0, 10.0),
        metavar="MIN MAX",
        help="Seconds between uploads, at random in [MIN, MAX] (OPA's min/max_delay_seconds); "
        "a full batch goes at once.",
    )
    buffer: int = flag(
        "--decision-log-buffer",
        type=click.IntRange(64 * 1024),
        default=32 * MiB,
        metavar="BYTES",
        help="Events each worker keeps while the service is slow or down; past it the oldest "
        "are dropped and counted (admit_decision_log_events_total{outcome=\"dropped\"}).",
    )
    upload_limit: int = flag(
        "--decision-log-upload-limit",
        type=click.IntRange(1024),
        default=32 * 1024,
        metavar="BYTES",
        help="Largest upload body, compressed (OPA's upload_size_limit_bytes).",
    )

    @property
    def path(self) -> str | None:
        """Where events are written: a file, "-" for stdout, None for nowhere."""
        return None if self.target == "off" else self.target

    def events(self) -> DecisionLogSettings:
        """What each event holds; this server's `id` is new at each start, as OPA's is."""
        from admit.server.decision_log import DecisionLogSettings

        labels = {"id": str(uuid.uuid4()), "version": __version__, **dict(self.labels)}
        try:
            return DecisionLogSettings(
                labels=labels,
                include_input=self.include_input,
                mask=self.masks,
                max_event_bytes=self.max_event,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None

    def upload(self) -> UploadSettings | None:
        """How events are shipped to --decision-log-url (None: they are not)."""
        from admit.server.decision_upload import UploadSettings

        if self.url is None:
            return None
        try:
            return UploadSettings(
                self.url, token_file=self.token_file, ca_file=self.ca, min_delay=self.delay[0],
                max_delay=self.delay[1], buffer_bytes=self.buffer, upload_bytes=self.upload_limit,
            )  # fmt: skip
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None


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
