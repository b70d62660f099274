"""`admit check`: evaluate manifests offline exactly as the webhook would."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import click

from admit.cli.report import Checked, to_json, to_junit, to_table
from admit.core.cluster import Cluster
from admit.core.engine import PolicySet, evaluate
from admit.core.errors import InputError
from admit.core.manifest import admission_request
from admit.core.match import OPERATIONS
from admit.core.review import Request
from admit.loading.loader import load_bundle
from admit.loading.manifests import Manifest, read_manifests


def check_manifests(
    policy_set: PolicySet,
    manifests: list[Manifest],
    *,
    operation: str = "CREATE",
    namespace: str = "default",
    user: Mapping[str, Any] | None = None,
) -> list[Checked]:
    """Evaluate each manifest as the AdmissionRequest kube-apiserver would send for it."""
    cluster = Cluster.of(m.obj for m in manifests)  # Namespaces among them give their labels
    checked = []
    for m in manifests:
        deleting = operation == "DELETE"
        raw = admission_request(
            None if deleting else m.obj,
            kinds=policy_set.kinds,
            operation=operation,
            namespace=namespace,
            old_object=m.obj if operation in ("UPDATE", "DELETE") else None,
            user=user,
        )
        ns = raw.get("namespace", "")
        request = Request(raw, cluster=cluster)
        checked.append(Checked(m, evaluate(policy_set, request), ns))
    return checked


@click.command()
@click.argument("bundle", type=click.Path(file_okay=False))
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--operation",
    type=click.Choice(sorted(OPERATIONS), case_sensitive=False),
    default="CREATE",
    show_default=True,
    help="The operation to evaluate as.",
)
@click.option(
    "--namespace",
    default="default",
    show_default=True,
    help="Namespace for objects whose manifest names none.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "junit"]),
    default="table",
    show_default=True,
    help="table for people, json or junit for tools.",
)
@click.option(
    "--user",
    default="admit-check",
    show_default=True,
    help="The username rules see (for user/group matching).",
)
@click.option("--group", "groups", multiple=True, help="A group of the user (repeatable).")
@click.option("-v", "--verbose", is_flag=True, help="Table: also list passing and skipped rules.")
@click.option("--color/--no-color", default=None, help="Colour the table (default: on a TTY).")
def check(
    bundle: str,
    paths: tuple[str, ...],
    operation: str,
    namespace: str,
    output: str,
    user: str,
    groups: tuple[str, ...],
    verbose: bool,
    color: bool | None,
) -> int:
    """Check Kubernetes manifests against the rules in BUNDLE, offline.

    PATHS are YAML or JSON files (multi-document, List kinds), directories (searched
    recursively) or - for standard input. Each object is evaluated as the AdmissionRequest
    kube-apiserver would send for it: mutations first, then validations.

    \b
    Examples:
      admit check examples/seed examples/seed/pods/
      kubectl get deploy -A -o yaml | admit check policies/ - -o json
      helm template ./chart | admit check policies/ - -o junit > report.xml

    Exit codes: 0 nothing enforced failed, 1 an enforced rule failed or errored,
    2 usage or unreadable input, 3 the bundle failed to load.
    """
    policy_set = load_bundle(bundle)
    manifests: list[Manifest] = []
    errors: list[InputError] = []
    for item in read_manifests(paths):
        (errors if isinstance(item, InputError) else manifests).append(item)  # type: ignore[arg-type]
    for error in errors:
        click.echo(f"admit: {error}", err=True)
    user_info = {"username": user, "groups": [*groups, "system:authenticated"]}
    checked = check_manifests(
        policy_set, manifests, operation=operation.upper(), namespace=namespace, user=user_info
    )
    if output == "json":
        click.echo(json.dumps(to_json(checked, errors), indent=2))
    elif output == "junit":
        click.echo(to_junit(checked, errors))
    else:
        use_color = sys.stdout.isatty() if color is None else color
        click.echo(to_table(checked, verbose=verbose, color=use_color), color=use_color)
    if errors:
        return InputError.exit_code
    denied = any(not c.decision.allowed for c in checked)
    return 1 if denied else 0
