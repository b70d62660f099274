"""The server's audit at scale: objects judged per second and the memory it keeps per object.

100,000 pods (copies of a pod kube-apiserver stored in the recording, each with its own name,
namespace, uid and resourceVersion; one in ten with an image the seed denies) go through the
auditor as a list would hand them over (`Auditor.changed`, judged in batches), then 1,000 of
them change (a watch's MODIFIED events) and are judged again. Memory is what the audit keeps
(tracemalloc: the findings and versions, not the objects, which are dropped once judged).

    .venv/bin/python bench/bench_audit.py [N]
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from admit.core.background import background  # noqa: E402
from admit.core.cluster import Cluster  # noqa: E402
from admit.core.kinds import ApiResource  # noqa: E402
from admit.kube.audit_store import AuditedStore  # noqa: E402
from admit.kube.auditor import Auditor  # noqa: E402
from admit.loading.loader import load_bundle  # noqa: E402

PODS = ApiResource("", "v1", "Pod", "pods", True)
RECORDED = ROOT / "tests/fixtures/apiserver/admission"


def pods(n: int):
    record = json.loads(next(RECORDED.glob("09-pod-create-complex--02-validate-*")).read_text())
    base = record["body"]["request"]["object"]
    for section in ("containers", "initContainers"):  # all trusted: 1 in 10 is made untrusted
        for container in base["spec"].get(section, ()):
            container["image"] = "192.168.64.1:5000/busybox:1.36"
    encoded = orjson.dumps(base)
    for i in range(n):
        pod = orjson.loads(encoded)  # decoded as the reflector decodes each list page
        meta = pod["metadata"]
        meta.update(name=f"pod-{i}", namespace=f"team-{i % 200}", uid=f"uid-{i:08d}",
                    resourceVersion=str(1000 + i))  # fmt: skip
        if i % 10 == 0:
            pod["spec"]["containers"][0]["image"] = "nginx:latest"
        yield pod


def auditor_for(policy_set):
    auditor = Auditor(SimpleNamespace(), lambda: None, interval=60)
    auditor.checks = background(policy_set)
    auditor.rules = {r.key: r for r in auditor.checks.policy_set.rules}
    auditor.cache = SimpleNamespace(cluster=Cluster(), synced=True)
    return auditor, AuditedStore(PODS, auditor.changed)


def feed(store, auditor, objects) -> float:
    start = time.perf_counter()
    for pod in objects:
        m = pod["metadata"]
        store[(m["namespace"], m["name"])] = pod
    auditor.judge_pending()
    return time.perf_counter() - start


def main(n: int) -> None:
    policy_set = load_bundle(ROOT / "examples" / "seed")
    auditor, store = auditor_for(policy_set)
    listed = feed(store, auditor, pods(n))  # made as judged, as a list's pages arrive
    changed = list(pods(1000))
    for pod in changed:
        pod["metadata"]["resourceVersion"] += "-2"
    watched = feed(store, auditor, changed)
    unchanged = feed(store, auditor, list(pods(1000)))  # same versions: not judged again
    failing = sum(bool(a.findings) for found in auditor.results.values() for a in found.values())
    print(f"{n} pods in {len(auditor.results)} namespaces listed and judged in {listed:.2f}s: "
          f"{n / listed:,.0f} objects/s with decoding each from JSON, {n / auditor.seconds:,.0f} "
          f"objects/s judging alone; {failing} with findings")
    print(f"1000 changed pods judged again in {watched * 1000:.0f} ms "
          f"({1000 / watched:,.0f} objects/s); 1000 unchanged ones skipped in "
          f"{unchanged * 1000:.1f} ms")
    auditor, store = auditor_for(policy_set)  # memory: what a fresh audit keeps
    objects = pods(n)  # a generator: each object is dropped once judged, as a list page's are
    tracemalloc.start()
    feed(store, auditor, objects)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"kept {kept / n:,.0f} bytes per object ({kept / 2**20:.1f} MiB for {n}); "
          f"peak {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
