"""`admit serve`: the admission webhook over HTTPS, and `admit eval`, its data API twin."""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from admit.cli.opa_options import (
    BundleServer,
    OpaServing,
    bundle_server_options,
    opa_serving_options,
)
from admit.cli.options import BUNDLE, BUNDLE_HELP, message_format_option, overrides_options
from admit.core.document import UNDEFINED, path_segments, read
from admit.core.errors import InputError, ServeError
from admit.loading.loader import load_bundle
from admit.loading.overrides import Overrides

MiB = 1024 * 1024


def _metrics_dir(directory: Path) -> Path:
    """A clean directory where the processes publish their metrics for /metrics."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("worker-*.json"):
        stale.unlink()
    return directory


def _self_signed(directory: Path, host: str, extra: tuple[str, ...]) -> tuple[Path, Path, Path]:
    from admit.kube.certs import self_signed

    names = ["localhost", "127.0.0.1", "::1"]
    if host not in ("0.0.0.0", "::", *names):
        names.append(host)
    return self_signed(directory, [*names, *extra])


@click.command(epilog=BUNDLE_HELP)
@click.argument("bundle", required=False, type=BUNDLE)
@click.option(
    "--host",
    default="0.0.0.0",
    show_default=True,
    envvar="ADMIT_HOST",
    show_envvar=True,
    help="Address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8443,
    show_default=True,
    envvar="ADMIT_PORT",
    show_envvar=True,
    help="HTTPS port.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ADMIT_TLS_CERT",
    show_envvar=True,
    help="Serving certificate (PEM); reloaded when it changes.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ADMIT_TLS_KEY",
    show_envvar=True,
    help="Its private key (PEM).",
)
@click.option(
    "--self-signed",
    is_flag=True,
    help="For local use: make a CA and a serving certificate in --tls-dir.",
)
@click.option(
    "--tls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="admit-tls",
    show_default=True,
    help="Where --self-signed keeps ca.crt, tls.crt and tls.key.",
)
@click.option("--san", "sans", multiple=True, help="Extra DNS name or IP for --self-signed.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    envvar="ADMIT_WORKERS",
    show_envvar=True,
    help="Worker processes on the port  [default: CPU count]",
)
@click.option(
    "--rule-timeout",
    type=click.FloatRange(0),
    default=2.0,
    show_default=True,
    envvar="ADMIT_RULE_TIMEOUT",
    show_envvar=True,
    help="Seconds a request's rules may run; past it the running rule errors (0: off).",
)
@message_format_option
@overrides_options
@click.option(
    "--max-body",
    type=click.IntRange(1024),
    default=4 * MiB,
    show_default=True,
    envvar="ADMIT_MAX_BODY",
    show_envvar=True,
    help="Largest request body in bytes.",
)
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    envvar="ADMIT_WATCH",
    help="Reload the bundle when its files change (a broken change keeps the last good one).",
)
@click.option(
    "--configmaps",
    "configmap_selector",
    default=None,
    envvar="ADMIT_CONFIGMAPS",
    help="Serve the bundles in ConfigMaps matching this label selector instead of BUNDLE; "
    "each load's outcome is written back as the annotation admit.dev/status.",
)
@click.option(
    "--configmap-namespace",
    "configmap_namespaces",
    multiple=True,
    help="Namespace to watch for --configmaps (repeatable)  [default: $POD_NAMESPACE or default]",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="ADMIT_KUBECONFIG",
    help="Cluster access for the cache of kinds rules read (default: in-cluster, then ~/.kube).",
)
@click.option(
    "--cluster-cache/--no-cluster-cache",
    default=True,
    show_default=True,
    help="Cache the kinds rules read (reads=) from the cluster; off: request.cluster is empty.",
)
@click.option(
    "--handshake-timeout",
    type=click.FloatRange(0.1),
    default=5.0,
    show_default=True,
    envvar="ADMIT_HANDSHAKE_TIMEOUT",
    help="Seconds from a new connection to its completed TLS handshake (also the longest a "
    "TLS close waits for the client).",
)
@click.option(
    "--client-timeout",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    envvar="ADMIT_CLIENT_TIMEOUT",
    help="Seconds a client may take to send a whole request: from the handshake (or, on a "
    "kept-alive connection, the request's first byte) to its last byte.",
)
@click.option(
    "--keepalive-timeout",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    envvar="ADMIT_KEEPALIVE_TIMEOUT",
    help="Seconds an idle kept-alive connection stays open (kube-apiserver closes its own "
    "after 90 s).",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1),
    default=1024,
    show_default=True,
    envvar="ADMIT_MAX_CONNECTIONS",
    help="Connections per worker, counting handshaking, idle and busy ones. At the limit an "
    "idle one is closed for a new one (silent ones first); a new one is refused only when all "
    "are busy with a request.",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(0),
    default=25.0,
    show_default=True,
    envvar="ADMIT_DRAIN_TIMEOUT",
    help="On SIGTERM, seconds to let in-flight requests finish.",
)
@click.option(
    "--decision-log",
    default="-",
    show_default=True,
    envvar="ADMIT_DECISION_LOG",
    show_envvar=True,
    help="File for the decision log: one JSON line per decision, admission and data API, "
    "as OPA's decision-log events; - for stdout, off for none.",
)
@click.option(
    "--metrics-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="ADMIT_METRICS_DIR",
    help="Scratch directory for multi-process metrics.",
)
@click.option(
    "--console-port",
    type=click.IntRange(1, 65535),
    default=None,
    envvar="ADMIT_CONSOLE_PORT",
    show_envvar=True,
    help="Serve the read-only web console (policies, live decisions, playground) on this port.",
)
@click.option(
    "--console-host",
    default="127.0.0.1",
    show_default=True,
    envvar="ADMIT_CONSOLE_HOST",
    help="Address of the console. Any but loopback needs --console-token-file or "
    "--console-client-ca.",
)
@click.option(
    "--console-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="ADMIT_CONSOLE_TOKEN_FILE",
    show_envvar=True,
    help="The console asks for the token in this file (at least 16 characters; re-read when "
    "it changes): people sign in on its login page, scripts send Authorization: Bearer TOKEN.",
)
@click.option(
    "--console-client-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="ADMIT_CONSOLE_CLIENT_CA",
    show_envvar=True,
    help="Serve the console over HTTPS (the --tls-cert certificate) to clients presenting a "
    "certificate this CA (PEM) signed; others fail the TLS handshake.",
)
@click.option(
    "--console-tls",
    is_flag=True,
    envvar="ADMIT_CONSOLE_TLS",
    help="Serve the console over HTTPS with the --tls-cert certificate, so its token never "
    "crosses a network in clear.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="ADMIT_STATE_DIR",
    help="Keep policy versions here: a restart whose bundle or ConfigMaps do not load serves "
    "the last good version (marked restored in /readyz) instead of denying  "
    "[default: a temporary directory, removed at exit]",
)
@click.option(
    "--load-timeout",
    type=click.FloatRange(1),
    default=10.0,
    show_default=True,
    envvar="ADMIT_LOAD_TIMEOUT",
    help="Seconds a new policy version may take to load (in a sandbox process) before it "
    "counts as broken.",
)
@click.option(
    "--require-tests",
    is_flag=True,
    envvar="ADMIT_REQUIRE_TESTS",
    help="Publish a new policy version only if its own *_test.yaml cases pass (run in the "
    "sandbox, as `admit test` would); one whose tests fail is a failed load.",
)
@click.option(
    "--audit-interval",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    envvar="ADMIT_AUDIT_INTERVAL",
    show_envvar=True,
    metavar="SECONDS",
    help="Also audit the cluster's existing objects (as `admit audit`), following them by "
    "list+watch: each change is judged again, and every SECONDS the reports of what changed are "
    "written as policy reports. One replica writes at a time (a Lease in $POD_NAMESPACE); "
    "0: off.",
)
@click.option(
    "--report-api",
    type=click.Choice(["openreports", "wgpolicyk8s"]),
    default="openreports",
    show_default=True,
    envvar="ADMIT_REPORT_API",
    help="The reports --audit-interval writes: OpenReports (openreports.io/v1alpha1 Report, "
    "ClusterReport) or wgpolicyk8s.io/v1alpha2 PolicyReport, ClusterPolicyReport.",
)
@click.option(
    "--audit-lease-duration",
    type=click.FloatRange(1),
    default=15.0,
    show_default=True,
    envvar="ADMIT_AUDIT_LEASE_DURATION",
    help="Seconds the audit's Lease lasts unrenewed before a standby replica takes over.",
)
@click.option(
    "--console-allowed-host",
    "console_allowed_hosts",
    multiple=True,
    envvar="ADMIT_CONSOLE_ALLOWED_HOSTS",
    show_envvar=True,
    metavar="NAME",
    help="A host name the console answers to besides IP addresses, localhost and "
    "--console-host (repeatable). Requests naming any other host get 403: a web page cannot "
    "reach the console through a name of its own (DNS rebinding).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    envvar="ADMIT_LOG_LEVEL",
)
@opa_serving_options
@bundle_server_options
def serve(
    bundle: Path | None,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    self_signed: bool,
    tls_dir: Path,
    sans: tuple[str, ...],
    workers: int | None,
    rule_timeout: float,
    message_format: str,
    config_files: tuple[str, ...],
    assignments: tuple[str, ...],
    max_body: int,
    watch: bool,
    configmap_selector: str | None,
    configmap_namespaces: tuple[str, ...],
    kubeconfig: Path | None,
    cluster_cache: bool,
    handshake_timeout: float,
    client_timeout: float,
    keepalive_timeout: int,
    max_connections: int,
    drain_timeout: float,
    decision_log: str,
    metrics_dir: Path | None,
    console_port: int | None,
    console_host: str,
    console_token_file: Path | None,
    console_client_ca: Path | None,
    console_tls: bool,
    state_dir: Path | None,
    load_timeout: float,
    require_tests: bool,
    audit_interval: float,
    report_api: str,
    audit_lease_duration: float,
    console_allowed_hosts: tuple[str, ...],
    log_level: str,
    opa: OpaServing,
    bundle_server: BundleServer | None,
) -> int:
    """Serve the rules in BUNDLE as a Kubernetes admission webhook over HTTPS.

    \b
    Endpoints:
      POST /validate, /mutate      AdmissionReview admission.k8s.io/v1 and v1beta1
      GET|POST /v1/data/{path}     OPA's decision API: @admit.decision rules and bundle data
      POST /v0/data/{path}, /      OPA's webhook forms (raw input; / is --default-decision)
      GET /healthz, /readyz        liveness; readiness with the bundle's digest and revision
      GET /health[?bundles]        OPA's health checks
      GET /metrics                 Prometheus metrics (admit_*)
    Policies come from BUNDLE (a directory, reloaded when it changes), --configmaps, or
    --bundle-url (a tarball on a bundle server, as `admit build` makes one).
    Every decision is a JSON line in OPA's decision-log format (--decision-log), and with
    --decision-log-url is shipped to a service as OPA ships them.
    With --console-port, a web console on http://127.0.0.1:PORT (policies, live decisions, a
    playground and policy editor whose edits run in a sandbox, never in the server). To reach it
    from elsewhere, give it a token or client certificates (--console-token-file,
    --console-client-ca), or tunnel to it (kubectl port-forward, ssh -L).

    \b
    Local try-out:
      admit serve examples/seed --self-signed --port 8443
      curl --cacert admit-tls/ca.crt -H 'Content-Type: application/json' \\
           --data-binary @examples/seed/reviews/pod-bad-tag.json https://127.0.0.1:8443/validate
    """
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if self_signed and (tls_cert or tls_key):
        raise click.UsageError("give either --self-signed or --tls-cert/--tls-key, not both")
    if not self_signed and not (tls_cert and tls_key):
        raise click.UsageError(
            "HTTPS needs --tls-cert and --tls-key (or --self-signed for local use)"
        )
    given = [bundle is not None, configmap_selector is not None, bundle_server is not None]
    if sum(given) != 1:
        raise click.UsageError(
            "serve a BUNDLE directory, --configmaps SELECTOR or --bundle-url URL (one of them)"
        )
    if bundle is None and (config_files or assignments):
        where = (
            "with --configmaps, set parameters in each ConfigMap's admit.yaml"
            if configmap_selector is not None
            else "with --bundle-url, set parameters in the bundle's admit.yaml"
        )
        raise click.UsageError(f"--set and --config apply to a BUNDLE; {where}")
    from admit.console.access import ConsoleAccess

    access = ConsoleAccess(console_token_file, console_client_ca, console_tls)
    if console_port and (problems := access.problems(console_host)):
        raise click.UsageError("; ".join(problems))
    overrides = Overrides.read(config_files, assignments)
    run_root = state_dir or Path(tempfile.mkdtemp(prefix="admit-run-"))
    feed = _feed_socket() if console_port else None
    try:
        from admit.loading.versions import RunDirectory

        run = RunDirectory(run_root)
        from admit.loading.overlay import OverridingPublisher
        from admit.loading.publisher import Publisher

        if bundle is not None:
            source, name = str(bundle), bundle.resolve().name
        elif bundle_server is not None:
            source, name = bundle_server.url, bundle_server.settings().bundle_name
        else:
            namespaces = ", ".join(_namespaces(configmap_namespaces))
            source, name = f"configmaps {configmap_selector} in {namespaces}", ""
        settings: dict[str, Any] = {
            "timeout": load_timeout,
            "watching": watch or bundle is None,
            "require_tests": require_tests,
            "name": name,
        }
        publisher = (
            OverridingPublisher(run, source, overrides=overrides, **settings)
            if overrides
            else Publisher(run, source, **settings)
        )
        if bundle is not None:
            policies = _bundle_source(bundle, watch, run, publisher)
        elif bundle_server is not None:
            policies = _bundle_server_source(bundle_server, run, publisher)
        else:
            policies = _configmap_source(
                configmap_selector or "", configmap_namespaces, kubeconfig, run, publisher
            )
        ca = None
        if self_signed:
            ca, tls_cert, tls_key = _self_signed(tls_dir, host, sans)
        assert tls_cert is not None
        assert tls_key is not None
        from admit.server.config import ServerConfig

        config = ServerConfig(
            tls_cert=tls_cert,
            tls_key=tls_key,
            host=host,
            port=port,
            workers=workers or os.cpu_count() or 1,
            rule_timeout=rule_timeout,
            message_format=message_format,
            max_body=max_body,
            handshake_timeout=handshake_timeout,
            client_timeout=client_timeout,
            keepalive_timeout=keepalive_timeout,
            max_connections=max_connections,
            drain_timeout=drain_timeout,
            decision_log=None if decision_log == "off" else decision_log,
            decision_logs=opa.decision_logs,
            decision_upload=opa.decision_upload,
            default_decision=opa.default_decision,
            metrics_dir=_metrics_dir(metrics_dir or run.root / "metrics"),
            feed_socket=feed,
            run_dir=run.root,
        )
        console = (
            (console_port, console_host, console_allowed_hosts, access) if console_port else None
        )
        audit = (
            _auditor(config, kubeconfig, audit_interval, report_api, audit_lease_duration)
            if audit_interval
            else None
        )
        return _run(config, policies, ca, bundle, kubeconfig, cluster_cache, console, audit)
    finally:
        if feed is not None:
            shutil.rmtree(feed.parent, ignore_errors=True)
        if state_dir is None:
            shutil.rmtree(run_root, ignore_errors=True)


@dataclass(frozen=True)
class _Policies:
    """How the server gets its policies: a source process (None: the first version stays),
    what to call it in messages, and the kinds the published version's rules read."""

    source: Callable[[Path | None], None] | None  # given the metrics directory
    what: str
    reads: tuple[list[Any], ...]  # `KindPattern.record()`s


