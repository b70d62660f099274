"""Where `admit serve` gets its policies: a BUNDLE directory, ConfigMaps (`--configmaps`) or a
bundle server (`--bundle-url`). Each is published through one `Publisher` into the run
directory and followed in the supervisor's source process. A BUNDLE that does not load stops
the start (unless --state-dir holds a last good version); the other sources start not ready,
denying, until a version loads.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from admit.cli.opa_settings import BundleServer
from admit.cli.serve_settings import ServeSettings

if TYPE_CHECKING:
    from admit.loading.overrides import Overrides
    from admit.loading.publisher import Publisher
    from admit.loading.versions import RunDirectory, Version


@dataclass(frozen=True)
class ServedPolicies:
    """How the server gets its policies: a source process (None: the first version stays),
    what to call it in messages, and the kinds the published version's rules read."""

    source: Callable[[Path | None], None] | None  # given the metrics directory
    what: str
    reads: tuple[list[object], ...]  # `KindPattern.record()`s


def served_policies(
    settings: ServeSettings, run: RunDirectory, overrides: Overrides
) -> ServedPolicies:
    """Publish the first version (a BUNDLE's, now) and say how the rest will come."""
    from admit.loading.overlay import OverridingPublisher
    from admit.loading.publisher import Publisher

    bundle, policies, bundle_server = settings.bundle, settings.policies, settings.bundle_server
    if bundle is not None:
        source, name = str(bundle), bundle.resolve().name
    elif bundle_server.url is not None:
        source, name = bundle_server.url, bundle_server.source_settings().bundle_name
    else:
        watched = ", ".join(namespaces(policies.configmap_namespaces))
        source, name = f"configmaps {policies.configmaps} in {watched}", ""
    timeout, tests, watching = policies.load_timeout, policies.require_tests, policies.watch
    publisher = (
        OverridingPublisher(run, source, overrides=overrides, timeout=timeout,
                            watching=watching or bundle is None, require_tests=tests, name=name)
        if overrides
        else Publisher(run, source, timeout=timeout, watching=watching or bundle is None,
                       require_tests=tests, name=name)
    )  # fmt: skip
    if bundle is not None:
        return _bundle_source(bundle, policies.watch, run, publisher)
    if bundle_server.url is not None:
        return _bundle_server_source(bundle_server, run, publisher)
    assert policies.configmaps is not None
    return _configmap_source(
        policies.configmaps,
        policies.configmap_namespaces,
        settings.cluster.kubeconfig,
        run,
        publisher,
    )


def namespaces(given: tuple[str, ...]) -> list[str]:
    """The namespaces whose ConfigMaps are watched (and, first of them, the audit's Lease's)."""
    return list(given) or [os.environ.get("POD_NAMESPACE") or "default"]


def _restore(run: RunDirectory) -> Version | None:
    """With --state-dir: the version the last run served, marked restored (served until the
    source publishes one); None when there is none."""
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


def _bundle_source(
    bundle: Path, watch: bool, run: RunDirectory, publisher: Publisher
) -> ServedPolicies:
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
    runner = functools.partial(run_source, source.watch, publisher) if watch else None
    return ServedPolicies(runner, what, version.reads)


def _configmap_source(
    selector: str,
    given: tuple[str, ...],
    kubeconfig: Path | None,
    run: RunDirectory,
    publisher: Publisher,
) -> ServedPolicies:
    """ConfigMaps are followed in a source process; until it publishes a version that loads
    (or with --state-dir, the last run's), the server is not ready and denies."""
    from admit.kube.api import ClusterAccessError, check_access, connect
    from admit.kube.sources import ConfigMapSource
    from admit.server.source import run_source

    try:
        server = check_access(kubeconfig)
    except ClusterAccessError as exc:
        raise click.UsageError(f"--configmaps needs cluster access, but {exc}") from None
    watched = namespaces(given)
    what = f"the ConfigMaps {selector} in {', '.join(watched)} of {server}"
    restored = _restore(run)
    source = ConfigMapSource(functools.partial(connect, kubeconfig), watched, selector, publisher)
    runner = functools.partial(run_source, source.watch, publisher)
    return ServedPolicies(runner, what, restored.reads if restored is not None else ())


def _bundle_server_source(
    given: BundleServer, run: RunDirectory, publisher: Publisher
) -> ServedPolicies:
    """A bundle server is polled in the source process; until a bundle from it loads (or with
    --state-dir, the last run's), the server is not ready and denies."""
    from admit.loading.bundle_server import BundleServerSource
    from admit.server.source import run_source

    restored = _restore(run)
    source = BundleServerSource(given.source_settings(), publisher)
    runner = functools.partial(run_source, source.watch, publisher)
    what = f"the bundle {given.url}"
    return ServedPolicies(runner, what, restored.reads if restored is not None else ())
