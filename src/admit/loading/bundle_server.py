"""Bundles from a bundle server, as OPA's bundle plugin downloads them: the source that polls a
URL for a `.tar.gz` bundle and publishes each new one (`admit serve --bundle-url`).

Every `min_delay`..`max_delay` seconds (at random, so replicas spread out) it GETs the URL with
`If-None-Match: <the last ETag>` and an optional bearer token; 304 means unchanged. A new
tarball is unpacked in memory within limits (`admit.loading.tarball`), its signature verified
when a key is given (`admit.loading.signing`), and offered to the `Publisher`: loaded in the
sandbox and published only if it loads, so a bad download or a broken bundle keeps the last
good one serving. Its `.manifest` revision travels with the version (/readyz, the console, the
decision log). It runs in the server's policy source process, never in a worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from admit.loading.publisher import Publisher, ReloadEvent
from admit.loading.signing import SIGNATURES, Verifier
from admit.loading.tarball import BundleArchiveError, Limits, read_manifest, unpack
from admit.loading.versions import Part

log = logging.getLogger("admit.bundle_server")
MiB = 1024 * 1024


def default_name(url: str) -> str:
    """A bundle's name from its URL (`https://host/bundles/authz.tar.gz` -> `authz`)."""
    name = PurePosixPath(urlsplit(url).path).name
    for suffix in (".tar.gz", ".tgz", ".gz"):
        name = name.removesuffix(suffix)
    return name or "bundle"


@dataclass(frozen=True, slots=True)
class BundleServerSettings:
    """Where the bundle is and how to fetch it (OPA's `bundles.<name>` and `services`)."""

    url: str
    name: str = ""  # default: from the URL
    token_file: Path | None = None  # a bearer token, re-read at each download (rotation)
    ca_file: Path | None = None  # the CA that signed the server's certificate (HTTPS)
    min_delay: float = 60.0  # OPA's polling.min_delay_seconds
    max_delay: float = 120.0  # OPA's polling.max_delay_seconds
    timeout: float = 30.0
    max_download: int = 32 * MiB  # the compressed tarball
    limits: Limits = field(default_factory=Limits)
    verifier: Verifier | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"bundle URL {self.url!r} is not an http:// or https:// URL")
        if not 0 < self.min_delay <= self.max_delay:
            raise ValueError("bundle polling delays need 0 < min <= max")

    @property
    def bundle_name(self) -> str:
        return self.name or default_name(self.url)


class DownloadError(Exception):
    """The bundle server could not be asked, or did not answer with a bundle."""


class BundleServerSource:
    """Polls one bundle URL and publishes every new bundle that loads."""

    def __init__(self, settings: BundleServerSettings, publisher: Publisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self.etag = ""
        self._seen = ""  # the digest of the last tarball handled
        self._verdict: str | None = None  # why it could not be used (None: it could)
        self.status: dict[str, Any] = {"url": settings.url, "name": settings.bundle_name}
        self._context = _context(settings.ca_file) if settings.url.startswith("https") else None

    def check(self) -> ReloadEvent | None:
        """One poll (blocking): the load's event when a new bundle came, else None."""
        self.status["last_request"] = time.time()
        try:
            body, etag = self._download()
        except DownloadError as exc:
            self._note(error=str(exc))
            return None
        if body is None:  # 304: what is served is current
            self._note(error=None)
            return None
        self.status["last_download"] = time.time()
        self.status["etag"] = etag
        self.etag = etag
        digest = hashlib.sha256(body).hexdigest()
        if digest == self._seen:  # the same bytes again (a server that sends no ETag)
            self._note(error=self._verdict)
            return None
        self._seen, self._verdict = digest, None
        try:
            files = unpack(body, self.settings.limits)
            if self.settings.verifier is not None:
                self.settings.verifier.verify(files)
            manifest = read_manifest(files)
        except BundleArchiveError as exc:  # the same bytes will not do better: wait for a change
            self._verdict = f"the bundle downloaded from {self.settings.url}: {exc}"
            self._note(error=self._verdict)
            return self.publisher.reject(digest, [f"{self.settings.url}: {exc}"])
        self.status["revision"] = manifest.get("revision", "")
        offered = [(name, data) for name, data in files if name != SIGNATURES]
        event = self.publisher.offer([(Part(), offered)])
        self._note(error=None)
        return event

    def _download(self) -> tuple[bytes | None, str]:
        """(the tarball, or None when unchanged (304); its ETag)."""
        headers = {"Accept": "application/gzip, application/octet-stream, */*"}
        if self.etag:
            headers["If-None-Match"] = self.etag
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.settings.url, headers=headers)
        try:
            with urllib.request.urlopen(
                request, timeout=self.settings.timeout, context=self._context
            ) as response:
                body = response.read(self.settings.max_download + 1)
                etag = response.headers.get("ETag") or ""
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return None, self.etag
            raise DownloadError(f"{self.settings.url} answered HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DownloadError(f"cannot download {self.settings.url}: {reason}") from None
        if len(body) > self.settings.max_download:
            raise DownloadError(
                f"{self.settings.url} sent more than {self.settings.max_download} bytes"
            )
        return body, etag

    def _token(self) -> str:
        if self.settings.token_file is None:
            return ""
        try:
            return self.settings.token_file.read_text().strip()
        except OSError as exc:
            raise DownloadError(
                f"cannot read the bundle token {self.settings.token_file}: {exc}"
            ) from None

    def _note(self, *, error: str | None) -> None:
        """Record the poll's outcome in the source's status (for /readyz), logging changes."""
        before = self.status.get("last_error")
        if error is not None and error != before:
            log.error("%s; the last good bundle keeps serving", error)
        elif error is None and before is not None:
            log.info("bundle server %s reachable again", self.settings.url)
        self.status["last_error"] = error
        if error is None:
            self.status["last_success"] = time.time()
        self.publisher.extra["bundle_server"] = dict(self.status)
        self.publisher.report()

    async def watch(self) -> None:
        """Poll until cancelled: at once, then every min..max delay."""
        while True:
            try:
                await asyncio.to_thread(self.check)
            except Exception:
                log.exception("polling the bundle server %s failed", self.settings.url)
            await asyncio.sleep(random.uniform(self.settings.min_delay, self.settings.max_delay))


def _context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