def _run(
    config: Any,
    policies: _Policies,
    ca: Path | None,
    bundle: Path | None,
    kubeconfig: Path | None,
    cluster_cache: bool,
    console: tuple[int, str, tuple[str, ...], Any] | None,
    audit: Callable[[], None] | None = None,
) -> int:
    """Bind, say what is served where, and supervise until SIGTERM."""
    from admit.server.supervisor import Supervisor
    from admit.server.worker import listening_socket

    try:
        config.ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(f"the TLS certificate or key cannot be used: {exc}") from None
    cluster = _cluster_factory(policies.reads, kubeconfig) if cluster_cache else None
    try:
        sock = listening_socket(config.host, config.port)
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = " (is another server running there? choose another --port)"
        raise ServeError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}{hint}"
        ) from None
    try:
        url = _say_where(config, policies.what, ca, bundle)
        console_process = None
        if console is not None:
            port, console_host, allowed, access = console
            console_process = _console(config, console_host, port, url, allowed, access)
        supervisor = Supervisor(
            config,
            sock,
            functools.partial(_store, config.run_dir, config.message_format),
            source=(
                functools.partial(policies.source, config.metrics_dir) if policies.source else None
            ),
            cluster_factory=cluster,
            console=console_process,
            audit=audit,
        )
    except BaseException:
        sock.close()
        raise
    return supervisor.run()


