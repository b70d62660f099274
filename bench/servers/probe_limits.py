"""Probe each candidate server's defaults against slow or oversized clients, and TLS reload.

Runs every candidate of compare.py (one worker, TLS on 127.0.0.1) side by side and, with plain
sockets, measures what its defaults do with:

* tcp-idle: a TCP connection that never starts TLS;
* tls-idle: a TLS connection that never sends a request;
* slow-headers: a request whose header lines trickle in, one every second (slowloris);
* slow-body: complete headers (Content-Length 3478), then the body 16 bytes a second;
* big-header: one 1 MiB header line;
* big-body: a 48 MiB body (the app parses it and answers 400: a server limit would answer 413 or
  close before the end).

Each probe is bounded (--cap seconds, default 35). Then it checks reloading the certificate
without a restart, under wrk load: uvicorn and hypercorn by calling `load_cert_chain` again on
the live `ssl.SSLContext` they serve with (reload_launch.py keeps a reference to it), and uvicorn
(2 workers), hypercorn and granian by SIGHUP to their main process (they restart their workers);
a new connection must then see the new certificate; it reports whether an open keep-alive
connection still works and how many of wrk's requests failed.

    .venv/bin/python bench/servers/probe_limits.py            # about 2 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import (  # noqa: E402
    CANDIDATES,
    FIXTURE,
    PATH,
    PY,
    WRK_LUA,
    Server,
    free_port,
    ps_lines,
)
from tls import make_cert  # noqa: E402


def _body() -> bytes:
    import json

    doc = json.loads(FIXTURE.read_text())
    return (json.dumps(doc["body"], separators=(",", ":"), ensure_ascii=False) + "\n").encode()


BODY = _body()


def _tls(port: int, timeout: float) -> ssl.SSLSocket:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def _wait_closed(sock: socket.socket, t0: float, cap: float) -> str:
    """Read until the server closes or answers; describe what happened and when."""
    sock.settimeout(0.5)
    got = b""
    while time.monotonic() - t0 < cap:
        try:
            data = sock.recv(65536)
        except (TimeoutError, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            return f"reset after {time.monotonic() - t0:.1f} s ({type(exc).__name__})"
        if not data:
            status = got.split(b"\r\n", 1)[0].decode(errors="replace") if got else ""
            what = f"answered `{status}`, " if status else ""
            return f"{what}closed after {time.monotonic() - t0:.1f} s"
        got += data
        if b"\r\n\r\n" in got:
            status = got.split(b"\r\n", 1)[0].decode(errors="replace")
            return f"answered `{status}` after {time.monotonic() - t0:.1f} s"
    return f"still open after {cap:.0f} s"


def probe_tcp_idle(port: int, cap: float) -> str:
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        return _wait_closed(s, t0, cap)


def probe_tls_idle(port: int, cap: float) -> str:
    with _tls(port, 5) as s:
        return _wait_closed(s, time.monotonic(), cap)


def _trickle(s: ssl.SSLSocket, chunks: list[bytes], t0: float, cap: float, every: float) -> str:
    for chunk in chunks:
        if time.monotonic() - t0 >= cap:
            return f"still open after {cap:.0f} s (kept sending)"
        try:
            s.sendall(chunk)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            return f"closed after {time.monotonic() - t0:.1f} s (send failed: {type(exc).__name__})"
        # a server that gives up answers or closes: look without blocking long
        s.settimeout(every)
        try:
            data = s.recv(65536)
        except (TimeoutError, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            return f"reset after {time.monotonic() - t0:.1f} s ({type(exc).__name__})"
        if not data:
            return f"closed after {time.monotonic() - t0:.1f} s"
        status = data.split(b"\r\n", 1)[0].decode(errors="replace")
        return f"answered `{status}` after {time.monotonic() - t0:.1f} s"
    return _wait_closed(s, t0, cap)


def probe_slow_headers(port: int, cap: float) -> str:
    with _tls(port, 5) as s:
        t0 = time.monotonic()
        head = [f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()]
        lines = [f"X-Slow-{i}: {'a' * 8}\r\n".encode() for i in range(int(cap) + 5)]
        return _trickle(s, head + lines, t0, cap, 1.0)


def probe_slow_body(port: int, cap: float) -> str:
    with _tls(port, 5) as s:
        t0 = time.monotonic()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        ).encode()
        chunks = [head] + [BODY[i : i + 16] for i in range(0, len(BODY), 16)]
        return _trickle(s, chunks, t0, cap, 1.0)


def probe_big_header(port: int, cap: float) -> str:
    with _tls(port, 5) as s:
        t0 = time.monotonic()
        req = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Big: {'b' * (1 << 20)}\r\nContent-Length: {len(BODY)}\r\n\r\n"
        ).encode() + BODY
        try:
            s.settimeout(cap)
            s.sendall(req)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            return (
                f"closed while sending after {time.monotonic() - t0:.1f} s ({type(exc).__name__})"
            )
        return _wait_closed(s, t0, cap)


def probe_big_body(port: int, cap: float, size: int = 48 << 20) -> str:
    with _tls(port, 5) as s:
        t0 = time.monotonic()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n"
        ).encode()
        s.sendall(head)
        chunk = b" " * (256 << 10)
        sent = 0
        s.settimeout(cap)
        try:
            while sent < size and time.monotonic() - t0 < cap:
                s.sendall(chunk)
                sent += len(chunk)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            return f"closed after {sent >> 20} MiB sent ({type(exc).__name__})"
        result = _wait_closed(s, t0, cap)
        return f"all {sent >> 20} MiB sent; {result}"


PROBES = {
    "tcp-idle": probe_tcp_idle,
    "tls-idle": probe_tls_idle,
    "slow-headers": probe_slow_headers,
    "slow-body": probe_slow_body,
    "big-header": probe_big_header,
    "big-body": probe_big_body,
}


# --------------------------------------------------------------------------- TLS reload


def _peer_der(port: int) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        der = s.getpeercert(binary_form=True)
        assert der is not None
        return der


def _post(s: ssl.SSLSocket) -> str:
    req = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    s.settimeout(5)
    s.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return "closed"
        data += chunk
    # drain the small body (Content-Length or chunked, both tiny here)
    time.sleep(0.05)
    with contextlib.suppress(TimeoutError, ssl.SSLWantReadError):
        s.settimeout(0.2)
        s.recv(65536)
    return data.split(b"\r\n", 1)[0].decode()


def _der_of(pem: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.read_text())


# (label, candidate name, how): "ctx" = reload_launch.py + POST /reload-cert (in place),
# "hup" = the candidate's own command line (compare.py) and SIGHUP to its main process.
RELOADS = [
    ("uvicorn, `load_cert_chain` on the live SSLContext", "uvicorn-httptools", 1, "ctx"),
    ("hypercorn, `load_cert_chain` on the live SSLContext", "hypercorn", 1, "ctx"),
    ("uvicorn --workers 2, SIGHUP (rolling worker restart)", "uvicorn-httptools", 2, "hup"),
    ("hypercorn --workers 1, SIGHUP (stops, then respawns workers)", "hypercorn", 1, "hup"),
    ("granian --workers 1, SIGHUP (respawns workers)", "granian-rsgi", 1, "hup"),
    ("granian --workers 2, SIGHUP (respawns workers)", "granian-rsgi", 2, "hup"),
]


def check_reload(label: str, cand_name: str, workers: int, how: str, tmp: Path) -> str:
    """Swap the certificate files, reload, under wrk load (8 connections, 6 s, reload at 2 s)."""
    d = Path(tempfile.mkdtemp(prefix="reload-", dir=tmp))
    cert, key = make_cert(d)
    port = free_port()
    if how == "ctx":
        kind = cand_name.split("-")[0]
        argv = [PY, str(HERE / "reload_launch.py"), kind, str(port), str(cert), str(key)]
    else:
        cand = next(c for c in CANDIDATES if c.name == cand_name)
        argv = cand.argv(port, workers, cert, key)
    server = Server(argv, d / "server.log")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                first = _peer_der(port)
                break
            except OSError:
                if time.monotonic() > deadline or server.proc.poll() is not None:
                    return f"did not start: {server.log_tail(5)}"
                time.sleep(0.1)
        assert first == _der_of(cert)
        old = _tls(port, 5)
        before = _post(old)
        lua = d / "post.lua"
        body_file = d / "body.json"
        body_file.write_bytes(BODY)
        lua.write_text(WRK_LUA.replace("{body}", str(body_file)))
        wrk = subprocess.Popen(
            ["wrk", "-t1", "-c8", "-d6s", "--timeout", "5s", "-s", str(lua),
             f"https://127.0.0.1:{port}{PATH}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        time.sleep(2)
        new_dir = d / "new"
        new_dir.mkdir()
        new_cert, new_key = make_cert(new_dir)
        os.replace(new_cert, cert)  # replace the files in place, as a Secret volume update does
        os.replace(new_key, key)
        t0 = time.monotonic()
        if how == "hup":
            os.kill(server.proc.pid, signal.SIGHUP)
        else:
            _reload_via_endpoint(port)
        seen = first
        while time.monotonic() - t0 < 15:
            with contextlib.suppress(OSError):
                seen = _peer_der(port)
            if seen == _der_of(cert):
                break
            time.sleep(0.1)
        took = time.monotonic() - t0
        try:
            after = _post(old)
        except (OSError, ssl.SSLError) as exc:
            after = f"failed ({type(exc).__name__})"
        old.close()
        try:
            out, _ = wrk.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            wrk.kill()
            out = ""
        m = re.search(r"^RESULT (.*)$", out, re.M)
        if m:
            req, _dur, ec, er, ew, es, et, *_ = m.group(1).split()
            load = (
                f"{req} requests, errors: connect {ec}, read {er}, write {ew}, "
                f"non-2xx {es}, timeout {et}"
            )
        else:
            load = "wrk gave no result"
        if seen != _der_of(cert):
            cert_text = "new certificate NOT served within 15 s"
        else:
            cert_text = f"new certificate served {took:.1f} s after the reload"
        return (
            f"{cert_text}; an open keep-alive connection: `{before}` before, `{after}` after; "
            f"under load (wrk, 8 connections, 6 s): {load}"
        )
    finally:
        server.stop()


def _reload_via_endpoint(port: int) -> None:
    with _tls(port, 5) as s:
        req = b"POST /reload-cert HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
        s.sendall(req)
        s.settimeout(5)
        s.recv(65536)


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cap", type=float, default=35.0, help="seconds each probe waits at most")
    ap.add_argument("--only", action="append", default=[], help="candidate name substring")
    ap.add_argument("--no-write", action="store_true", help="do not write LIMITS.md")
    args = ap.parse_args()
    # a SIGTERM (e.g. from `timeout`) unwinds through the `finally` blocks that stop the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    cands = [c for c in CANDIDATES if not args.only or any(s in c.name for s in args.only)]
    results: dict[str, dict[str, str]] = {c.name: {} for c in cands}
    reloads: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="admit-bench-limits-") as tmpname:
        tmp = Path(tmpname)
        cert, key = make_cert(tmp)
        servers: dict[str, tuple[Server, int]] = {}
        try:
            for c in cands:
                port = free_port()
                servers[c.name] = (Server(c.argv(port, 1, cert, key), tmp / f"{c.name}.log"), port)
            time.sleep(0.5)
            for _server, port in servers.values():
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    try:
                        _peer_der(port)
                        break
                    except OSError:
                        time.sleep(0.1)

            def run(name: str, probe: str, port: int) -> None:
                try:
                    results[name][probe] = PROBES[probe](port, args.cap)
                except Exception as exc:
                    results[name][probe] = f"probe error: {type(exc).__name__}: {exc}"

            threads = [
                threading.Thread(target=run, args=(name, probe, port), daemon=True)
                for name, (_, port) in servers.items()
                for probe in PROBES
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(args.cap + 30)
        finally:
            for server, _ in servers.values():
                server.stop()
        names = {c.name for c in cands}
        for label, cand_name, workers, how in RELOADS:
            if cand_name not in names:
                continue
            print(f"== reload: {label}", file=sys.stderr)
            try:
                reloads[label] = check_reload(label, cand_name, workers, how, tmp)
            except Exception as exc:
                reloads[label] = f"check error: {type(exc).__name__}: {exc}"
        leftovers = [line.strip() for line in ps_lines() if tmpname in line]

    lines = [
        "# Server limits against slow and oversized clients (defaults), and TLS reload",
        "",
        f"Date: {started} UTC. Command: `.venv/bin/python bench/servers/probe_limits.py "
        + " ".join(sys.argv[1:])
        + "`",
        "",
        "One worker each, TLS, the same command lines as compare.py. Each probe waits at most "
        f"{args.cap:g} s. See the docstring of probe_limits.py for what each probe sends.",
        "",
        "| server | " + " | ".join(PROBES) + " |",
        "|---|" + "---|" * len(PROBES),
    ]
    for name, res in results.items():
        lines.append(f"| {name} | " + " | ".join(res.get(p, "-") for p in PROBES) + " |")
    lines += ["", "## Reloading the certificate without a restart", ""]
    lines += [f"- {label}: {text}" for label, text in reloads.items()]
    lines += [
        "",
        "Leftover server processes (`ps`): " + (", ".join(leftovers) if leftovers else "none"),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        (HERE / "LIMITS.md").write_text(text)
    return 1 if leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
