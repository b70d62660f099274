"""Load benchmark of `admit serve examples/seed` against its ceiling, in the same run.

    .venv/bin/python bench/bench_server.py [--duration 8] [--workers 1 --workers 2]

wrk (HTTPS, keep-alive, one thread) POSTs a recorded kube-apiserver AdmissionReview (the
validating UPDATE of the origin's pod, 6.3 KB) at 1 and 64 connections to:
- admit: `admit serve examples/seed` with metrics and the decision log (to a file) on;
- ceiling: `bench/ceiling.py`, the same server stack with an app that only parses the JSON and
  answers a fixed allow.
Reports requests/s, p50/p99 latency and RSS per worker, and admit's ratios to the ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import ssl
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


def measure(
    name: str,
    command: list[str],
    port: int,
    ca: Path,
    args: argparse.Namespace,
    lua: Path,
    body: Path,
    log: Path,
) -> dict[str, object]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)
    try:
        wait_ready(port, ca)
        wrk(port, 64, 2, lua, body)  # warm-up, discarded
        workers = children(process.pid)
        loads = {c: timed_load(port, c, args.duration, lua, body, workers) for c in (1, 64)}
        rss = [rss_mib(p) for p in workers]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    return {"name": name, "loads": loads, "rss": sum(rss) / max(1, len(rss))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--workers", type=int, action="append", default=[])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from admit.kube.certs import make_ca, make_serving_cert, write_pair

    tmp = Path(tempfile.mkdtemp(prefix="admit-bench-"))
    ca = make_ca()
    ca_path, _ = write_pair(ca, tmp, "ca")
    cert, key = write_pair(make_serving_cert(ca, ["127.0.0.1"]), tmp, "tls")
    record = json.loads(FIXTURE.read_text())
    body = tmp / "review.json"
    body.write_bytes((json.dumps(record["body"], separators=(",", ":")) + "\n").encode())
    lua = tmp / "post.lua"
    lua.write_text(LUA)
    rows = []
    for workers in args.workers or [1, os.cpu_count() or 1]:
        common = ["--tls-cert", str(cert), "--tls-key", str(key), "--workers", str(workers)]
        port = free_port()
        ceiling = measure(
            "ceiling",
            [PYTHON, str(ROOT / "bench/ceiling.py"), "--port", str(port), *common],
            port,
            ca_path,
            args,
            lua,
            body,
            tmp / "c.log",
        )
        port = free_port()
        admit = measure(
            "admit",
            [
                PYTHON,
                "-m",
                "admit",
                "serve",
                str(ROOT / "examples/seed"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *common,
                "--decision-log",
                str(tmp / "decisions.jsonl"),
                "--metrics-dir",
                str(tmp / f"m{workers}"),
            ],
            port,
            ca_path,
            args,
            lua,
            body,
            tmp / "a.log",
        )
        rows.append((workers, ceiling, admit))
    print(
        "| workers | server | conns | req/s | p50 ms | p99 ms | errors | CPU µs/req "
        "| RSS/worker MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for workers, ceiling, admit in rows:
        for result in (ceiling, admit):
            for c, load in result["loads"].items():  # type: ignore[union-attr]
                print(
                    f"| {workers} | {result['name']} | {c} | {load.rps:,.0f} | {load.p50_ms:.2f} | "
                    f"{load.p99_ms:.2f} | {load.errors} | {load.cpu_us:.0f} | {result['rss']:.1f} |"
                )
    print()
    print("| workers | conns | admit/ceiling throughput | admit/ceiling p99 | admit/ceiling CPU |")
    print("|---|---|---|---|---|")
    for workers, ceiling, admit in rows:
        for c in (1, 64):
            a, b = admit["loads"][c], ceiling["loads"][c]  # type: ignore[index]
            print(
                f"| {workers} | {c} | {a.rps / b.rps:.0%} | {a.p99_ms / b.p99_ms:.2f}x "
                f"| {a.cpu_us / b.cpu_us:.2f}x |"
            )


if __name__ == "__main__":
    main()