def _say_where(config: Any, what: str, ca: Path | None, bundle: Path | None) -> str:
    """Print what is served where; the URL clients use from this machine."""
    everywhere = config.host in ("0.0.0.0", "::")
    shown = "127.0.0.1" if everywhere else config.host
    url = f"https://{'[' + shown + ']' if ':' in shown else shown}:{config.port}"
    bound = f" (bound to {config.host}: all interfaces)" if everywhere else ""
    click.echo(
        f"admit: serving {what} on {url}{bound} with {config.workers} workers", err=True
    )
    if ca is not None:
        click.echo(f"admit: CA certificate for clients: {ca}", err=True)
        example = bundle / "reviews" if bundle is not None else None
        review = (
            next(iter(sorted(example.glob("*.json"))), None)
            if example is not None and example.is_dir()
            else None
        )
        if review is not None:
            click.echo(
                f"admit: try  curl --cacert {ca} -H 'Content-Type: application/json' "
                f"--data-binary @{review} {url}/validate",
                err=True,
            )
    return url


def _store(run_dir: Path, message_format: str, transform: Any) -> Any:
    """A process's policy store (built in the worker or console, after the fork); each set it
    serves words its denials by --message-format."""
    from admit.loading.store import PolicyStore
    from admit.loading.versions import RunDirectory

    def worded(policy_set: Any) -> Any:
        served = transform(policy_set) if transform is not None else policy_set
        return served.with_message_format(message_format)

    return PolicyStore(RunDirectory(run_dir), transform=worded)


