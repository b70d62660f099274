"""`admit serve`: the admission webhook over HTTPS.

The command is handed one `ServeSettings` (serve_settings.py: every option, environment variable
and --settings key), checks it, publishes the first policy version (serve_sources.py), maps the
settings onto the server's own `ServerConfig` (`server_config`, the one place) and runs the
supervisor, which forks the workers, the policy source, the console and the audit.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from admit.cli import flags
from admit.cli.options import BUNDLE_HELP
from admit.cli.serve_settings import Console, ServeSettings, Tls
from admit.cli.serve_sources import ServedPolicies, namespaces, served_policies
from admit.core.errors import ServeError
from admit.loading.overrides import Overrides

if TYPE_CHECKING:
    from admit.core.engine import PolicySet
    from admit.kube.cluster_cache import ClusterCache
    from admit.loading.store import PolicyStore
    from admit.server.config import ServerConfig
    from admit.server.decision_log import DecisionLogSettings
    from admit.server.decision_upload import UploadSettings


@flags.command(ServeSettings, epilog=BUNDLE_HELP)
def serve(settings: ServeSettings) -> int:
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
    Each option can also be set by the environment variable shown with it, or as a key of a
    --settings YAML file (the command line wins, then the environment, then the file).

    \b
    Local try-out:
      admit serve examples/seed --self-signed --port 8443
      curl --cacert admit-tls/ca.crt -H 'Content-Type: application/json' \\
           --data-binary @examples/seed/reviews/pod-bad-tag.json https://127.0.0.1:8443/validate
    """
    events, upload = settings.decision_log.events(), settings.decision_log.upload()
    settings.check()
    logging.basicConfig(
        level=settings.server.log_level.upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    overrides = Overrides.read(settings.policies.config_files, settings.policies.assignments)
    state_dir = settings.policies.state_dir
    run_root = state_dir or Path(tempfile.mkdtemp(prefix="admit-run-"))
    feed = _feed_socket() if settings.console.port else None
    try:
        from admit.loading.versions import RunDirectory

        run = RunDirectory(run_root)
        policies = served_policies(settings, run, overrides)
        ca, cert, key = _tls_files(settings.tls, settings.server.host)
        config = server_config(
            settings,
            cert,
            key,
            events=events,
            upload=upload,
            metrics_dir=_metrics_dir(settings.server.metrics_dir or run.root / "metrics"),
            feed_socket=feed,
            run_dir=run.root,
        )
        audit = _auditor(config, settings, run.root) if settings.audit.interval else None
        return _run(config, settings, policies, ca, run.root, audit)
    finally:
        if feed is not None:
            shutil.rmtree(feed.parent, ignore_errors=True)
        if state_dir is None:
            shutil.rmtree(run_root, ignore_errors=True)


def server_config(
    settings: ServeSettings,
    tls_cert: Path,
    tls_key: Path,
    *,
    events: DecisionLogSettings,
    upload: UploadSettings | None,
    metrics_dir: Path,
    feed_socket: Path | None,
    run_dir: Path,
) -> ServerConfig:
    """The settings as the server's own configuration, what every worker is given: the one
    place they are mapped onto it."""
    from admit.server.config import ServerConfig

    server, connections = settings.server, settings.connections
    evaluation, decision_log = settings.evaluation, settings.decision_log
    return ServerConfig(
        tls_cert=tls_cert,
        tls_key=tls_key,
        host=server.host,
        port=server.port,
        workers=server.workers or os.cpu_count() or 1,
        rule_timeout=evaluation.rule_timeout,
        message_format=evaluation.message_format,
        max_body=connections.max_body,
        handshake_timeout=connections.handshake_timeout,
        client_timeout=connections.client_timeout,
        keepalive_timeout=connections.keepalive_timeout,
        max_connections=connections.max_connections,
        drain_timeout=server.drain_timeout,
        decision_log=decision_log.path,
        decision_logs=events,
        decision_upload=upload,
        default_decision=evaluation.default_decision,
        metrics_dir=metrics_dir,
        feed_socket=feed_socket,
        run_dir=run_dir,
    )


def _tls_files(tls: Tls, host: str) -> tuple[Path | None, Path, Path]:
    """The CA (with --self-signed, made now in --tls-dir), the serving certificate and key."""
    if tls.self_signed:
        from admit.kube.certs import self_signed

        names = ["localhost", "127.0.0.1", "::1"]
        if host not in ("0.0.0.0", "::", *names):
            names.append(host)
        return self_signed(tls.directory, [*names, *tls.sans])
    assert tls.cert is not None
    assert tls.key is not None
    return None, tls.cert, tls.key


def _metrics_dir(directory: Path) -> Path:
    """A clean directory where the processes publish their metrics for /metrics."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("worker-*.json"):
        stale.unlink()
    return directory


def _run(
    config: ServerConfig,
    settings: ServeSettings,
    policies: ServedPolicies,
    ca: Path | None,
    run_dir: Path,
    audit: Callable[[], None] | None,
) -> int:
    """Bind, say what is served where, and supervise until SIGTERM."""
    from admit.server.supervisor import Supervisor
    from admit.server.worker import listening_socket

    try:
        config.ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(f"the TLS certificate or key cannot be used: {exc}") from None
    cluster = (
        _cluster_factory(policies.reads, settings.cluster.kubeconfig)
        if settings.cluster.cache
        else None
    )
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
        url = _say_where(config, policies.what, ca, settings.bundle)
        console = (
            _console(config, settings.console, url, run_dir) if settings.console.port else None
        )
        source = policies.source
        supervisor = Supervisor(
            config,
            sock,
            functools.partial(_store, run_dir, config.message_format),
            source=functools.partial(source, config.metrics_dir) if source else None,
            cluster_factory=cluster,
            console=console,
            audit=audit,
        )
    except BaseException:
        sock.close()
        raise
    return supervisor.run()


def _say_where(config: ServerConfig, what: str, ca: Path | None, bundle: Path | None) -> str:
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


def _store(
    run_dir: Path,
    message_format: str,
    transform: Callable[[PolicySet], PolicySet] | None,
) -> PolicyStore:
    """A process's policy store (built in the worker or console, after the fork); each set it
    serves words its denials by --message-format."""
    from admit.loading.store import PolicyStore
    from admit.loading.versions import RunDirectory

    def worded(policy_set: PolicySet) -> PolicySet:
        served = transform(policy_set) if transform is not None else policy_set
        return served.with_message_format(message_format)

    return PolicyStore(RunDirectory(run_dir), transform=worded)


def _feed_socket() -> Path:
    """A private directory for the console's decision feed socket (short: UNIX path limit)."""
    return Path(tempfile.mkdtemp(prefix="admit-console-")) / "feed.sock"


def _console(
    config: ServerConfig, console: Console, webhook_url: str, run_dir: Path
) -> Callable[[], None]:
    """What the supervisor runs in the console process; its port is bound now, so a taken port
    is a usage error at start rather than a console that keeps dying."""
    from admit.console.access import is_loopback
    from admit.console.hosts import host_names
    from admit.console.process import console_socket, run_console

    host, port, access = console.host, console.port, console.access()
    assert port is not None
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
    names = host_names(host, console.allowed_hosts)
    store = functools.partial(_store, run_dir, config.message_format)
    return functools.partial(run_console, config, store, sock, webhook_url, names, access)


def _auditor(config: ServerConfig, settings: ServeSettings, run_dir: Path) -> Callable[[], None]:
    """What the supervisor runs in the audit process (`--audit-interval`)."""
    from admit.kube.api import ClusterAccessError, check_access, connect
    from admit.kube.auditor import run_auditor

    audit, kubeconfig = settings.audit, settings.cluster.kubeconfig
    try:
        server = check_access(kubeconfig)
    except ClusterAccessError as exc:
        raise click.UsageError(f"--audit-interval audits a cluster, but {exc}") from None
    lease = namespaces(())[0]
    click.echo(
        f"admit: auditing the objects of {server} every {audit.interval:g}s "
        f"({audit.report_api} reports; lease {lease}/admit-audit)",
        err=True,
    )
    return functools.partial(
        run_auditor,
        run_dir,
        config.metrics_dir,
        functools.partial(connect, kubeconfig),
        interval=audit.interval,
        api=audit.report_api,
        rule_timeout=config.rule_timeout,
        message_format=config.message_format,
        lease_namespace=lease,
        lease_duration=audit.lease_duration,
    )


def _cluster_factory(
    reads: tuple[list[object], ...], kubeconfig: Path | None
) -> Callable[[], ClusterCache] | None:
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
            "--kubeconfig, run in a cluster, or pass --no-cluster-cache to serve them an empty "
            "cache"
        ) from None
    click.echo(f"admit: caching the kinds rules read from {server}", err=True)
    return functools.partial(ClusterCache, functools.partial(connect, kubeconfig))
