"""Instructions per evaluation of the Pod Security Standards bundles, counted by callgrind.

    .venv/bin/python bench/bench_pss.py [--requests 500]

Each figure is (instructions of N evaluations - instructions of none) / N, user space, of
`admit.evaluate` in-process on a recorded pod (the allowed origin pod and the complex pod with
a privileged container and a hostPath volume), for the per-control profiles and the
namespace-label mode (with and without labels on the pod's namespace).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from callgrind import per_call

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ADMISSION = ROOT / "tests" / "fixtures" / "apiserver" / "admission"
PODS = {
    "origin pod (allowed)": "06-pod-create-web-server-registry-1.21.1--02-validate-CREATE-pod-web-server",
    "complex pod": "09-pod-create-complex--02-validate-CREATE-pod-complex",
}
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
SETUPS = {  # name -> (library bundle, namespace labels)
    "pss-baseline": ("pss-baseline", {}),
    "pss-restricted": ("pss-restricted", {}),
    "pod-security-admission, no labels": ("pod-security-admission", {}),
    "pod-security-admission, enforce=restricted": ("pod-security-admission", RESTRICTED),
    "pod-security-admission, enforce+warn+audit=restricted": (
        "pod-security-admission",
        {
            **RESTRICTED,
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        },
    ),
}
WARM_UP = 50


def drive(setup: str, pod: str, count: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    import admit
    from admit.loading.loader import load_bundle
    from admit.policies import library_path
    from admit.testing import request

    bundle, labels = SETUPS[setup]
    policy_set = load_bundle(library_path(bundle))
    review = json.loads((ADMISSION / f"{PODS[pod]}.json").read_text())["body"]["request"]
    subject = request(review["object"], namespace_labels=labels)
    for _ in range(WARM_UP + count):
        admit.evaluate(policy_set, subject)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="N, evaluations per figure")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        setup, pod, count = args.child
        drive(setup, pod, int(count))
        return
    print(f"User-space instructions per evaluation (N={args.requests}).\n")
    print(f"| setup | {' | '.join(PODS)} |")
    print("|---|" + "---|" * len(PODS))
    for setup in SETUPS:
        figures = []
        for pod in PODS:
            print(f"{setup}, {pod}: under callgrind...", file=sys.stderr, flush=True)
            figures.append(f"{per_call(__file__, (setup, pod), args.requests):,.0f}")
        print(f"| {setup} | {' | '.join(figures)} |")


if __name__ == "__main__":
    main()