def _feed_socket() -> Path:
    """A private directory for the console's decision feed socket (short: UNIX path limit)."""
    return Path(tempfile.mkdtemp(prefix="admit-console-")) / "feed.sock"


def _console(
    config: Any, host: str, port: int, webhook_url: str, allowed: tuple[str, ...], access: Any
) -> Any:
    """What the supervisor runs in the console process; its port is bound now, so a taken port
    is a usage error at start rather than a console that keeps dying."""
    from admit.console.access import is_loopback
    from admit.console.hosts import host_names
    from admit.console.process import console_socket, run_console

    try:
        sock = console_socket(host, port)
    except OSError as exc:
        raise ServeError(f"the console cannot listen on {host}:{port}: {exc}") from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    scheme = "https" if access.https else "http"
    how = " (token required)" if access.token_file else ""
    how += " (client certificates required)" if access.client_ca else ""
    click.echo(f"admit: console on {scheme}://{shown}:{port}{how}", err=True)
    if access.token_file and not access.https and not is_loopback(host):
        click.echo(
            "admit: warning: the console's token crosses the network in clear; add --console-tls",
            err=True,
        )
    names = host_names(host, allowed)
    store = functools.partial(_store, config.run_dir, config.message_format)
    return functools.partial(run_console, config, store, sock, webhook_url, names, access)


