"""Load benchmark of `admit serve examples/seed` against its ceiling, in the same run.

    .venv/bin/python bench/bench_server.py [--rounds 5] [--duration 3] [--workers 1 --workers 2]
        [--review NAME ...]

wrk (HTTPS, keep-alive, one thread) POSTs recorded kube-apiserver AdmissionReviews (by default
three: the validating UPDATE of the origin's pod, allowed; a CREATE of a pod from the trusted
registry, allowed; a CREATE of `nginx:1.21.1`, denied) at 1 and 64 connections to two servers
running side by side, alternating short slices between them so that both see the same machine:
- admit: `admit serve examples/seed` with metrics and the decision log (to a file) on;
- ceiling: `bench/ceiling.py`, the same server stack with an app that only parses the JSON and
  answers a fixed allow.
Reports medians of requests/s, p50/p99 latency, the workers' CPU time per request and RSS per
worker, and admit's ratios to the ceiling (medians of the per-round ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FIXTURE = (
    ROOT
    / "tests/fixtures/apiserver/admission/07-pod-update-label--02-validate-UPDATE-pod-web-server.json"
)
REVIEWS = (
    FIXTURE.stem,  # the validating UPDATE of the origin's pod (allowed)
    "06-pod-create-web-server-registry-1.21.1--02-validate-CREATE-pod-web-server",  # allowed
    "02-pod-create-web-server-nginx-1.21.1--02-validate-CREATE-pod-web-server",  # denied
)
SHORT = {REVIEWS[0]: "UPDATE allowed", REVIEWS[1]: "CREATE allowed", REVIEWS[2]: "CREATE denied"}
LUA = """
local f = io.open(os.getenv("ADMIT_BENCH_BODY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "kube-apiserver-admission"
"""


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us: float = float("nan")  # the workers' CPU time per request (user + system)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, ca: Path, timeout: float = 20) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not come up")


def tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A fresh CA and a serving certificate for 127.0.0.1 in `directory`: (ca, cert, key)."""
    sys.path.insert(0, str(ROOT / "src"))
    from admit.kube.certs import make_ca, make_serving_cert, write_pair

    ca = make_ca()
    ca_path, _ = write_pair(ca, directory, "ca")
    cert, key = write_pair(make_serving_cert(ca, ["127.0.0.1"]), directory, "tls")
    return ca_path, cert, key


def review_body(fixture: Path) -> bytes:
    """The body of a recorded AdmissionReview, compact JSON as kube-apiserver sends it."""
    record = json.loads(fixture.read_text())
    return (json.dumps(record["body"], separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def wrk(port: int, connections: int, seconds: float, lua: Path, body: Path) -> Load:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(lua),
        f"https://127.0.0.1:{port}/validate",
    ]
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        env={**os.environ, "ADMIT_BENCH_BODY": str(body)},
    ).stdout

    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockerr = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non2xx.group(1)) if non2xx else 0
    errors += sum(int(x) for x in sockerr.groups()) if sockerr else 0
    done = re.search(r"(\d+) requests in", out)
    return Load(
        float(rps.group(1)) if rps else 0.0,
        latency("50"),
        latency("99"),
        errors,
        int(done.group(1)) if done else 0,
    )


def timed_load(
    port: int, connections: int, seconds: float, lua: Path, body: Path, workers: list[int]
) -> Load:
    """A wrk run, with the workers' CPU time per request it answered."""
    before = cpu_seconds(workers)
    load = wrk(port, connections, seconds, lua, body)
    if load.requests:
        load.cpu_us = (cpu_seconds(workers) - before) / load.requests * 1e6
    return load


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    workers: list[int]


def start(name: str, command: list[str], port: int, ca: Path, log: Path) -> Server:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)
    wait_ready(port, ca)
    return Server(name, process, port, children(process.pid))


