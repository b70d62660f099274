"""Shipping decision-log events to an HTTP service as OPA's decision log plugin does: batches
POSTed as a gzip-compressed JSON array (`Content-Encoding: gzip`), each body at most
`upload_bytes` compressed, every `min_delay`..`max_delay` seconds (at random) or as soon as a
full batch is waiting.

One uploader per worker, on its event loop: `add` (the request path) is an append; compressing
and POSTing run in a thread, so a slow or absent service never holds a request. The buffer is
bounded (`buffer_bytes`): past it the oldest events are dropped and counted, as OPA drops them.
A batch the service refuses (no answer, or not 2xx) is kept and retried with exponential
backoff; on shutdown what is left gets one last attempt, then is counted as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import random
import ssl
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("admit.decision_upload")
MiB = 1024 * 1024
MAX_BACKOFF = 60.0  # seconds between attempts while the service keeps failing


@dataclass(frozen=True, slots=True)
class UploadSettings:
    """Where and how decision-log events are shipped (OPA's `decision_logs.reporting`)."""

    url: str
    token_file: Path | None = None  # a bearer token, re-read at each upload (rotation)
    ca_file: Path | None = None  # the CA that signed the service's certificate (HTTPS)
    min_delay: float = 5.0
    max_delay: float = 10.0
    buffer_bytes: int = 32 * MiB  # per worker; past it the oldest events are dropped
    upload_bytes: int = 32 * 1024  # compressed body per POST (OPA's upload_size_limit_bytes)
    timeout: float = 10.0

    def __post_init__(self) -> None:
        problems = []
        if not self.url.startswith(("http://", "https://")):
            problems.append(f"decision-log URL {self.url!r} is not an http:// or https:// URL")
        if not 0 < self.min_delay <= self.max_delay:
            problems.append("decision-log upload delays need 0 < min <= max")
        if self.upload_bytes < 1024 or self.buffer_bytes < self.upload_bytes:
            problems.append("decision-log upload size must be >= 1024 and <= the buffer size")
        if problems:
            raise ValueError("; ".join(problems))


class DecisionUploader:
    """Buffers events (each a JSON object on one line) and ships them in batches."""

    def __init__(self, settings: UploadSettings, *, user_agent: str = "admit") -> None:
        self.settings = settings
        self.user_agent = user_agent
        self._queue: deque[bytes] = deque()
        self._inflight: list[bytes] = []  # the batch being POSTed
        self._size = 0  # bytes queued and in flight
        self._ratio = 0.2  # compressed / plain size, learnt from each batch
        self._ready = asyncio.Event()
        self.uploaded = 0
        self.dropped = 0  # the buffer overflowed, or the last attempt at shutdown failed
        self.failures = 0  # uploads that failed (each retried)
        self.failing = False
        self._context = _context(settings.ca_file) if settings.url.startswith("https") else None

    # --- the request path ----------------------------------------------------------------------
    def add(self, line: bytes) -> None:
        """Queue one event (one JSON object, its newline optional)."""
        event = line.rstrip(b"\n")
        self._queue.append(event)
        self._size += len(event)
        while self._size > self.settings.buffer_bytes and self._queue:
            self._size -= len(self._queue.popleft())
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "decision-log buffer full (%d bytes): oldest events dropped (%d so far); "
                    "is %s down?",
                    self.settings.buffer_bytes,
                    self.dropped,
                    self.settings.url,
                )
        if self._size >= self._batch_target():
            self._ready.set()

    def states(self) -> dict[str, str]:
        """OPA's plugin state for /health?plugins: ERROR while uploads fail."""
        return {"decision_logs": "ERROR" if self.failing else "OK"}

    def counts(self) -> dict[str, int]:
        return {"uploaded": self.uploaded, "dropped": self.dropped, "failures": self.failures}

    # --- uploading -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Upload until cancelled."""
        backoff = 0.0
        while True:
            self._ready.clear()
            if backoff:
                await asyncio.sleep(backoff)
            elif self._size < self._batch_target():
                delay = random.uniform(self.settings.min_delay, self.settings.max_delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), delay)
            delivered = await self.upload_all()
            backoff = 0.0 if delivered else min(MAX_BACKOFF, max(0.5, backoff * 2))

    async def upload_all(self) -> bool:
        """Ship everything queued now, batch by batch; False at the first batch that failed
        (it is back at the head of the queue)."""
        while self._queue:
            batch = self._inflight = self._take()
            body = await asyncio.to_thread(self._compress, batch)
            while len(body) > self.settings.upload_bytes and len(batch) > 1:
                keep = len(batch) // 2  # too large once compressed: send half, requeue the rest
                self._queue.extendleft(reversed(batch[keep:]))
                del batch[keep:]
                body = await asyncio.to_thread(self._compress, batch)
            delivered = await asyncio.to_thread(self._post, body)
            self._inflight = []
            if not delivered:
                self._queue.extendleft(reversed(batch))
                return False
            self._size -= sum(len(e) for e in batch)
            self.uploaded += len(batch)
        return True

    async def drain(self, seconds: float) -> None:
        """At shutdown: one last try at shipping what is queued, then count the rest dropped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.upload_all(), seconds)
        left = len(self._queue) + len(self._inflight)  # a POST cut short may have arrived
        if left:
            self.dropped += left
            log.error("decision log: %d events could not be shipped before exit", left)
            self._queue.clear()
            self._inflight = []
            self._size = 0

    def _batch_target(self) -> int:
        """Plain bytes expected to compress to about the upload limit."""
        return int(self.settings.upload_bytes / max(self._ratio, 0.01) * 0.9)

    def _take(self) -> list[bytes]:
        """Events from the head of the queue, about one batch of them (at least one)."""
        target, size = self._batch_target(), 0
        taken: list[bytes] = []
        while self._queue and (not taken or size + len(self._queue[0]) <= target):
            event = self._queue.popleft()
            taken.append(event)
            size += len(event) + 1
        return taken

    def _compress(self, batch: list[bytes]) -> bytes:
        """The gzip body of a batch: a JSON array of its events."""
        plain = b"[" + b",".join(batch) + b"]"
        body = gzip.compress(plain, compresslevel=6, mtime=0)
        self._ratio = max(0.01, len(body) / max(1, len(plain)))
        return body

    def _post(self, body: bytes) -> bool:
        """One POST; whether the service took it (2xx)."""
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": self.user_agent,
        }
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.settings.url, body, headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(
                request, timeout=self.settings.timeout, context=self._context
            ) as response:
                response.read()
                ok = 200 <= response.status < 300
                why = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            ok, why = False, f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            ok, why = False, str(getattr(exc, "reason", None) or exc)
        if ok:
            if self.failing:
                log.info("decision-log uploads to %s work again", self.settings.url)
            self.failing = False
            return True
        self.failures += 1
        if not self.failing:
            log.warning(
                "decision-log upload to %s failed after %.1fs (%s); events are kept and "
                "retried with backoff",
                self.settings.url,
                time.monotonic() - started,
                why,
            )
        self.failing = True
        return False

    def _token(self) -> str:
        if self.settings.token_file is None:
            return ""
        try:
            return self.settings.token_file.read_text().strip()
        except OSError as exc:
            log.warning("cannot read the decision-log token %s: %s", self.settings.token_file, exc)
            return ""


def _context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
