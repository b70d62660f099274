"""The Kubernetes API's built-in kinds, read from `api_resources.json` on first use.

That file is generated from lightkube-models (generated in turn from the Kubernetes OpenAPI
spec), so kinds, groups, versions, plurals, scope and subresources follow the API, not a table
kept by hand. Regenerate it after upgrading lightkube-models with `make kinds`; a test fails
while it is stale. Read lazily and once per process: `import admit` never pays for it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from admit.core.kinds import ApiResource, Kinds

DATA = Path(__file__).with_name("api_resources.json")

# Subresources served only to CONNECT (kubectl exec, attach, port-forward, proxy): the OpenAPI
# spec lists them as paths without a schema, and lightkube-models leaves them out. Names and
# kinds as kube-apiserver sends them (recorded: CONNECT pods/exec, kind v1 PodExecOptions).
CONNECT_SUBRESOURCES: dict[tuple[str, str], dict[str, str]] = {
    ("", "pods"): {
        "attach": "PodAttachOptions",
        "exec": "PodExecOptions",
        "portforward": "PodPortForwardOptions",
        "proxy": "PodProxyOptions",
    },
    ("", "services"): {"proxy": "ServiceProxyOptions"},
    ("", "nodes"): {"proxy": "NodeProxyOptions"},
}


@cache
def builtin_kinds() -> Kinds:
    """Every built-in resource of the Kubernetes API (read once per process)."""
    document = json.loads(DATA.read_text(encoding="utf-8"))
    return Kinds(_resource(row) for row in document["resources"])


def _resource(row: list[Any]) -> ApiResource:
    group, version, kind, plural, namespaced, subresources = row
    return ApiResource(
        group,
        version,
        kind,
        plural,
        namespaced,
        tuple((name, tuple(sub)) for name, sub in sorted(subresources.items())),
    )


def generate() -> dict[str, Any]:
    """The content of `api_resources.json`, from the installed lightkube-models."""
    import importlib
    import importlib.metadata
    import inspect
    import pkgutil

    import lightkube.resources
    from lightkube.core import resource as res

    rows: dict[tuple[str, str, str], list[Any]] = {}
    subresources: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    for module_info in pkgutil.iter_modules(lightkube.resources.__path__):
        module = importlib.import_module(f"lightkube.resources.{module_info.name}")
        for cls in vars(module).values():
            info = getattr(cls, "_api_info", None)
            if not inspect.isclass(cls) or cls.__module__ != module.__name__ or info is None:
                continue
            sent = [info.resource.group, info.resource.version, info.resource.kind]
            if info.parent is None:
                namespaced = issubclass(cls, res.NamespacedResource)
                rows[(sent[0], sent[1], sent[2])] = [*sent, info.plural, namespaced]
            else:
                parent = (info.parent.group, info.parent.version, info.parent.kind)
                subresources.setdefault(parent, {})[info.action] = sent
    resources = []
    for key, row in sorted(rows.items()):
        subs = dict(subresources.get(key, {}))
        for name, kind in CONNECT_SUBRESOURCES.get((row[0], row[3]), {}).items():
            subs[name] = ["", row[1], kind]
        resources.append([*row, dict(sorted(subs.items()))])
    version = importlib.metadata.version("lightkube-models")
    return {"source": f"lightkube-models {version}", "resources": resources}


def write() -> None:
    """Regenerate `api_resources.json` (one resource per line, so diffs stay readable)."""
    document = generate()
    lines = ",\n".join(json.dumps(row, separators=(",", ":")) for row in document["resources"])
    DATA.write_text(
        f'{{"source": {json.dumps(document["source"])},\n"resources": [\n{lines}\n]}}\n',
        encoding="utf-8",
    )


if __name__ == "__main__":
    write()
