"""Connections that cannot take the webhook down: waves of idle TLS connections, TCP connections
that never start TLS, a connection limit that closes idle connections first, a huge URL.

Each wave runs against a real `admit serve` with two workers while a good client, like
kube-apiserver, sends recorded AdmissionReviews on a kept-alive connection (and now and then on
a fresh one): every one of its requests must be answered, worker memory must come back after
the wave, and the server must still answer afterwards.
"""

import asyncio
import contextlib
import http.client
import json
import resource
import select
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
import uvloop

from tests.helpers import FIXTURES, SEED, wire_bytes
from tests.server.harness import Client, once, start_server

REVIEWS = [
    json.loads(path.read_text())
    for path in sorted((FIXTURES / "admission").glob("*--*-validate-CREATE-pod-*.json"))
]
GOOD = (SEED / "reviews" / "pod-ok.json").read_bytes()
WAVE = 3000  # idle connections: more than two workers' default --max-connections (1,024 each)


@pytest.fixture(scope="module", autouse=True)
def open_files():
    """Room for a wave of client sockets in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WAVE + 1000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs `ulimit -n` of at least {wanted} (the hard limit is {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class GoodClient(threading.Thread):
    """kube-apiserver's part: recorded reviews on one kept-alive connection, every tenth on a
    fresh connection; records every answer that is not the expected 200."""

    def __init__(self, server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.answered = 0
        self.fresh = 0
        self.failures: list[str] = []
        self._done = threading.Event()

    def run(self) -> None:
        client = Client(self.server.port, self.server.tls)
        n = 0
        while not self._done.is_set():
            record = REVIEWS[n % len(REVIEWS)]
            fresh = n % 10 == 9
            n += 1
            try:
                if fresh:
                    with Client(self.server.port, self.server.tls) as one:
                        answer = one.post(record["http"]["path"], wire_bytes(record))
                    self.fresh += 1
                else:
                    answer = client.post(record["http"]["path"], wire_bytes(record))
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"{'fresh' if fresh else 'kept-alive'}: {exc!r}")
                client.close()
                client = Client(self.server.port, self.server.tls)
                continue
            uid = record["body"]["request"]["uid"]
            if answer.status != 200 or answer.json()["response"]["uid"] != uid:
                self.failures.append(f"{answer.status} {answer.body[:200]!r}")
            self.answered += 1
            time.sleep(0.005)
        client.close()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=20)


async def _open_idle_tls(port: int, context: ssl.SSLContext, count: int) -> list:
    """`count` TLS connections that complete their handshake and then say nothing."""
    gate = asyncio.Semaphore(200)

    async def one():
        async with gate:
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, ssl=context), 20
                )
                return writer
        return None

    writers = await asyncio.gather(*(one() for _ in range(count)))
    return [w for w in writers if w is not None]


def _idle_tls_wave(server, count: int, hold: float, good: GoodClient) -> int:
    """Open the wave, hold it `hold` seconds while the good client works, close it."""
    loop = uvloop.new_event_loop()
    try:
        writers = loop.run_until_complete(
            _open_idle_tls(server.port, server.tls.client_context(), count)
        )
        answered = good.answered
        time.sleep(hold)
        assert good.answered > answered, "the good client got no answer while the wave was held"
        for writer in writers:
            writer.transport.abort()
        loop.run_until_complete(asyncio.sleep(0.2))
        return len(writers)
    finally:
        loop.close()


def _settled_rss(pids: list[int], ceiling: list[float], timeout: float = 8) -> list[float]:
    """Each worker's RSS once it is under its ceiling, or as it is when time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        rss = [_rss_mib(pid) for pid in pids]
        if all(r <= c for r, c in zip(rss, ceiling, strict=True)) or time.monotonic() > deadline:
            return rss
        time.sleep(0.2)


def test_idle_tls_connections_never_cause_503_and_their_memory_returns(tmp_path, tls):
    server = start_server(SEED, tmp_path, workers=2, tls=tls)
    good = GoodClient(server)
    try:
        workers = server.worker_pids()
        good.start()
        time.sleep(1)
        start = [_rss_mib(pid) for pid in workers]
        opened = _idle_tls_wave(server, WAVE, hold=1.0, good=good)
        assert good.failures == []
        assert opened == WAVE  # none refused: silent ones were closed to make room
        # The first wave leaves Python's small-object arenas a few MB larger (pinned by a few
        # long-lived objects, reused by later waves): at most 20%, then 10% per wave.
        after_first = _settled_rss(workers, [s * 1.2 for s in start])
        assert all(a <= s * 1.2 for a, s in zip(after_first, start, strict=True)), (start, after_first)
        opened = _idle_tls_wave(server, WAVE, hold=1.0, good=good)
        assert good.failures == []
        assert opened == WAVE
        after = _settled_rss(workers, [a * 1.1 for a in after_first])
        assert all(a <= b * 1.1 for a, b in zip(after, after_first, strict=True)), (after_first, after)
        assert good.fresh > 3
        assert once(server.port, server.tls, "POST", "/validate", GOOD).status == 200
        assert "at the connection limit (--max-connections 1024)" in server.stderr()
    finally:
        good.stop()
        server.stop()
    assert good.failures == []


