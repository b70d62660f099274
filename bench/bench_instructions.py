"""Instructions per request, admit against its ceiling: exact where timings on a shared machine
are not.

    .venv/bin/python bench/bench_instructions.py [--requests 2000] [--review NAME]

Runs `admit serve examples/seed` (metrics and the decision log on) and `bench/ceiling.py`, one
worker each, under valgrind's callgrind (Debian package `valgrind`), each twice side by side:
one copy answers N requests (a recorded review POSTed on one kept-alive TLS connection), the
other idles as long, and both stop together. Both copies pay the same start-up, warm-up and
timers (the rule deadline's tick, certificate checks, metrics and log flushes), so the
difference in their worker's instructions, over N, is the cost of a request. The same code
gives the same counts on any run, so a change of a few thousand instructions is visible. Takes
a few minutes: everything runs some 50 times slower under callgrind.
"""

from __future__ import annotations

import argparse
import http.client
import re
import ssl
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_server import PYTHON, ROOT, Server, free_port, review_body, start, stop, tls_files

FIXTURES = ROOT / "tests/fixtures/apiserver/admission"
REVIEWS = ("07-pod-update-label--02-validate-UPDATE-pod-web-server",)
WARM_UP = 200


def post(port: int, ca: Path, body: bytes, count: int) -> None:
    """`count` POSTs of `body` to /validate on one kept-alive connection, each answered 200."""
    context = ssl.create_default_context(cafile=str(ca))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=120)
    headers = {"Content-Type": "application/json", "User-Agent": "kube-apiserver-admission"}
    try:
        for _ in range(count):
            connection.request("POST", "/validate", body, headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"/validate answered {answer.status}")
    finally:
        connection.close()


def worker_instructions(out: Path, server: Server) -> int:
    """Instructions the server's one worker ran, from the file callgrind wrote at its exit."""
    (worker,) = server.workers
    text = (out / f"cg.{worker}").read_text(errors="replace")
    found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    if not found:
        raise RuntimeError(f"no totals in callgrind's output for worker {worker}")
    return int(found.group(1))


def measure(name: str, command: list[str], tmp: Path, ca: Path, body: bytes, n: int) -> float:
    """Instructions per request: a busy and an idle copy of the server, started and stopped
    together."""
    copies = []
    for role in ("busy", "idle"):
        out = tmp / f"{name}-{role}"
        out.mkdir()
        port = free_port()
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p"]
        argv = [arg.replace("{port}", str(port)).replace("{out}", str(out)) for arg in command]
        server = start(name, [*valgrind, *argv], port, ca, out / "server.log", 600)
        copies.append((server, out))
    try:
        for server, _ in copies:
            post(server.port, ca, body, WARM_UP)
        post(copies[0][0].port, ca, body, n)
    finally:
        for server, _ in copies:
            stop(server, 300)
    busy, idle = (worker_instructions(out, server) for server, out in copies)
    return (busy - idle) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per review")
    parser.add_argument(
        "--review",
        action="append",
        default=[],
        help="a recorded review's file name (without .json) in the fixtures; repeatable",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="admit-instructions-"))
    ca_path, cert, key = tls_files(tmp)
    bodies = {name: review_body(FIXTURES / f"{name}.json") for name in args.review or REVIEWS}
    common = ["--tls-cert", str(cert), "--tls-key", str(key), "--workers", "1"]
    commands = {
        "ceiling": [PYTHON, str(ROOT / "bench/ceiling.py"), "--port", "{port}", *common],
        "admit": [
            *(PYTHON, "-m", "admit", "serve", str(ROOT / "examples/seed")),
            *("--host", "127.0.0.1", "--port", "{port}", *common),
            *("--decision-log", "{out}/decisions.jsonl", "--metrics-dir", "{out}"),
        ],
    }
    results: dict[str, dict[str, float]] = {name: {} for name in commands}
    for review, body in bodies.items():
        print(f"{review}: 4 servers under callgrind (slow)...", file=sys.stderr, flush=True)
        with ThreadPoolExecutor(2) as pool:
            futures = {
                name: pool.submit(
                    measure,
                    f"{name}-{len(results[name])}",
                    command,
                    tmp,
                    ca_path,
                    body,
                    args.requests,
                )
                for name, command in commands.items()
            }
            for name, future in futures.items():
                results[name][review] = future.result()
    ceiling, admit = results["ceiling"], results["admit"]
    print(f"User-space instructions per request, {args.requests} requests per review.\n")
    print("| review | ceiling | admit | admit/ceiling |")
    print("|---|---|---|---|")
    for name in bodies:
        ratio = admit[name] / ceiling[name]
        print(f"| {name} | {ceiling[name]:,.0f} | {admit[name]:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
