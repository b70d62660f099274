"""Hot reload under load: wrk keeps POSTing AdmissionReviews while the bundle, laid out as a
Kubernetes ConfigMap volume, is swapped 50 times; every request must succeed.

    .venv/bin/python bench/reload_under_load.py [--swaps 50] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_server import FIXTURE, LUA, free_port, wait_ready, wrk  # noqa: E402

from tests.configmap import ConfigMapVolume  # noqa: E402

RULE = """
import admit

@admit.validate("Pod")
def tag(request, *, forbidden: str = "{tag}"):
    for c in request.containers:
        if c.image.endswith(forbidden):
            yield f"{{c.image}} uses {{forbidden}}"
# version {version}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    from admit.kube.certs import make_ca, make_serving_cert, write_pair

    tmp = Path(tempfile.mkdtemp(prefix="admit-reload-"))
    ca = make_ca()
    ca_path, _ = write_pair(ca, tmp, "ca")
    cert, key = write_pair(make_serving_cert(ca, ["127.0.0.1"]), tmp, "tls")
    body = tmp / "review.json"
    body.write_bytes((json.dumps(json.loads(FIXTURE.read_text())["body"]) + "\n").encode())
    lua = tmp / "post.lua"
    lua.write_text(LUA)
    volume = ConfigMapVolume(tmp / "bundle")
    volume.publish({"tags.py": RULE.format(tag=":latest", version=0)})
    port = free_port()
    decisions = tmp / "decisions.jsonl"
    command = [
        sys.executable,
        "-m",
        "admit",
        "serve",
        str(volume.root),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--workers",
        str(args.workers),
        "--decision-log",
        str(decisions),
        "--metrics-dir",
        str(tmp / "metrics"),
    ]
    with (tmp / "serve.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_ready(port, ca_path)
        seconds = args.swaps * args.interval + 3
        result: dict[str, object] = {}
        load = threading.Thread(target=lambda: result.update(w=wrk(port, 16, seconds, lua, body)))
        load.start()
        time.sleep(1)
        for i in range(1, args.swaps + 1):
            tag = ":latest" if i % 2 else ":1.21.1"
            volume.publish({"tags.py": RULE.format(tag=tag, version=i)})
            time.sleep(args.interval)
        load.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    time.sleep(0.5)
    outcome = result["w"]
    lines = [json.loads(line) for line in decisions.read_text().splitlines() if line]
    by_bundle = Counter(line["bundle"] for line in lines)
    reloads = (tmp / "serve.log").read_text().count("bundle reloaded")
    print(f"swaps: {args.swaps} every {args.interval}s, workers: {args.workers}, wrk -c16")
    print(
        f"requests/s: {outcome.rps:,.0f}  p50 {outcome.p50_ms:.2f} ms  p99 {outcome.p99_ms:.2f} ms"
    )  # type: ignore[attr-defined]
    print(f"failed requests (non-2xx + socket errors): {outcome.errors}")  # type: ignore[attr-defined]
    print(
        f"decisions logged: {len(lines)} under {len(by_bundle)} bundle versions; reloads logged: {reloads}"
    )
    sys.exit(1 if outcome.errors else 0)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
