"""`admit audit`: what already violates a bundle, before anyone enforces it.

It judges existing objects as background checks (`admit.core.background`): from the cluster
(every object of the kinds the bundle's rules name, listed in pages through the same client as
the server's cache) or, given PATHS, from files and stdin as `admit check` reads them. Output as
`check` prints it (table, json, junit) or as policy reports (`-o report`: OpenReports, or with
`--report-api wgpolicyk8s` the older PolicyReport), the YAML `admit serve --audit-interval`
keeps in the cluster.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from admit.cli.expiry import exception_notes
from admit.cli.junit import to_junit
from admit.cli.options import BUNDLE, BUNDLE_HELP, overrides_options
from admit.cli.report import Checked, Report, to_json
from admit.cli.table import to_table
from admit.cli.terminal import wants_color, width
from admit.core.background import Background, audit_object, audited_kinds, background
from admit.core.cluster import Cluster, Key, object_key
from admit.core.errors import InputError
from admit.core.match import KindPattern
from admit.core.reports import REPORT_APIS, Audited, ReportApi, Subject, reports
from admit.loading.files import Manifest, Skipped, read_manifests
from admit.loading.loader import load_bundle
from admit.loading.overrides import Overrides

FORMATS = ("table", "json", "junit", "report")
CLUSTER_SOURCE = "<cluster>"


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """What the output needs of a listed object once judged (a cluster audit keeps no more)."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "uid") if k in meta}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": kept}


def judge_files(
    checks: Background, paths: tuple[str, ...], namespace: str
) -> tuple[list[Checked], list[InputError], list[Skipped]]:
    """Judge the objects in files (as `admit check` reads them)."""
    manifests: list[Manifest] = []
    errors: list[InputError] = []
    skipped: list[Skipped] = []
    for item in read_manifests(paths):
        if isinstance(item, Manifest):
            manifests.append(item)
        elif isinstance(item, Skipped):
            skipped.append(item)
        else:
            errors.append(item)
    cluster = Cluster.of(m.obj for m in manifests)
    checked = []
    for m in manifests:
        decision = audit_object(m.obj, checks, cluster=cluster, namespace=namespace)
        ns = str((m.obj.get("metadata") or {}).get("namespace") or "")
        checked.append(Checked(m, decision, ns or _namespace_of(checks, m.obj, namespace)))
    return checked, errors, skipped


def _namespace_of(checks: Background, obj: dict[str, Any], default: str) -> str:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    known = checks.policy_set.kinds.find(group, version, str(obj.get("kind", "")))
    return "" if known is not None and not known.namespaced else default


async def judge_cluster(
    checks: Background,
    connect: Callable[[], Any],
    namespaces: tuple[str, ...],
    progress: Callable[[str], None],
) -> list[Checked]:
    """List and judge the cluster's objects of the audited kinds, page by page."""
    from admit.kube.inventory import NotServed, list_pages

    client = connect()
    store: dict[Key, dict[tuple[str, str], Any]] = {}
    checked: list[Checked] = []
    try:
        for pattern in checks.policy_set.reads:  # what rules read: Namespaces' labels, say
            resource = _resource_of(checks, pattern)
            if resource is not None:
                async for items, _ in list_pages(client, resource):
                    for obj in items:
                        kind, key = object_key(obj)
                        store.setdefault(kind, {})[key] = obj
        cluster = Cluster(store)
        for resource in audited_kinds(checks.policy_set):
            if namespaces and not resource.namespaced:
                continue
            count = 0
            name = f"{resource.plural}{'.' + resource.group if resource.group else ''}"
            try:
                for ns in namespaces if resource.namespaced and namespaces else (None,):
                    async for items, _ in list_pages(client, resource, namespace=ns):
                        for obj in items:
                            decision = audit_object(obj, checks, cluster=cluster, namespace="")
                            slim = _slim(obj)
                            ns_of = str(slim["metadata"].get("namespace") or "")
                            manifest = Manifest(slim, CLUSTER_SOURCE, None)
                            checked.append(Checked(manifest, decision, ns_of))
                            count += 1
            except NotServed:
                progress(f"no {name}: the cluster does not serve {resource}")
                continue
            progress(f"{count} {name}")
    finally:
        await client.aclose()
    return checked


def _resource_of(checks: Background, pattern: KindPattern) -> Any:
    if pattern.resources is None or len(pattern.resources) != 1:
        return None
    return checks.policy_set.kinds.find(pattern.group, pattern.version, pattern.kind)


def to_reports(report: Report, api: ReportApi) -> str:
    """The policy reports of what was judged, as YAML documents."""
    rules = {r.key: r for r in report.policy_set.rules}
    now = time.time()
    audited = [
        Audited.of(Subject.of(item.manifest.obj, item.namespace), item.decision, rules, now)
        for item in report.checked
    ]
    documents = reports(audited, api)
    return yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True).rstrip("\n")