def _auditor(
    config: Any, kubeconfig: Path | None, interval: float, api: Any, lease_duration: float
) -> Callable[[], None]:
    """What the supervisor runs in the audit process (`--audit-interval`)."""
    from admit.kube.api import ClusterAccessError, check_access, connect
    from admit.kube.auditor import run_auditor

    try:
        server = check_access(kubeconfig)
    except ClusterAccessError as exc:
        raise click.UsageError(f"--audit-interval audits a cluster, but {exc}") from None
    lease = _namespaces(())[0]
    click.echo(
        f"admit: auditing the objects of {server} every {interval:g}s ({api} reports; lease "
        f"{lease}/admit-audit)",
        err=True,
    )
    return functools.partial(
        run_auditor,
        config.run_dir,
        config.metrics_dir,
        functools.partial(connect, kubeconfig),
        interval=interval,
        api=api,
        rule_timeout=config.rule_timeout,
        message_format=config.message_format,
        lease_namespace=lease,
        lease_duration=lease_duration,
    )


def _restore(run: Any) -> Any:
    """With --state-dir: the version the last run served, marked restored (served until the
    source publishes one); None when there is none."""
    import dataclasses
    import time

    version = run.published()
    if version is None:
        return None
    snapshot = run.versions / version.digest
    if not snapshot.is_dir():
        return None
    version = dataclasses.replace(
        version, path=str(snapshot), restored=True, published=time.time()
    )
    run.publish(version)
    return version


