"""Core benchmark: the cost of one `evaluate` of the seed policy, and of checking 10,000
manifests, each beside a baseline measured in the same run (ratios are what count here).

    .venv/bin/python bench/bench_core.py [--manifests 10000]

- evaluate: the seed bundle on a recorded, apiserver-defaulted Pod (the validating call of the
  origin's third pod), against a hand-written loop doing the same two checks on the raw dict.
- check: `admit check` in-process on N manifests (pods and deployments, one multi-document file),
  against parsing the same file with PyYAML's C loader alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import timeit
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from admit import Request, evaluate  # noqa: E402
from admit.cli.check import check_manifests  # noqa: E402
from admit.loading.files import Manifest, read_manifests  # noqa: E402
from admit.loading.loader import load_bundle  # noqa: E402

FIXTURE = (
    ROOT / "tests/fixtures/apiserver/admission/"
    "06-pod-create-web-server-registry-1.21.1--02-validate-CREATE-pod-web-server.json"
)


def per_call_us(fn, number: int = 20000, repeat: int = 7) -> float:
    """Best-of-`repeat` microseconds per call (the least disturbed run on a noisy machine)."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def handwritten(request: dict) -> list[str]:
    out = []
    for c in request["object"]["spec"]["containers"]:
        image = c["image"]
        if not image.startswith("192.168.64.1"):
            out.append(f"{image} repo not start with 192.168.64.1")
        if image.endswith(":latest"):
            out.append(f"{image} tag end with :latest")
    return out


def bench_evaluate() -> dict[str, float]:
    seed = load_bundle(ROOT / "examples/seed")
    raw = json.loads(FIXTURE.read_text())["body"]["request"]
    body_size = len(json.dumps(raw))
    admit_us = per_call_us(lambda: evaluate(seed, Request(raw)))
    base_us = per_call_us(lambda: handwritten(raw))
    return {"pod_json_bytes": body_size, "admit_us": admit_us, "handwritten_us": base_us}


def manifests_file(directory: Path, count: int) -> Path:
    pod = yaml.safe_load((ROOT / "examples/seed/pods/pod-bad-tag.yaml").read_text())
    deploy = yaml.safe_load(
        (ROOT / "tests/fixtures/apiserver/manifests/deployment-web.yaml").read_text()
    )
    docs = []
    for i in range(count):
        doc = json.loads(json.dumps(pod if i % 2 else deploy))
        doc["metadata"]["name"] = f"obj-{i}"
        docs.append(doc)
    path = directory / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def bench_check(count: int) -> dict[str, float]:
    seed = load_bundle(ROOT / "examples/seed")
    with tempfile.TemporaryDirectory() as tmp:
        path = manifests_file(Path(tmp), count)
        text = path.read_text()
        parse_s, check_s, eval_s = [], [], []
        for _ in range(3):
            t0 = time.perf_counter()
            list(yaml.load_all(text, Loader=yaml.CSafeLoader))
            parse_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            items = [m for m in read_manifests([str(path)]) if isinstance(m, Manifest)]
            t1 = time.perf_counter()
            checked = check_manifests(seed, items)
            t2 = time.perf_counter()
            assert len(checked) == count
            check_s.append(t2 - t0)
            eval_s.append(t2 - t1)
    return {
        "manifests": count,
        "yaml_parse_only_s": min(parse_s),
        "check_total_s": min(check_s),
        "evaluate_part_s": min(eval_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=10000)
    args = parser.parse_args()
    ev = bench_evaluate()
    print(f"evaluate, seed policy, recorded Pod ({ev['pod_json_bytes']} bytes of JSON):")
    print(f"  admit evaluate      {ev['admit_us']:8.2f} us/call")
    print(f"  hand-written loop   {ev['handwritten_us']:8.2f} us/call  (baseline)")
    print(f"  ratio               {ev['admit_us'] / ev['handwritten_us']:8.1f} x")
    ck = bench_check(args.manifests)
    print(f"admit check, {ck['manifests']} manifests (half Pods, half Deployments):")
    print(f"  YAML parse only     {ck['yaml_parse_only_s']:8.2f} s  (baseline)")
    print(f"  read + evaluate     {ck['check_total_s']:8.2f} s")
    print(f"    of which evaluate {ck['evaluate_part_s']:8.2f} s")
    print(f"  ratio               {ck['check_total_s'] / ck['yaml_parse_only_s']:8.2f} x")
    print(json.dumps({"evaluate": ev, "check": ck}))


if __name__ == "__main__":
    main()