def test_connections_that_never_start_tls_are_closed_at_the_handshake_timeout(tmp_path, tls):
    # Before: uvloop's own 60 s handshake timeout held each one with its TLS state (~50 KB).
    server = start_server(SEED, tmp_path, workers=2, tls=tls)
    good = GoodClient(server)
    sockets: list[socket.socket] = []
    try:
        workers = server.worker_pids()
        good.start()
        time.sleep(1)
        before = [_rss_mib(pid) for pid in workers]
        started = time.monotonic()
        for _ in range(WAVE):
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        open_ = {s.fileno(): s for s in sockets}
        poller = select.poll()
        for fd in open_:
            poller.register(fd, select.POLLIN)
        while open_ and time.monotonic() - started < 5 + 3:  # the default --handshake-timeout
            for fd, _ in poller.poll(200):
                poller.unregister(fd)
                with contextlib.suppress(OSError):  # closed: an EOF, or a reset
                    open_[fd].recv(1)
                del open_[fd]
        assert not open_, f"{len(open_)} of {WAVE} connections still open after 8 s"
        for s in sockets:
            s.close()
        after = _settled_rss(workers, [b * 1.1 for b in before])
        assert all(a <= b * 1.1 for a, b in zip(after, before, strict=True)), (before, after)
        assert good.answered > 0
        assert once(server.port, server.tls, "POST", "/validate", GOOD).status == 200
    finally:
        for s in sockets:
            s.close()
        good.stop()
        server.stop()
    assert good.failures == []


def _tls_socket(server):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return server.tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1")


def _request_begun(server):
    """A connection busy with a request: the server has read its headers (it asks for the body
    with a 100 Continue) and waits for the body."""
    sock = _tls_socket(server)
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(GOOD))  # fmt: skip
    assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    return sock


def _answer(sock) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def test_at_the_limit_idle_connections_make_room_and_busy_ones_are_never_cut(tmp_path, tls):
    # One worker, so that its limit is the server's: three connections.
    server = start_server(SEED, tmp_path, "--max-connections", "3", "--client-timeout", "5",
                          workers=1, tls=tls)  # fmt: skip
    with server, contextlib.ExitStack() as sockets:
        busy = [sockets.enter_context(_request_begun(server)) for _ in range(3)]
        with pytest.raises((ssl.SSLError, ConnectionResetError)):  # a fourth: refused before TLS
            sockets.enter_context(_tls_socket(server)).recv(1)
        busy[0].sendall(GOOD)  # a request being made still completes, and its connection idles
        assert _answer(busy[0]).startswith(b"HTTP/1.1 200")
        with Client(server.port, server.tls) as fresh:  # takes the idle one's place
            assert fresh.post("/validate", GOOD).status == 200
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            assert busy[0].recv(1) == b""  # the idle connection was closed for it
        for sock in busy[1:]:
            sock.sendall(GOOD)
            assert _answer(sock).startswith(b"HTTP/1.1 200")
        assert "refused 1 new one(s)" in server.stderr()


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(tmp_path, tls):
    server = start_server(SEED, tmp_path, "--keepalive-timeout", "1", workers=2, tls=tls)
    try:
        sock = _tls_socket(server)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(sock).startswith(b"HTTP/1.1 200")
        idle_since = time.monotonic()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            assert sock.recv(1) == b""
        assert 0.8 < time.monotonic() - idle_since < 5
        sock.close()
    finally:
        server.stop()


def test_plain_http_on_the_tls_port_is_closed_at_once(seed_server):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", seed_server.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(4096):  # whatever TLS alert comes first, then the close
                pass
    assert time.monotonic() - started < 1
    assert seed_server.client().post("/validate", GOOD).status == 200


def _early_answer(sock) -> bytes:
    """What the server has answered so far, without waiting (TLS 1.3 session tickets make the
    socket readable with nothing for the application)."""
    if not select.select([sock], [], [], 0.005)[0]:
        return b""
    sock.settimeout(0)
    try:
        return sock.recv(65536) or b"(closed)"
    except ssl.SSLWantReadError:
        return b""
    finally:
        sock.settimeout(5)


def test_a_huge_url_is_refused_before_the_rest_is_sent(seed_server):
    # Before: httptools handed uvicorn every piece of the URL and it kept them all.
    url_size = 64 * 1024 * 1024
    sock = _tls_socket(seed_server)
    sock.sendall(b"GET /")
    sent, chunk, answer = 0, b"a" * 65536, b""
    started = time.monotonic()
    with contextlib.suppress(OSError):  # the server may stop reading once it answered
        while sent < url_size and not (answer := _early_answer(sock)):
            sock.sendall(chunk)
            sent += len(chunk)
    answer += _answer(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 414"), f"no 414 after {sent} bytes of URL: {answer[:200]!r}"
    assert b"url_too_long" in answer
    # Answered long before the URL's end (what was sent by then sits mostly in socket buffers).
    assert sent < url_size / 4, sent
    assert time.monotonic() - started < 5
    assert seed_server.client().post("/validate", GOOD).status == 200