@click.command(epilog=BUNDLE_HELP)
@click.argument("bundle", type=BUNDLE)
@click.argument("paths", nargs=-1)
@click.option(
    "-o",
    "--output",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; json or junit for tools; report: policy reports as YAML (what "
    "`admit serve --audit-interval` writes into the cluster).",
)
@click.option(
    "--report-api",
    type=click.Choice(REPORT_APIS),
    default="openreports",
    show_default=True,
    help="-o report: OpenReports (openreports.io/v1alpha1 Report, ClusterReport) or the older "
    "wgpolicyk8s.io/v1alpha2 PolicyReport, ClusterPolicyReport.",
)
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    help="From the cluster: audit only these namespaces (repeatable; cluster-scoped kinds are "
    "then left out). From files: the namespace of objects whose manifest names none.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="ADMIT_KUBECONFIG",
    help="Cluster access (default: in-cluster, then $KUBECONFIG or ~/.kube/config).",
)
@overrides_options
@click.option("-v", "--verbose", is_flag=True, help="Table: also list passing rules.")
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the table  [default: on a terminal, unless NO_COLOR is set]",
)
def audit(
    bundle: Path,
    paths: tuple[str, ...],
    output: str,
    report_api: ReportApi,
    namespaces: tuple[str, ...],
    kubeconfig: Path | None,
    config_files: tuple[str, ...],
    assignments: tuple[str, ...],
    verbose: bool,
    color: bool | None,
) -> int:
    """Audit existing objects against the rules in BUNDLE: what already violates them.

    Without PATHS, every object of the kinds the bundle's rules name is listed from the
    cluster (in pages) and judged; with PATHS (files, directories, - for stdin), the objects
    in them are, offline. Each is judged as a background check: as the request that would
    create it, with no user, validations only. Rules that match on users or groups, or
    judge only UPDATE, DELETE or CONNECT, cannot judge an existing object: they are named on
    standard error and left out.

    \b
    Examples:
      admit audit policies/                       # the cluster of the current context
      admit audit policies/ -n team-a -o report   # OpenReports YAML for one namespace
      kubectl get pods -A -o yaml | admit audit library:pss-baseline -
      admit audit policies/ k8s/ -o json

    Exit codes: 0 nothing violates an enforced rule, 1 something does (or a rule errored),
    2 usage, unreadable input or no cluster access, 3 the bundle failed to load.
    """
    overrides = Overrides.read(config_files, assignments)
    policy_set = load_bundle(bundle, overrides=overrides)
    checks = background(policy_set)
    for key, why in checks.skipped:
        click.echo(f"admit: rule {key} is not audited: {why}", err=True)
    errors: list[InputError] = []
    skipped: list[Skipped] = []
    if paths:
        default = namespaces[0] if namespaces else "default"
        checked, errors, skipped = judge_files(checks, paths, default)
    else:
        checked = _from_cluster(checks, kubeconfig, namespaces)
    for error in errors:
        click.echo(f"admit: {error}", err=True)
    for note in skipped:
        click.echo(f"admit: skipped {note}", err=True)
    for line in exception_notes(policy_set.exceptions):
        click.echo(f"admit: {line}", err=True)
    report = Report(checked, checks.policy_set, errors, skipped)
    if output == "report":
        text = to_reports(report, report_api)
    elif output == "json":
        document = to_json(report)
        document["not_audited"] = [{"rule": k, "reason": why} for k, why in checks.skipped]
        text = json.dumps(document, indent=2)
    elif output == "junit":
        text = to_junit(report)
    else:
        use_color = wants_color(color)
        click.echo(to_table(report, verbose=verbose, color=use_color, width=width()),
                   color=use_color)  # fmt: skip
        return report.exit_code
    if text:
        click.echo(text)
    return report.exit_code


def _from_cluster(
    checks: Background, kubeconfig: Path | None, namespaces: tuple[str, ...]
) -> list[Checked]:
    import functools

    import httpx2 as httpx  # lightkube's HTTP client

    from admit.kube.api import ClusterAccessError, check_access, connect
    from admit.kube.inventory import ListFailed

    try:
        server = check_access(kubeconfig)
    except ClusterAccessError as exc:
        raise click.UsageError(
            f"auditing the cluster needs access to it, but {exc}; give --kubeconfig, or PATHS "
            "to audit files instead"
        ) from None
    click.echo(f"admit: auditing the objects of {server}", err=True)
    progress = functools.partial(click.echo, err=True)
    try:
        return asyncio.run(
            judge_cluster(
                checks,
                functools.partial(connect, kubeconfig),
                namespaces,
                lambda text: progress(f"admit: audited {text}"),
            )
        )
    except ListFailed as exc:
        raise InputError(str(exc)) from None
    except httpx.HTTPError as exc:
        raise InputError(f"cannot reach {server}: {exc}") from None