def stop(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGTERM)
    server.process.wait(30)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def compare(
    ceiling: Server, admit: Server, args: argparse.Namespace, lua: Path, body: Path
) -> dict[int, dict[str, list[Load]]]:
    """Alternate short wrk slices between the two servers (the order flipping every round), so
    both see the same machine; a slow spell of the machine hits both."""
    for server in (ceiling, admit):
        wrk(server.port, 64, 2, lua, body)  # warm-up, discarded
    loads: dict[int, dict[str, list[Load]]] = {c: {"ceiling": [], "admit": []} for c in (1, 64)}
    for round_ in range(args.rounds):
        order = (ceiling, admit) if round_ % 2 == 0 else (admit, ceiling)
        for c in (1, 64):
            for server in order:
                load = timed_load(server.port, c, args.duration, lua, body, server.workers)
                loads[c][server.name].append(load)
        print(f"  round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    return loads


Row = tuple[int, str, dict[int, dict[str, list[Load]]], dict[str, float]]


def print_tables(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"Medians of {args.rounds} alternating {args.duration:g}-second slices per server, "
        "review and concurrency.\n"
    )
    print(
        "| workers | review | server | conns | req/s | p50 ms | p99 ms | errors | CPU µs/req "
        "| RSS/worker MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workers, review, loads, rss in rows:
        for name in ("ceiling", "admit"):
            for c in (1, 64):
                runs = loads[c][name]
                print(
                    f"| {workers} | {SHORT.get(review, review)} | {name} | {c} "
                    f"| {median([x.rps for x in runs]):,.0f} "
                    f"| {median([x.p50_ms for x in runs]):.2f} "
                    f"| {median([x.p99_ms for x in runs]):.2f} | {sum(x.errors for x in runs)} "
                    f"| {median([x.cpu_us for x in runs]):.0f} | {rss[name]:.1f} |"
                )
    print()
    print(
        "| workers | review | conns | admit/ceiling CPU per request | p99 | throughput "
        "| CPU ratio per round |"
    )
    print("|---|---|---|---|---|---|---|")
    for workers, review, loads, _ in rows:
        for c in (1, 64):
            pairs = list(zip(loads[c]["admit"], loads[c]["ceiling"], strict=True))
            rps = [a.rps / b.rps for a, b in pairs]
            p99 = [a.p99_ms / b.p99_ms for a, b in pairs]
            cpu = [a.cpu_us / b.cpu_us for a, b in pairs]
            each = " ".join(f"{r:.2f}" for r in cpu)
            print(
                f"| {workers} | {SHORT.get(review, review)} | {c} | {median(cpu):.2f}x "
                f"| {median(p99):.2f}x | {median(rps):.0%} | {each} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk slice")
    parser.add_argument("--rounds", type=int, default=5, help="slices per server and concurrency")
    parser.add_argument("--workers", type=int, action="append", default=[])
    parser.add_argument(
        "--review",
        action="append",
        default=[],
        help="a recorded review's file name (without .json) in the fixtures; repeatable",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="admit-bench-"))
    ca_path, cert, key = tls_files(tmp)
    lua = tmp / "post.lua"
    lua.write_text(LUA)
    print(f"python: {sys.version.split()[0]} ({sys.executable})", file=sys.stderr)
    rows: list[Row] = []
    for workers in args.workers or [1, os.cpu_count() or 1]:
        common = ["--tls-cert", str(cert), "--tls-key", str(key), "--workers", str(workers)]
        port_c, port_a = free_port(), free_port()
        ceiling_cmd = [PYTHON, str(ROOT / "bench/ceiling.py"), "--port", str(port_c), *common]
        admit_cmd = [
            *(PYTHON, "-m", "admit", "serve", str(ROOT / "examples/seed")),
            *("--host", "127.0.0.1", "--port", str(port_a), *common),
            *("--decision-log", str(tmp / "decisions.jsonl")),
            *("--metrics-dir", str(tmp / f"m{workers}")),
        ]
        ceiling = start("ceiling", ceiling_cmd, port_c, ca_path, tmp / "c.log")
        try:
            admit = start("admit", admit_cmd, port_a, ca_path, tmp / "a.log")
            try:
                for review in args.review or REVIEWS:
                    body = tmp / f"{review}.json"
                    body.write_bytes(review_body(FIXTURE.parent / f"{review}.json"))
                    print(f"{workers} worker(s), {review}:", file=sys.stderr)
                    loads = compare(ceiling, admit, args, lua, body)
                    rss = {
                        s.name: median([rss_mib(p) for p in s.workers]) for s in (ceiling, admit)
                    }
                    rows.append((workers, review, loads, rss))
            finally:
                stop(admit)
        finally:
            stop(ceiling)
    print_tables(rows, args)


if __name__ == "__main__":
    main()
