"""Memory of a serving `admit serve` process tree, by role: PSS and USS, not RSS.

    .venv/bin/python bench/bench_memory.py [--workers 1 --workers 2] [--console] [--requests 500]

RSS counts every page a process maps, so the pages a worker shares with the supervisor it was
forked from are counted once per process; PSS divides each shared page among its sharers (the
sum over a tree is the memory the tree really holds) and USS counts only a process's private
pages (what one more worker costs). Both come from /proc/<pid>/smaps_rollup. The pages of shared
libraries and of the Python binary are also shared with every other process on the machine that
maps the same files, so the file-backed part of PSS moves with what else runs; the anonymous
part (the heap, what the tree itself allocated) does not.

The script starts `admit serve examples/seed` with a serving certificate made beforehand, as in
production (`--self-signed` would add the ~7.5 MB of `cryptography`'s code that making a key
touches to the supervisor), metrics and the decision log to a file on, sends the recorded validating UPDATE of the origin's pod `--requests`
times over TLS so that every worker has served traffic, and reads each process's figures. Roles
come from the supervisor's log lines (`worker 1234 started`).
"""

from __future__ import annotations

import argparse
import http.client
import re
import ssl
import sys
import tempfile
import time
from pathlib import Path

from bench_server import FIXTURE, PYTHON, ROOT, free_port, review_body, start, stop, tls_files

ROLES = ("supervisor", "worker", "source", "console", "audit")


def smaps(pid: int) -> dict[str, int]:
    """A process's Rss, Pss and USS (private clean + dirty + swapped) in KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    private = fields["Private_Clean"] + fields["Private_Dirty"] + fields.get("Swap", 0)
    return {"rss": fields["Rss"], "pss": fields["Pss"], "anon": fields["Pss_Anon"], "uss": private}


def roles(log: str, supervisor: int) -> dict[int, str]:
    """Each live process of the tree by pid: the supervisor and the children it logged."""
    found = {supervisor: "supervisor"}
    for role, pid in re.findall(r"admit\.supervisor: (\w+) (\d+) started", log):
        if Path(f"/proc/{pid}").exists():
            found[int(pid)] = role
    return found


def send(port: int, ca: Path, body: bytes, count: int) -> None:
    """`count` reviews, each on a fresh connection, so that every worker answers some."""
    context = ssl.create_default_context(cafile=str(ca))
    for _ in range(count):
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        connection.request("POST", "/validate", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"admit answered {answer.status}")
        connection.close()


def measure(
    workers: int, console: bool, requests: int, tmp: Path
) -> dict[int, tuple[str, dict[str, int]]]:
    port = free_port()
    ca, cert, key = tls_files(tmp)
    log = tmp / f"serve-{workers}.log"
    command = [
        *(PYTHON, "-m", "admit", "serve", str(ROOT / "examples/seed")),
        *("--tls-cert", str(cert), "--tls-key", str(key)),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--decision-log", str(tmp / "decisions.jsonl")),
        *("--metrics-dir", str(tmp / f"m{workers}")),
        *(("--console-port", str(free_port())) if console else ()),
    ]
    server = start("admit", command, port, ca, log)
    try:
        send(port, ca, review_body(FIXTURE), requests)
        time.sleep(1.5)  # the workers' periodic chores (metrics, decision log) have run
        tree = roles(log.read_text(), server.process.pid)
        return {pid: (role, smaps(pid)) for pid, role in tree.items()}
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, action="append", default=[])
    parser.add_argument("--console", action="store_true", help="also run the console")
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="admit-memory-"))
    print("| workers | role | processes | PSS MiB | of it anonymous | USS MiB | RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for workers in args.workers or [1, 2]:
        print(f"{workers} worker(s)...", file=sys.stderr, flush=True)
        found = measure(workers, args.console, args.requests, tmp)
        for role in ROLES:
            each = [figures for r, figures in found.values() if r == role]
            if not each:
                continue
            pss, anon, uss, rss = (
                sum(f[k] for f in each) / 1024 / len(each) for k in ("pss", "anon", "uss", "rss")
            )
            count = f"{len(each)} (each)" if len(each) > 1 else "1"
            print(
                f"| {workers} | {role} | {count} | {pss:.1f} | {anon:.1f} | {uss:.1f} | {rss:.1f} |"
            )
        total, anon = (sum(f[k] for _, f in found.values()) / 1024 for k in ("pss", "anon"))
        print(f"| {workers} | **tree** | {len(found)} | **{total:.1f}** | **{anon:.1f}** | | |")


if __name__ == "__main__":
    main()
