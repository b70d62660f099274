"""`admit kinds`: the custom resources a cluster serves, as the `kinds:` block of admit.yaml.

Thin: discovery is `admit.kube.discovery`; this reads it once and prints YAML to paste (or
append) into a bundle's admit.yaml, so its rules may name those kinds everywhere, offline too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import yaml

from admit.loading.builtin_kinds import builtin_kinds


async def _discovered(kubeconfig: Path | None) -> list[Any]:
    from admit.kube.api import connect  # the cluster client only when a command needs it
    from admit.kube.discovery import discover

    client = connect(kubeconfig)
    try:
        return await discover(client)
    finally:
        await client.aclose()


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    help="kubeconfig to use (default: in-cluster, then $KUBECONFIG or ~/.kube/config).",
)
@click.option("--group", "groups", multiple=True, help="Only kinds of this API group (repeatable).")
def kinds(kubeconfig: Path | None, groups: tuple[str, ...]) -> int:
    """Print the custom resources the cluster serves as the `kinds:` block of admit.yaml.

    A rule may name a kind only if Kubernetes has it: built-in kinds are known, custom
    resources are declared in the bundle's admit.yaml. This reads the cluster's discovery once
    and prints those declarations (group, versions, kind, plural, scope, subresources).

    \b
    Example:
      admit kinds --group stable.example.com >> policies/admit.yaml
    """
    from admit.kube.discovery import custom, declarations

    found = custom(asyncio.run(_discovered(kubeconfig)), builtin_kinds())
    entries = [e for e in declarations(found) if not groups or e["group"] in groups]
    if not entries:
        wanted = f" in {', '.join(groups)}" if groups else ""
        click.echo(f"admit: the cluster serves no custom resources{wanted}", err=True)
        return 0
    click.echo(yaml.safe_dump({"kinds": entries}, sort_keys=False), nl=False)
    return 0