def _namespaces(given: tuple[str, ...]) -> list[str]:
    """The namespaces whose ConfigMaps are watched."""
    return list(given) or [os.environ.get("POD_NAMESPACE") or "default"]


def _bundle_source(bundle: Path, watch: bool, run: Any, publisher: Any) -> _Policies:
    """Publish the bundle now (its load errors stop the start, unless --state-dir has a last
    good version), and follow it in a source process when watching."""
    from admit.core.errors import BundleError, Problem
    from admit.loading.reload import DirectorySource
    from admit.server.source import run_source

    if not bundle.is_dir():
        what = "does not exist" if not bundle.exists() else "is not a directory"
        message = f"{what}; a bundle is a directory of .py rule modules"
        raise BundleError([Problem(str(bundle), None, "not_a_bundle", message)])
    restored = _restore(run)
    source = DirectorySource(bundle, publisher)
    event = source.check()
    if event is not None and event.result == "error":
        assert publisher.last_report is not None
        if restored is None:
            raise publisher.last_report.error()
        click.echo(
            f"admit: {bundle} failed to load; serving the last good version "
            f"{restored.digest[:12]} from --state-dir until it loads:\n  "
            + "\n  ".join(event.problems),
            err=True,
        )
    version = run.published()
    assert version is not None
    what = f"{bundle} ({len(version.rules)} rules, digest {version.digest[:12]})"
    runner = (
        functools.partial(run_source, source.watch, publisher)
        if watch
        else None
    )
    return _Policies(runner, what, version.reads)


