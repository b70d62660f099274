"""Shared test helpers: the recorded kube-apiserver traffic and small manifest builders."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "apiserver"
SEED = ROOT / "examples" / "seed"

ORIGIN_PODS = {
    "pod-bad-repo.yaml": "nginx:1.21.1 repo not start with 192.168.64.1",
    "pod-bad-tag.yaml": "192.168.64.1:5000/nginx:latest tag end with :latest",
    "pod-ok.yaml": None,
}


@cache
def recorded() -> tuple[dict[str, Any], ...]:
    """Every admission call recorded from kube-apiserver v1.36.2, in capture order."""
    index = json.loads((FIXTURES / "index.json").read_text())
    return tuple(json.loads((FIXTURES / entry["file"]).read_text()) for entry in index)


def recorded_review(name_part: str) -> dict[str, Any]:
    """The one recorded AdmissionReview whose file name contains `name_part`."""
    matches = sorted((FIXTURES / "admission").glob(f"*{name_part}*"))
    assert len(matches) == 1, f"{name_part!r} matches {[m.name for m in matches]}"
    record: dict[str, Any] = json.loads(matches[0].read_text())
    return record


def wire_bytes(record: dict[str, Any]) -> bytes:
    """The exact request body kube-apiserver sent (see the fixtures' README)."""
    body = (json.dumps(record["body"], separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    assert len(body) == record["body_bytes"]["length"]
    return body


def manifest(name: str) -> dict[str, Any]:
    """A manifest kubectl applied during the recording."""
    doc: dict[str, Any] = yaml.safe_load((FIXTURES / "manifests" / name).read_text())
    return doc


def pod(*images: str, name: str = "web", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": f"c{i}", "image": img} for i, img in enumerate(images)]},
    }


def deployment(*images: str, name: str = "web") -> dict[str, Any]:
    template = pod(*images, name=name)
    del template["metadata"]["name"], template["metadata"]["namespace"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": template["metadata"], "spec": template["spec"]},
        },
    }


def write_bundle(root: Path, files: dict[str, str]) -> Path:
    """A bundle directory with the given relative files."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


class Published:
    """A bundle directory as `admit serve` serves it: followed by a directory source that
    publishes into a run directory, and a process's store serving what is published."""

    def __init__(self, bundle: Path, run_dir: Path) -> None:
        from admit.loading.publisher import Publisher
        from admit.loading.reload import DirectorySource
        from admit.loading.store import PolicyStore
        from admit.loading.versions import RunDirectory

        run = RunDirectory(run_dir)
        self.source = DirectorySource(bundle, Publisher(run, str(bundle), timeout=5))
        self.store = PolicyStore(run)
        self.check()

    def check(self) -> None:
        """Publish the bundle's changes, and serve them."""
        self.source.check()
        self.store.refresh()


# A rule whose forbidden image suffix is a parameter, to publish one change after another, and
# a review it judges (image 192.168.64.1:5000/nginx:1.21.1).
TAG_RULE = """
import admit

@admit.validate("Pod")
def tag(request, *, forbidden: str = "{tag}"):
    for c in request.containers:
        if c.image.endswith(forbidden):
            yield f"{{c.image}} uses {{forbidden}}"
"""
POD_OK_REVIEW = (SEED / "reviews" / "pod-ok.json").read_bytes()