def _configmap_source(
    selector: str,
    namespaces: tuple[str, ...],
    kubeconfig: Path | None,
    run: Any,
    publisher: Any,
) -> _Policies:
    """ConfigMaps are followed in a source process; until it publishes a version that loads
    (or with --state-dir, the last run's), the server is not ready and denies."""
    from admit.kube.api import ClusterAccessError, check_access, connect
    from admit.kube.sources import ConfigMapSource
    from admit.server.source import run_source

    try:
        server = check_access(kubeconfig)
    except ClusterAccessError as exc:
        raise click.UsageError(f"--configmaps needs cluster access, but {exc}") from None
    watched = _namespaces(namespaces)
    what = f"the ConfigMaps {selector} in {', '.join(watched)} of {server}"
    restored = _restore(run)
    source = ConfigMapSource(functools.partial(connect, kubeconfig), watched, selector, publisher)
    runner = functools.partial(run_source, source.watch, publisher)
    return _Policies(runner, what, restored.reads if restored is not None else ())


def _bundle_server_source(given: BundleServer, run: Any, publisher: Any) -> _Policies:
    """A bundle server is polled in the source process; until a bundle from it loads (or with
    --state-dir, the last run's), the server is not ready and denies."""
    from admit.loading.bundle_server import BundleServerSource
    from admit.server.source import run_source

    restored = _restore(run)
    source = BundleServerSource(given.settings(), publisher)
    runner = functools.partial(run_source, source.watch, publisher)
    what = f"the bundle {given.url}"
    return _Policies(runner, what, restored.reads if restored is not None else ())


def _cluster_factory(reads: tuple[list[Any], ...], kubeconfig: Path | None) -> Any:
    """A factory of cluster caches for the workers, or None when no rule reads the cluster and
    no cluster is configured. Rules that read a cluster we cannot reach are a usage error."""
    from admit.core.match import KindPattern
    from admit.kube.api import ClusterAccessError, check_access, connect
    from admit.kube.cluster_cache import ClusterCache, watchable

    kinds = [KindPattern.from_record(kind) for kind in reads]
    problems = [p for p in (watchable(kind) for kind in kinds) if p]
    if problems:
        raise click.UsageError("; ".join(problems))
    try:
        server = check_access(kubeconfig)
    except ClusterAccessError as exc:
        if not kinds:
            return None
        raise click.UsageError(
            f"rules read {', '.join(map(str, kinds))} from the cluster, but {exc}; give "
            "--kubeconfig, run "
            "in a cluster, or pass --no-cluster-cache to serve them an empty cache"
        ) from None
    click.echo(f"admit: caching the kinds rules read from {server}", err=True)
    return functools.partial(ClusterCache, functools.partial(connect, kubeconfig))


def _read_input(path: str) -> Any:
    import yaml

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"neither JSON nor YAML: {exc}", path=path) from None


@click.command("eval", epilog=BUNDLE_HELP)
@click.argument("bundle", type=BUNDLE)
@click.argument("path")
@click.option(
    "-i",
    "--input",
    "input_path",
    default=None,
    help="The input document (JSON or YAML file, - for stdin); without it, input is undefined "
    "and rules read it as missing.",
)
def eval_command(bundle: Path, path: str, input_path: str | None) -> int:
    """Evaluate the document at PATH (like POST /v1/data/PATH) and print {"result": ...}.

    PATH names a decision, bundle data, or a part of the document holding both, in any form
    OPA users write: data.httpapi.authz.allow, httpapi/authz/allow, data (everything).

    \b
    Example:
      admit eval policies/ data.httpapi.authz.allow --input request.json

    Prints {} when PATH is undefined. Exit codes: 0 evaluated, 1 the decision raised,
    2 usage or unreadable input, 3 the bundle failed to load.
    """
    segments = path_segments(path)
    policy_set = load_bundle(bundle)
    document = _read_input(input_path) if input_path else UNDEFINED
    answer = read(policy_set, segments, document)
    click.echo(json.dumps({"result": answer.value} if answer.defined else {}, indent=2))
    return 0
